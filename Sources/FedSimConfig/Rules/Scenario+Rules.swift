/// Cross-section validation, one rules function per section (Rules/). Every error is
/// collected in one pass, so a user fixes a scenario in one edit.
extension Scenario {
    /// Checks that span sections. Returns (key path, message) pairs.
    func crossCheck() -> [(String, String)] {
        dataSourceChecks() + populationRules() + syntheticDataRules() + secureAggregationRules() + privacyRules()
            + personalizationChecks() + validationChecks() + asyncRules() + compressionRules() + aggregationRules()
            + samplingRules() + partitionRules() + faultRules()
    }
}
