import FedSimConfig
import FedSimData
import FedSimModels
import FedSimTestSupport
import Foundation
import Testing

/// Issue 23: `fedsim run` trains on one generated log in each layout it reads, and the model
/// beats the run's own baselines on it.
@Suite(.serialized) struct InteractionLogRunTests {
    let fixture = InteractionLogFixture(users: 150)

    /// Runs `yaml` (a scenario with the shared runtime keys appended); returns the last
    /// evaluation of metrics.jsonl.
    func run(_ yaml: String, in dir: String) throws -> [String: Any] {
        let file = dir + "/scenario.yaml"
        TestSupport.write(
            yaml + """
                training:
                  mode: federated
                  rounds: \(yaml.contains("deepfm") ? 10 : 60)
                  devices_per_round: 50
                  local: {optimizer: sgd, epochs: 5, batch_size: 8, learning_rate: 0.1, l2: 0.001\(yaml.contains("kind: mf") && yaml.contains("implicit: true") ? ", loss: bpr" : "")}
                runtime: {processes: 2, round_deadline_seconds: 60, connect_timeout_seconds: 60}
                secure_aggregation: {protocol: none}

                """,
            to: file
        )
        let r = try MultiProcessTests.fedsim(["run", file, "--out", dir + "/runs", "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        let evals = TestSupport.metricsLines(r.runDirectory + "/metrics.jsonl").compactMap {
            $0["eval"] as? [String: Any]
        }
        return try #require(evals.last)
    }

    @Test func csvWithStringIdsAndNoRatingTrainsAnImplicitModel() throws {
        let dir = TestSupport.temporaryDirectory()
        let log = fixture.writeCSVImplicit(to: dir)
        let e = try run(
            """
            name: csv-implicit
            data:
              source: interactions
              interactions:
                files: [\(log)]
                columns: {user: user, item: item, timestamp: time}
              split: {method: leave_one_out}
            model: {kind: mf, dim: 8, init_std: 0.05}
            evaluation: {every: 30, local_only_epochs: 0, k: 10, implicit: true, sampled_negatives: 20}

            """,
            in: dir
        )
        #expect(e["devices"] as? Int == fixture.users.count)
        let hr = try #require(e["hr@10_sampled20"] as? Double)
        let random = try #require(
            ((e["baselines"] as? [String: Any])?["random_sampled20"] as? [String: Any])?["hr@10"] as? Double
        )
        print("csv implicit MF: hr@10_sampled20 \(hr), random \(random)")
        #expect(hr > random + 0.1)
    }

