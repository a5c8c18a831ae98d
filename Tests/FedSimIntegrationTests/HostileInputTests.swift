import FedSimConfig
import FedSimData
import FedSimFuzz
import FedSimTestSupport
import Foundation
import Testing

/// Hostile input: a fuzzing smoke run of every decoder (the full run is `make fuzz`), the
/// inputs the fuzzer found, and hostile scenario files.
@Suite struct HostileInputTests {
    @Test(arguments: Fuzzer.Target.allCases)
    func fuzzSmoke(_ target: Fuzzer.Target) {
        // A trap would kill the test process: reaching the end is the assertion that matters.
        let n = target == .scenario ? 2_000 : 20_000
        let r = Fuzzer(seed: 20261123, crashDirectory: NSTemporaryDirectory()).run(target, inputs: n)
        #expect(r.inputs == n)
        #expect(r.rejected > 0)  // the mutations do reach the error paths
    }

    /// Found by `fedsim-fuzz` (seed 1): a device count above Int.max trapped on conversion.
    @Test func fuzzRegressionDirectoryCountAboveIntMax() {
        let hex = "46534449523030310065000056633aed0fddb346cf000000004653444952303031"
        let bytes = stride(from: 0, to: hex.count, by: 2).map { i -> UInt8 in
            let s = hex.index(hex.startIndex, offsetBy: i)
            return UInt8(hex[s..<hex.index(s, offsetBy: 2)], radix: 16)!
        }
        #expect(throws: DeviceDirectory.Corrupt.self) { try DeviceDirectory.decode(bytes) }
        #expect(Fuzzer.feed(.directory, bytes) != nil)
    }

    @Test func yamlAliasBombIsRefusedBeforeAnyoneWalksIt() {
        var lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for i in 1..<10 { lines.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]") }
        lines.append("data: {synthetic: {domains: *a9}}")
        do {
            _ = try Scenario.load(yaml: lines.joined(separator: "\n"), file: "bomb.yaml")
            Issue.record("an alias bomb was accepted")
        } catch let e as ScenarioErrors {
            #expect(e.description.contains("expands to more than"))
        } catch { Issue.record("unexpected \(error)") }
    }

    @Test func deepNestingHugeNumbersAndWrongTypesGetClearErrors() {
        func errors(_ yaml: String) -> String {
            do { _ = try Scenario.load(yaml: yaml, file: "s.yaml"); return "" } catch { return "\(error)" }
        }
        #expect(errors("x: " + String(repeating: "[", count: 20_000) + String(repeating: "]", count: 20_000)).contains("not valid YAML"))
        #expect(errors("training: {rounds: 99999999999999999999999}").contains("training.rounds"))
        #expect(errors("privacy: {clip: 1e400}").contains("privacy.clip"))
        #expect(errors("seed: -1").contains("seed"))
        #expect(errors("training: [1, 2]").contains("training"))
        #expect(errors("model: {dim: {a: 1}}").contains("model.dim"))
        #expect(errors("fleet: {availability: {timezones: [99]}}").contains("fleet.availability.timezones"))
    }

    @Test func oversizedScenarioFileIsRefused() throws {
        let dir = TestSupport.temporaryDirectory()
        TestSupport.write("name: big\n# " + String(repeating: "x", count: Scenario.maxFileBytes) + "\n", to: dir + "/big.yaml")
        #expect(throws: ScenarioErrors.self) { try Scenario.load(file: dir + "/big.yaml") }
    }

    @Test func corruptRatingLinesNameFileAndLine() {
        let bad = Array("196\t242\t3\t881250949\n186\t302\tseven\t891717742\n".utf8)
        do {
            _ = try MovieLensPopulation.parseRatings(bad, file: "u.data")
            Issue.record("a corrupt line was accepted")
        } catch let e as DataError {
            #expect(e.file == "u.data" && e.line == 2 && e.message.contains("seven"))
        } catch { Issue.record("unexpected \(error)") }
    }
}
