import FedSimConfig

extension TestSupport {
    /// What `Scenario.load` says about a scenario text: its errors in order, none when it loads.
    /// Any other error comes back as one error with an empty key path, so a test that expects a
    /// clean load or a given key path fails on it instead of passing by accident.
    public static func scenarioErrors(
        _ yaml: String,
        file: String = "s.yaml",
        overrides: [String] = []
    ) -> [ScenarioError] {
        do {
            _ = try Scenario.load(yaml: yaml, file: file, overrides: overrides)
            return []
        } catch let e as ScenarioErrors {
            return e.errors
        } catch {
            return [ScenarioError(keyPath: "", message: "unexpected \(error)")]
        }
    }
}
