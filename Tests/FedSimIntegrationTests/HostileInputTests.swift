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
        let r = Fuzzer(seed: 20_261_123, crashDirectory: NSTemporaryDirectory()).run(target, inputs: n)
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
        for i in 1..<10 {
            lines.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]")
        }
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
            do {
                _ = try Scenario.load(yaml: yaml, file: "s.yaml")
                return ""
            } catch { return "\(error)" }
        }
        #expect(
            errors("x: " + String(repeating: "[", count: 20_000) + String(repeating: "]", count: 20_000)).contains(
                "not valid YAML"
            )
        )
        #expect(errors("training: {rounds: 99999999999999999999999}").contains("training.rounds"))
        #expect(errors("privacy: {clip: 1e400}").contains("privacy.clip"))
        #expect(errors("seed: -1").contains("seed"))
        #expect(errors("training: [1, 2]").contains("training"))
        #expect(errors("model: {dim: {a: 1}}").contains("model.dim"))
        #expect(errors("fleet: {availability: {timezones: [99]}}").contains("fleet.availability.timezones"))
    }

    @Test func oversizedScenarioFileIsRefused() throws {
        let dir = TestSupport.temporaryDirectory()
        TestSupport.write(
            "name: big\n# " + String(repeating: "x", count: Scenario.maxFileBytes) + "\n",
            to: dir + "/big.yaml"
        )
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

/// Hostile devices and local security, with the coordinator and real client loops.
@Suite struct HostileDeviceTests {
    static func dpScenario(poison: Bool) -> Scenario {
        var s = TestSupport.tinyScenario(devices: 100, rounds: 1, perRound: 40)
        s.training.sampling = .poisson
        s.training.weighting = .uniform
        s.privacy.mechanism = .central
        s.privacy.noise = .reproducible
        s.privacy.clip = 0.5
        if poison {
            var f = FaultConfig()
            f.kind = .poison
            f.process = 1
            f.round = 1
            f.scale = 1000
            s.runtime.faults = [f]
        }
        return s
    }

    /// A process that scales its updates by 1000 (skipping its own clipping) moves the
    /// aggregate by at most C per poisoned device: the coordinator re-clips every update.
    @Test func aPoisonedDeviceMovesTheSumByAtMostC() async throws {
        let honest = try await SecureAggregationRuntimeTests.run(Self.dpScenario(poison: false))
        let hostile = try await SecureAggregationRuntimeTests.run(Self.dpScenario(poison: true))
        let line = try JSONSerialization.jsonObject(with: Data(hostile.sink.lines[0].utf8)) as! [String: Any]
        let poisoned = line["clipped_at_coordinator"] as! Int
        #expect(poisoned > 0)
        // Model change = η · (sum difference) / (q·N); each poisoned device contributes a
        // clipped update (norm ≤ C) instead of an honest one (norm ≤ C): at most 2C each.
        let s = Self.dpScenario(poison: true)
        let expected = Double(s.training.devicesPerRound)  // q·N
        var sq = 0.0
        for (a, b) in zip(honest.coordinator.model, hostile.coordinator.model) { sq += Double(a - b) * Double(a - b) }
        let sumShift = sq.squareRoot() * expected / s.training.server.learningRate
        let grid = 0.5 / Double(1 << 20) * Double(honest.coordinator.model.count).squareRoot()  // fixed-point rounding
        #expect(
            sumShift <= 2 * 0.5 * Double(poisoned) + grid,
            "sum moved by \(sumShift) with \(poisoned) poisoned devices"
        )
        #expect(sumShift > 0)
    }

    @Test func robustAggregationIsRefusedWithSecureAggregationOrDP() {
        func error(_ set: [String]) -> String {
            do {
                _ = try Scenario.load(yaml: "name: x\n", overrides: set)
                return ""
            } catch { return "\(error)" }
        }
        #expect(error(["training.aggregation=median"]).contains("training.aggregation"))  // secagg+ is the default
        #expect(error(["training.aggregation=median", "secure_aggregation.protocol=none"]).isEmpty)
        #expect(
            error([
                "training.aggregation=trimmed_mean", "secure_aggregation.protocol=none", "privacy.mechanism=central",
                "training.sampling=poisson", "training.weighting=uniform",
            ]).contains("not accounted")
        )
    }

    @Test func medianAggregationResistsAPoisonedProcess() async throws {
        var s = TestSupport.tinyScenario(devices: 90, rounds: 3, perRound: 45, processes: 3)
        s.training.aggregation = .median
        var clean = s
        clean.training.aggregation = .mean
        var f = FaultConfig()
        f.kind = .poison
        f.process = 2
        f.round = 2
        s.runtime.faults = [f]
        var poisonedMean = clean
        poisonedMean.runtime.faults = [f]
        var cleanMedian = s
        cleanMedian.runtime.faults = []
        // How far the poisoned process moves each rule's model from that rule's clean run.
        let meanClean = try await SecureAggregationRuntimeTests.run(clean)
        let medianClean = try await SecureAggregationRuntimeTests.run(cleanMedian)
        let robust = try await SecureAggregationRuntimeTests.run(s)
        let fragile = try await SecureAggregationRuntimeTests.run(poisonedMean)
        // The global bias gets a vote from every device: there the median shrugs the poison off.
        // (Item rows rated by one or two devices have one or two votes; a poisoned voter
        // still wins those. docs/reliability.md says so.)
        let g = robust.coordinator.layout.range(of: "global_bias")!.lowerBound
        let dRobust = abs(Double(robust.coordinator.model[g] - medianClean.coordinator.model[g]))
        let dFragile = abs(Double(fragile.coordinator.model[g] - meanClean.coordinator.model[g]))
        // The mean is no longer unbounded either: the coordinator clips each update's Δ to
        // `UpdateBounds.maxDelta` (4 on this scale), so a third of the round poisoned moves the
        // global bias by at most about 4/3. The median still moves it several times less.
        #expect(dRobust * 4 < dFragile, "global bias moved by \(dRobust) under the median, \(dFragile) under the mean")
        #expect(dFragile < 4, "the poisoned mean moved the global bias by \(dFragile), beyond one round's Δ bound")
    }
}