    @Test func tsvWithRatingsOnOneToTenBeatsTheGlobalMean() throws {
        let dir = TestSupport.temporaryDirectory()
        let files = fixture.writeTSVRatings(to: dir, parts: 2)
        let e = try run(
            """
            name: tsv-ten
            data:
              source: interactions
              interactions:
                files: [\(files.joined(separator: ", "))]
                columns: {user: uid, item: iid, rating: stars, timestamp: ts}
                rating_scale: [1, 10]
              split: {method: random, test_fraction: 0.2}
            model: {kind: mf, dim: 8, init_std: 0.05}
            evaluation: {every: 30, local_only_epochs: 0, k: 10, relevance_threshold: 7}

            """,
            in: dir
        )
        let rmse = try #require(e["rmse"] as? Double)
        let mean = try #require(
            ((e["baselines"] as? [String: Any])?["global_mean"] as? [String: Any])?["rmse"] as? Double
        )
        print("tsv 1-10 MF: rmse \(rmse), global mean \(mean)")
        #expect(rmse < mean * 0.9)
    }

    @Test func recBoleAtomicFilesWithFeaturesTrainDeepFM() throws {
        let dir = TestSupport.temporaryDirectory()
        let folder = fixture.writeRecBole(to: dir, name: "shop")
        let e = try run(
            """
            name: recbole-deepfm
            data:
              source: recbole
              path: \(folder)
              recbole: {item_category: class, buckets: 4}
              split: {method: leave_one_out}
            model: {kind: deepfm, dim: 8, hidden: 16, negatives: 4, init_std: 0.05}
            evaluation: {every: 30, local_only_epochs: 0, k: 10, implicit: true, sampled_negatives: 20}

            """,
            in: dir
        )
        let hr = try #require(e["hr@10_sampled20"] as? Double)
        let random = try #require(
            ((e["baselines"] as? [String: Any])?["random_sampled20"] as? [String: Any])?["hr@10"] as? Double
        )
        print("recbole DeepFM: hr@10_sampled20 \(hr), random \(random)")
        #expect(hr > random + 0.1)
    }

    /// The feature files reach the models through the same path as MovieLens' demographics
    /// and genres: DeepFM gets one field per user feature column and one row per category,
    /// and the rating scale is the log's (biases start at its centre, 5.5 on 1–10).
    @Test func featuresAndScaleReachTheModels() throws {
        let dir = TestSupport.temporaryDirectory()
        var s = Scenario()
        s.data.source = .recbole
        s.data.path = fixture.writeRecBole(to: dir, name: "shop")
        var rb = RecBoleConfig()
        rb.itemCategory = "class"
        s.data.recbole = rb
        s.model.kind = .deepfm
        let p = try PopulationFactory.make(s.data, seed: s.seed)
        let context = ModelContext(scenario: s, population: p, coldSplit: nil)
        #expect(context.userFeatureCount == 2 && context.categoryCount == InteractionLogFixture.genres.count)
        let rows = Dictionary(
            uniqueKeysWithValues: ModelRegistry.make(context).layout.tensors.map { ($0.name, $0.rows) }
        )
        #expect(rows["user_feature_embedding"] == 2 * DeepFMShape.featureBuckets)
        #expect(rows["category_embedding"] == InteractionLogFixture.genres.count)
        let tsv = fixture.writeTSVRatings(to: dir)
        s.data.source = .interactions
        var i = InteractionsConfig()
        i.files = tsv
        (i.columns.user, i.columns.item, i.columns.rating, i.columns.timestamp) = ("uid", "iid", "stars", "ts")
        i.ratingScale = [1, 10]
        s.data.interactions = i
        let info = PopulationInfo(try PopulationFactory.make(s.data, seed: s.seed))
        #expect(info.ratingMin == 1 && info.ratingMax == 10)
        #expect(ModelContext(scenario: s, info: info).ratingMidpoint == 5.5)
    }

    /// `fedsim validate` loads the log: a missing file or a bad row is exit 2 with the place.
    @Test func validateChecksTheFilesExistAndParse() throws {
        let dir = TestSupport.temporaryDirectory()
        let file = dir + "/s.yaml"
        let yaml = """
            name: v
            data:
              source: interactions
              interactions: {files: [\(dir)/log.csv], columns: {rating: r}}

            """
        TestSupport.write(yaml, to: file)
        var r = try MultiProcessTests.fedsim(["validate", file])
        #expect(
            r.status == 2 && r.stderr.contains("\(dir)/log.csv: no such file (data.interactions.files[0])"),
            "\(r.stderr)"
        )
        TestSupport.write("user_id,item_id,r\nu1,i1,5\nu1,i2\n", to: dir + "/log.csv")
        r = try MultiProcessTests.fedsim(["validate", file])
        #expect(r.status == 2 && r.stderr.contains("\(dir)/log.csv:3: expected 3 fields"), "\(r.stderr)")
        TestSupport.write("user_id,item_id,r\nu1,i1,5\nu1,i2,3\n", to: dir + "/log.csv")
        r = try MultiProcessTests.fedsim(["validate", file])
        #expect(r.status == 0 && r.stdout.contains("ok — v: federated mf"), "\(r.stderr)")
    }
}
