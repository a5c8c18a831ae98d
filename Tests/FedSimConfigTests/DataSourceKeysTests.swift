import FedSimConfig
import FedSimTestSupport
import Testing

/// Issue 23: `data.interactions` and `data.recbole` are read like every other section: each
/// problem with its key path and line, unknown keys with a did-you-mean, and the resolved
/// scenario reads back unchanged.
@Suite struct DataSourceKeysTests {
    /// Every error as "line: key path: message".
    func errors(_ yaml: String) -> [String] {
        TestSupport.scenarioErrors(yaml).map { "\($0.line.map(String.init) ?? "-"): \($0.keyPath): \($0.message)" }
    }

    let valid = """
        data:
          source: interactions
          interactions:
            files: [logs/a.csv, logs/b.csv]
            delimiter: comma
            columns: {user: uid, item: sku, rating: stars, timestamp: ts, domain: shop}
            rating_scale: [1, 10]
            user_features: {file: logs/users.csv, categorical: [job], numeric: [age], buckets: 5}
            item_features: {file: logs/items.csv, id: product, categorical: [genre]}
        """

    @Test func theInteractionsSectionIsReadAndRoundTrips() throws {
        let s = try Scenario.load(yaml: valid)
        let i = try #require(s.data.interactions)
        #expect(i.files == ["logs/a.csv", "logs/b.csv"])
        #expect(i.columns.user == "uid" && i.columns.rating == "stars" && i.columns.domain == "shop")
        #expect(i.ratingScale == [1, 10])
        #expect(i.userFeatures?.columns == ["job", "age"] && i.userFeatures?.buckets == 5)
        #expect(i.itemFeatures?.id == "product")
        #expect(s.data.recbole == nil)
        #expect(try Scenario.load(yaml: s.resolvedJSON()) == s)
        let r = try Scenario.load(yaml: "data: {source: recbole, path: d/shop, recbole: {item_category: class}}")
        #expect(r.data.recbole?.itemCategory == "class" && r.data.recbole?.columns.rating == "rating")
        #expect(try Scenario.load(yaml: r.resolvedJSON()) == r)
    }

    @Test func otherScenariosResolveAsBefore() throws {
        let s = try Scenario.load(yaml: "data: {source: movielens}")
        #expect(s.data.interactions == nil && s.data.recbole == nil)
        #expect(!s.resolvedJSON().contains("interactions") && !s.resolvedJSON().contains("recbole"))
    }

    @Test func badKeysNameTheirPathAndLine() {
        let yaml = """
            data:
              source: interactions
              interactions:
                files: [a.csv]
                colums: {user: u}
                rating_scale: [10, 1]
                delimiter: colon
                user_features: {file: u.csv}
                item_features: {file: i.csv, categorical: [a, b]}
            evaluation: {implicit: true}
            """
        let e = errors(yaml)
        #expect(e.contains("5: data.interactions.colums: unknown key; did you mean \"columns\"?"), "\(e)")
        #expect(e.contains { $0.hasPrefix("6: data.interactions.rating_scale: expected [min, max]") }, "\(e)")
        #expect(e.contains { $0.hasPrefix("7: data.interactions.delimiter: unknown value \"colon\"") }, "\(e)")
        #expect(
            e.contains { $0.hasPrefix("8: data.interactions.user_features.categorical: list the feature columns") },
            "\(e)"
        )
        #expect(e.contains { $0.hasPrefix("9: data.interactions.item_features: lists 2 columns") }, "\(e)")
        #expect(
            errors("data: {source: interactions, interactions: {files: []}, split: {}}").contains {
                $0.contains("data.interactions.files: list the log's files")
            }
        )
        #expect(
            errors("data: {source: interactions, interactions: {files: [a], columns: {user: x, item: x}}}").contains {
                $0.contains("data.interactions.columns.item: column \"x\" is already the user column")
            }
        )
        #expect(
            errors("data: {source: recbole, recbole: {datset: x}}").contains { $0.contains("did you mean \"dataset\"") }
        )
    }

    @Test func crossChecksTieTheSourceToItsSection() {
        // No rating column: implicit feedback has to be said, so ranking counts every positive.
        #expect(
            errors("data: {source: interactions, interactions: {files: [a.csv]}}").contains {
                $0.contains("data.interactions.columns: no rating column") && $0.contains("evaluation.implicit: true")
            }
        )
        #expect(
            errors("data: {source: interactions, interactions: {files: [a.csv]}}\nevaluation: {implicit: true}") == []
        )
        let stratified = "training: {sampling: {rule: stratified, by: domain}}\nevaluation: {implicit: true}\n"
        #expect(
            errors("data: {source: interactions, interactions: {files: [a.csv]}}\n" + stratified).contains {
                $0.contains("training.sampling.by: the log has one domain")
            }
        )
        #expect(
            errors(
                "data: {source: interactions, interactions: {files: [a.csv], columns: {domain: shop}}}\n" + stratified
            )
                == []
        )
        #expect(
            errors("data: {source: synthetic, recbole: {dataset: x}}").contains {
                $0.contains("data.recbole: is read only with data.source: recbole")
            }
        )
    }
}
