import FedSimConfig
import FedSimTestSupport
import Testing

/// `training.aggregation` as a sum type: a rule carries its own settings, a setting of another
/// rule is refused by name, and the written form loads back as the same scenario.
@Suite struct AggregationRuleTests {
    static let plain = "name: x\nsecure_aggregation: {protocol: none}\n"

    func load(_ training: String) throws -> AggregationRule {
        try Scenario.load(yaml: Self.plain + "training:\n" + training).training.aggregation
    }

    @Test func aRuleNameTakesItsSettingsDefaults() throws {
        #expect(try load("  aggregation: median\n") == .median)
        #expect(try load("  aggregation: trimmed_mean\n") == .trimmedMean(fraction: 0.1))
        #expect(try load("  aggregation: norm_bounded\n") == .normBounded(bound: 1))
        #expect(try Scenario.load(yaml: Self.plain).training.aggregation == .mean)
    }

    @Test func aMappingCarriesTheRulesOwnSettings() throws {
        #expect(try load("  aggregation: {rule: trimmed_mean, fraction: 0.25}\n") == .trimmedMean(fraction: 0.25))
        #expect(try load("  aggregation:\n    rule: norm_bounded\n    bound: 0.5\n") == .normBounded(bound: 0.5))
    }

    /// What used to be a cross-field rule cannot be written: the setting names its rule, with
    /// key path and line.
    @Test func aSettingOfAnotherRuleIsRefusedByName() {
        let e = TestSupport.scenarioErrors(Self.plain + "training:\n  aggregation: {rule: median, fraction: 0.2}\n")
        #expect(e.map(\.keyPath) == ["training.aggregation.fraction"])
        #expect(e.first?.message == "is a setting of rule trimmed_mean; this rule is median")
        #expect(e.first?.line == 4)
    }

    @Test func badRulesAndSettingsAreNamed() {
        let errors = { (training: String) in TestSupport.scenarioErrors(Self.plain + "training:\n" + training) }
        #expect(errors("  aggregation: {fraction: 0.2}\n").map(\.keyPath).contains("training.aggregation.rule"))
        #expect(
            errors("  aggregation: {rule: trimmed_mean, fraction: 0.5}\n").map(\.keyPath) == [
                "training.aggregation.fraction"
            ]
        )
        #expect(
            errors("  aggregation: {rule: norm_bounded, bound: 0}\n").map(\.keyPath) == ["training.aggregation.bound"]
        )
        #expect(errors("  aggregation: {rule: medain}\n").first?.message.contains("unknown value \"medain\"") == true)
        #expect(
            errors("  aggregation: {rule: median, frction: 1}\n").map(\.keyPath) == ["training.aggregation.frction"]
        )
    }

    /// The flat keys of before say where the setting went.
    @Test func theFlatKeysOfBeforeSayWhereTheSettingMoved() {
        let e = TestSupport.scenarioErrors(
            Self.plain + "training:\n  aggregation: trimmed_mean\n  trim_fraction: 0.2\n"
        )
        #expect(e.map(\.keyPath) == ["training.trim_fraction"])
        #expect(e.first?.message.contains("training.aggregation: {rule: trimmed_mean, fraction: …}") == true)
    }

    /// A run directory's scenario.json (`resolvedJSON`) loads back as the same scenario, each rule.
    @Test(arguments: [AggregationRule.mean, .median, .trimmedMean(fraction: 0.3), .normBounded(bound: 2.5)])
    func theWrittenScenarioLoadsBack(rule: AggregationRule) throws {
        var s = try Scenario.load(yaml: Self.plain)
        s.training.aggregation = rule
        let again = try Scenario.load(yaml: s.resolvedJSON())
        #expect(again.training.aggregation == rule)
        #expect(again == s)
    }
}

/// `training.sampling` as a sum type: stratification's settings live inside it.
@Suite struct SamplingRuleTests {
    func load(_ sampling: String) throws -> SamplingRule {
        try Scenario.load(yaml: "name: x\ntraining:\n  sampling: \(sampling)\n").training.sampling
    }

    @Test func aSamplerIsANameOrAMappingWithItsSettings() throws {
        #expect(try load("poisson") == .poisson)
        #expect(try load("stratified") == .stratified(by: .domain, activityStrata: 4))
        #expect(
            try load("{rule: stratified, by: activity, strata: 5}") == .stratified(by: .activity, activityStrata: 5)
        )
        #expect(try load("{rule: size_weighted}") == .sizeWeighted)
    }

    @Test func settingsThatDoNotBelongAreRefusedByName() {
        let e = { (sampling: String) in TestSupport.scenarioErrors("name: x\ntraining:\n  sampling: \(sampling)\n") }
        #expect(e("{rule: uniform, by: activity}").map(\.keyPath) == ["training.sampling.by"])
        let strata = e("{rule: stratified, by: domain, strata: 3}")
        #expect(strata.map(\.keyPath) == ["training.sampling.strata"] && strata.first?.line == 3)
        #expect(strata.first?.message.contains("by: activity") == true)
        #expect(e("{rule: stratified, by: activity, strata: 0}").map(\.keyPath) == ["training.sampling.strata"])
        let old = TestSupport.scenarioErrors("name: x\ntraining:\n  sampling: stratified\n  stratify_by: activity\n")
        #expect(old.map(\.keyPath) == ["training.stratify_by"] && old.first?.message.contains("moved") == true)
    }

    @Test(arguments: [
        SamplingRule.uniform, .poisson, .sizeWeighted, .stratified(by: .domain, activityStrata: 4),
        .stratified(by: .activity, activityStrata: 7),
    ])
    func theWrittenScenarioLoadsBack(rule: SamplingRule) throws {
        var s = try Scenario.load(yaml: "name: x\n")
        s.training.sampling = rule
        #expect(try Scenario.load(yaml: s.resolvedJSON()).training.sampling == rule)
    }
}
