import FedSimConfig
import FedSimTestSupport
import Testing

/// `meta.inner_learning_rates: learned` (Meta-SGD) and the content groups of adaptation: read
/// where they apply, refused with their key path and line where they do not.
@Suite struct MetaRatesConfigTests {
    func errors(_ yaml: String) -> [String] {
        TestSupport.scenarioErrors(yaml).map { "\($0.line.map(String.init) ?? "-"): \($0.keyPath)" }
    }

    static let base = """
        model: {kind: two_tower}
        personalization:
          strategy: global
          adaptation: {steps: 8, groups: [personal, categories]}
        evaluation: {cold_start: {protocol: new_users}}
        """

    @Test func learnedRatesLoad() throws {
        let s = try Scenario.load(
            yaml: Self.base + """

                meta:
                  algorithm: fomaml
                  inner_steps: 8
                  inner_groups: [categories, personal]
                  inner_learning_rates: learned
                  rate_learning_rate: 2.5
                  max_inner_learning_rate: 4
                """
        )
        #expect(s.meta.learnedRates && s.meta.rateLearningRate == 2.5 && s.meta.maxInnerLearningRate == 4)
        #expect(s.meta.rateStep == 2.5)
        #expect(s.meta.innerGroups == [.categories, .personal])
        // Defaults: fixed rates, the rate step is the outer step.
        let d = try Scenario.load(
            yaml: """
                model: {kind: two_tower}
                personalization: {strategy: global}
                meta: {algorithm: fomaml, outer_learning_rate: 0.3}
                """
        )
        #expect(!d.meta.learnedRates && d.meta.rateStep == 0.3 && d.meta.maxInnerLearningRate == 10)
    }

    @Test func rateKeysWithFixedRatesAreRefusedOnTheirLine() {
        let e = errors(
            """
            model: {kind: two_tower}
            personalization: {strategy: global}
            meta:
              algorithm: fomaml
              rate_learning_rate: 2
              max_inner_learning_rate: 3
            """
        )
        #expect(e == ["5: meta.rate_learning_rate", "6: meta.max_inner_learning_rate"])
    }

    @Test func learnedRatesOutsideTheirScopeAreRefused() {
        // Not FO-MAML.
        #expect(
            errors(
                Self.base + """

                    meta: {algorithm: reptile, inner_steps: 8, inner_groups: [personal, categories], inner_learning_rates: learned}
                    """
            ) == ["6: meta.inner_learning_rates"]
        )
        // Not a model that has them.
        let mf = TestSupport.scenarioErrors(
            """
            model: {kind: mf}
            meta: {algorithm: fomaml, inner_learning_rates: learned}
            """
        )
        #expect(mf.contains { $0.keyPath == "meta.inner_learning_rates" && $0.message.contains("two_tower") })
        // Adaptation at evaluation must run the loop the rates were learned for.
        #expect(
            errors(
                Self.base + """

                    meta: {algorithm: fomaml, inner_steps: 5, inner_groups: [personal], inner_learning_rates: learned}
                    """
            ) == ["4: personalization.adaptation.groups", "4: personalization.adaptation.steps"]
        )
        // Temporal tasks adapt online.
        #expect(
            errors(
                """
                model: {kind: two_tower}
                personalization: {strategy: global}
                meta: {algorithm: fomaml, task: temporal, inner_learning_rates: learned}
                evaluation: {cold_start: {protocol: temporal}}
                """
            ).contains("3: meta.inner_learning_rates")
        )
    }

    @Test func contentGroupsAreTwoTowerOnes() {
        #expect(ModelTraits.of(.twoTower).adaptableGroups.contains(.categories))
        let e = errors(
            """
            model: {kind: lsttm}
            meta: {algorithm: fomaml, task: temporal, inner_groups: [short_term, user_features]}
            personalization: {strategy: global, adaptation: {groups: [short_term]}}
            evaluation: {cold_start: {protocol: temporal}}
            """
        )
        #expect(e == ["2: meta.inner_groups"])
        #expect(
            errors("personalization: {adaptation: {groups: [genres]}}") == ["1: personalization.adaptation.groups[0]"]
        )
    }
}
