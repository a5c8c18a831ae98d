import FedSimConfig
import FedSimTestSupport
import Foundation
import Testing

@Suite struct ScenarioValidationTests {
    func errors(_ yaml: String, overrides: [String] = []) -> [ScenarioError] {
        TestSupport.scenarioErrors(yaml, overrides: overrides)
    }

    @Test func emptyDocumentGivesDefaults() throws {
        let s = try Scenario.load(yaml: "")
        #expect(s == Scenario())
    }

    @Test func readsNestedValues() throws {
        let s = try Scenario.load(
            yaml: """
                name: demo
                seed: 123
                training:
                  rounds: 7
                  local: {optimizer: adam, learning_rate: 0.01}
                  server: {optimizer: fedyogi}
                data: {source: movielens, path: /x}
                runtime:
                  faults:
                    - {kind: crash, process: 1, round: 2, after_updates: 3}
                """
        )
        #expect(s.name == "demo" && s.seed == 123)
        #expect(s.training.rounds == 7 && s.training.local.optimizer == .adam && s.training.local.learningRate == 0.01)
        #expect(s.training.server.optimizer == .fedyogi)
        #expect(s.data.source == .movielens && s.data.path == "/x")
        #expect(s.runtime.faults.count == 1 && s.runtime.faults[0].afterUpdates == 3)
    }

    @Test func unknownKeyNamesItsPathLineAndSuggestion() {
        let e = errors(
            """
            training:
              rounds: 5
              local:
                learning_rat: 0.1
            """
        )
        #expect(e.count == 1)
        #expect(e.first?.keyPath == "training.local.learning_rat")
        #expect(e.first?.line == 4)
        #expect(e.first?.message.contains("did you mean \"learning_rate\"") == true)
        #expect(e.first?.description.hasPrefix("s.yaml:4: training.local.learning_rat: unknown key") == true)
    }

    @Test func cohortFamiliesAreAListOrABool() throws {
        #expect(
            try Scenario.load(yaml: "evaluation: {cohorts: [activity, demographic]}").evaluation.cohortKinds == [
                "activity", "demographic",
            ]
        )
        #expect(try Scenario.load(yaml: "evaluation: {cohorts: false}").evaluation.cohorts == false)
        let e = errors("evaluation: {cohorts: [activity, moods]}")
        #expect(e.map(\.keyPath) == ["evaluation.cohorts[1]"])
    }

    @Test func personalizationKeysAreCheckedWithTheirPaths() {
        let e = errors(
            """
            model: {kind: mf}
            meta: {algorithm: fomaml, support_sizes: [1, 2.5]}
            personalization:
              strategy: ditto
              adaptation: {groups: [personal, shared]}
            evaluation:
              cold_start: {protocol: new_users, k: [0, -1]}
            """
        )
        let paths = Set(e.map(\.keyPath))
        #expect(paths.contains("meta.support_sizes[1]"))
        #expect(paths.contains("personalization.adaptation.groups[1]"))
        #expect(
            e.first { $0.keyPath == "personalization.adaptation.groups[1]" }?.message.contains(
                "shared groups are never adapted"
            ) == true
        )
        #expect(paths.contains("evaluation.cold_start.k[1]"))
        #expect(paths.contains("meta.algorithm"), "meta-learning needs two_tower: \(e)")
        #expect(paths.contains("personalization.strategy"))
        #expect(paths.contains("evaluation.cold_start.protocol"))
        // two_tower: meta-learning needs the global strategy, domain adaptation needs adapters.
        let f = errors(
            """
            model: {kind: two_tower}
            meta: {algorithm: reptile, inner_groups: [domain]}
            personalization: {strategy: fedper}
            """
        )
        #expect(Set(f.map(\.keyPath)) == ["personalization.strategy", "model.domain_adapters"])
    }

    /// lsttm needs the temporal protocol and temporal FO-MAML, adapts only its own modules,
    /// and names bad switches with their paths; two_tower refuses lsttm's modules.
    @Test func lsttmKeysAreCheckedWithTheirPaths() {
        let e = errors(
            """
            model:
              kind: lsttm
              lsttm: {fusion: sum, neighbours: 0, long_term_every: 0}
            meta: {algorithm: reptile, task: random, inner_groups: [personal]}
            """
        )
        let paths = Set(e.map(\.keyPath))
        #expect(
            paths.isSuperset(of: [
                "model.lsttm.fusion", "model.lsttm.neighbours", "model.lsttm.long_term_every",
                "evaluation.cold_start.protocol", "meta.task", "meta.algorithm", "meta.inner_groups",
            ]),
            "\(e)"
        )
        let ok = errors(
            """
            model: {kind: lsttm, lsttm: {fusion: concat, attention: false, external: false}}
            meta: {algorithm: fomaml, task: temporal, inner_groups: [short_term, fusion]}
            personalization: {strategy: global, adaptation: {groups: [short_term]}}
            evaluation: {cold_start: {protocol: temporal}}
            """
        )
        #expect(ok.isEmpty, "\(ok)")
        let t = errors(
            """
            model: {kind: two_tower}
            personalization: {adaptation: {groups: [short_term]}}
            """
        )
        #expect(t.map(\.keyPath) == ["personalization.adaptation.groups"])
    }

    @Test func wrongTypesAndRangesAreReportedTogether() {
        let e = errors(
            """
            training:
              rounds: many
              devices_per_round: -1
              local: {optimizer: lbfgs, epochs: 2.5}
            model: {dim: [1, 2]}
            evaluation: {ranking: maybe}
            """
        )
        let byPath = Dictionary(uniqueKeysWithValues: e.map { ($0.keyPath, $0.message) })
        #expect(byPath["training.rounds"]?.contains("expected an integer, got \"many\"") == true)
        #expect(byPath["training.devices_per_round"]?.contains("out of range") == true)
        #expect(byPath["training.local.optimizer"]?.contains("expected one of sgd, adam") == true)
        #expect(byPath["training.local.epochs"]?.contains("expected an integer") == true)
        #expect(byPath["model.dim"]?.contains("got a list") == true)
        #expect(byPath["evaluation.ranking"]?.contains("true or false") == true)
        #expect(e.count == 6)
    }

    @Test func crossSectionChecks() {
        let e = errors(
            """
            data: {synthetic: {devices: 10}}
            training: {devices_per_round: 50, rounds: 3}
            runtime: {faults: [{round: 9}]}
            """
        )
        #expect(
            e.contains { $0.keyPath == "training.devices_per_round" && $0.message.contains("exceeds the population") }
        )
        #expect(e.contains { $0.keyPath == "runtime.faults[0].round" })
    }

    @Test func privacyNeedsAMatchingSamplerAndWeighting() {
        let e = errors("privacy: {mechanism: central, noise_multiplier: 1.1, budget: {epsilon: 4}}")
        #expect(e.contains { $0.keyPath == "training.sampling" && $0.message.contains("Poisson") })
        #expect(e.contains { $0.keyPath == "training.weighting" && $0.message.contains("uniform") })
        #expect(errors("privacy: {mechanism: central}\ntraining: {sampling: poisson, weighting: uniform}").isEmpty)
        #expect(errors("privacy: {budget: {epsilon: -1}}").first?.keyPath == "privacy.budget.epsilon")
        let d = errors(
            "privacy: {mechanism: distributed}\ntraining: {sampling: poisson, weighting: uniform}\nsecure_aggregation: {protocol: none}"
        )
        #expect(d.contains { $0.keyPath == "privacy.mechanism" && $0.message.contains("secure sum") })
    }

    @Test func sectionMustBeAMapping() {
        let e = errors("training: 5")
        #expect(e.first?.keyPath == "training" && e.first?.message.contains("expected a mapping") == true)
    }

    @Test func invalidYAMLGivesLine() {
        let e = errors("training:\n  rounds: [1, 2\n")
        #expect(e.first?.message.contains("not valid YAML") == true)
        #expect(e.first?.line != nil)
    }

    @Test func overridesAreValidatedLikeTheFile() throws {
        let s = try Scenario.load(
            yaml: "training: {rounds: 5}",
            overrides: ["training.rounds=9", "training.local.optimizer=adam", "seed=5"]
        )
        #expect(s.training.rounds == 9 && s.training.local.optimizer == .adam && s.seed == 5)
        let e = errors("", overrides: ["training.roundz=3"])
        #expect(e.first?.keyPath == "training.roundz" && e.first?.message.contains("did you mean \"rounds\"") == true)
        let bad = errors("", overrides: ["training.rounds=-1"])
        #expect(bad.first?.keyPath == "training.rounds")
        // 0 rounds evaluates the initial model (a no-training baseline), in synchronous federated mode only.
        #expect(errors("", overrides: ["training.rounds=0"]).isEmpty)
        #expect(
            errors(
                "",
                overrides: ["training.rounds=0", "training.mode=centralized", "secure_aggregation.protocol=none"]
            ).map(\.keyPath) == ["training.rounds"]
        )
        #expect(throws: ScenarioErrors.self) { try Scenario.load(yaml: "", overrides: ["no-equals-sign"]) }
        #expect(throws: ScenarioErrors.self) {
            try Scenario.load(yaml: "training: {rounds: 5}", overrides: ["training.rounds.x=1"])
        }
    }

    @Test func resolvedScenarioReadsBackIdentically() throws {
        var s = Scenario()
        s.name = "round-trip"
        s.training.weighting = .examples
        s.runtime.faults = [FaultConfig()]
        s.seed = UInt64.max
        s.privacy.mechanism = .central
        s.privacy.budget.epsilon = 3
        s.training.sampling = .poisson
        s.training.weighting = .uniform
        let back = try Scenario.load(yaml: s.resolvedJSON())
        #expect(back == s)
    }

    /// Problems come in the file's line order (they came in reading order: model before
    /// training), a problem with an overridden key names the override (it said "FILE:1"), and
    /// a cross-field problem carries the line of its key.
    @Test func errorsAreInLineOrderAndOverridesNameThemselves() {
        let yaml =
            "name: x\ntraining:\n  rounds: -3\n  sampling: uniform\nmodel:\n  dim: 0\nprivacy:\n  mechanism: central\n"
        let e = errors(yaml, overrides: ["model.kind=nope", "training.local.epochs=x"])
        let lines = e.compactMap(\.line)
        #expect(lines == lines.sorted() && lines.count >= 3, "\(e)")
        #expect(e.contains { $0.keyPath == "training.sampling" && $0.line == 4 }, "\(e)")
        let overridden = e.filter { $0.file?.hasPrefix("--set ") == true }
        #expect(overridden.map(\.keyPath).sorted() == ["model.kind", "training.local.epochs"], "\(e)")
        #expect(overridden.allSatisfy { $0.line == nil && $0.description.hasPrefix("--set ") })
        // The file's own problems first, then the overrides'.
        let firstOverride = e.firstIndex { $0.file?.hasPrefix("--set ") == true }!
        #expect(e[..<firstOverride].allSatisfy { $0.line != nil })
        // A mistyped key above the override's key is the override's too (it created it).
        let typo = errors(yaml, overrides: ["trainig.rounds=5", "training.locl.epochs=2"])
        for (path, text) in [("trainig", "trainig.rounds=5"), ("training.locl", "training.locl.epochs=2")] {
            #expect(typo.contains { $0.keyPath == path && $0.file == "--set \(text)" }, "\(typo)")
        }
    }

    /// Every shipped scenario and experiment loads (sweep blocks included), and the README
    /// names every runnable scenario: neither drifts from the code.
    @Test func shippedScenariosAreValidAndListed() throws {
        let root = #filePath.components(separatedBy: "/Tests/").first!
        let readme = try String(contentsOfFile: root + "/README.md", encoding: .utf8)
        var checked = 0
        for folder in ["scenarios", "scenarios/experiments"] {
            let files = try FileManager.default.contentsOfDirectory(atPath: "\(root)/\(folder)").filter {
                $0.hasSuffix(".yaml")
            }
            for f in files.sorted() {
                let path = "\(root)/\(folder)/\(f)"
                if (try String(contentsOfFile: path, encoding: .utf8)).contains("\nsweep:") {
                    _ = try SweepSpec.load(file: path)
                } else {
                    _ = try Scenario.load(file: path)
                }
                if folder == "scenarios" { #expect(readme.contains("`\(f)`"), "README.md does not list \(f)") }
                checked += 1
            }
        }
        #expect(checked >= 25)
    }
}

@Suite struct CompressionValidationTests {
    func errors(_ overrides: [String]) -> String {
        do {
            _ = try Scenario.load(yaml: "name: x\nsecure_aggregation: {protocol: none}\n", overrides: overrides)
            return ""
        } catch { return "\(error)" }
    }

    @Test func invalidStacksAreRefusedWithTheKeyPath() {
        #expect(errors(["compression.stages=[quantize, rotate]"]).contains("compression.stages"))
        // [rotate] alone is for secure aggregation
        #expect(errors(["compression.stages=[rotate]"]).contains("[rotate, quantize]"))
        #expect(errors(["compression.stages=[top_k, sparse_rows]"]).contains("not a stack"))
        #expect(errors(["compression.stages=[gzip]"]).contains("unknown stage"))
        #expect(
            errors(["compression.stages=[rotate, quantize]", "compression.block_size=1000"]).contains("power of two")
        )
        #expect(errors(["compression.stages=[top_k, quantize]", "compression.bits=17"]).contains("compression.bits"))
        #expect(errors(["compression.stages=[rotate, quantize]"]).isEmpty)
    }

    @Test func compressionWithSecureAggregationOrQuantizationWithDPIsRefused() {
        #expect(
            errors(["compression.stages=[quantize]", "secure_aggregation.protocol=secagg+"]).contains("masks are dense")
        )
        let dp = ["privacy.mechanism=central", "training.sampling=poisson", "training.weighting=uniform"]
        #expect(errors(["compression.stages=[quantize]"] + dp).contains("norm above the DP clip"))
        #expect(errors(["compression.stages=[top_k]"] + dp).isEmpty)
    }
}

@Suite struct AdaptiveClippingValidationTests {
    func errors(_ overrides: [String]) -> String {
        let dp = [
            "privacy.mechanism=central", "training.sampling=poisson", "training.weighting=uniform",
            "privacy.noise_multiplier=1.2", "privacy.adaptive_clipping.enabled=true",
        ]
        do {
            _ = try Scenario.load(yaml: "name: x\nsecure_aggregation: {protocol: none}\n", overrides: dp + overrides)
            return ""
        } catch { return "\(error)" }
    }

    /// The count noise has a floor at the update's noise multiplier: below it the update's
    /// noise z_Δ grows without bound (σ_b → σ/2).
    @Test func countNoiseBelowTheNoiseMultiplierIsRefused() {
        #expect(errors(["privacy.adaptive_clipping.count_noise=0.65"]).contains("count_noise must be at least"))
        #expect(errors(["privacy.adaptive_clipping.count_noise=1.2"]).isEmpty)
        #expect(errors([]).isEmpty)  // the default, 10
    }
}

/// Issue 21, class 10: inputs that used to run something other than what was meant.
@Suite struct SilentDefaultsTests {
    func file(_ text: String) -> String {
        let path = NSTemporaryDirectory() + "fedsim-scenario-\(UInt64.random(in: 0...UInt64.max)).yaml"
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    @Test func anEmptyScenarioFileIsAnError() {
        for text in ["", "\n\n", "# only a comment\n"] {
            let path = file(text)
            #expect {
                try Scenario.load(file: path)
            } throws: { "\($0)".contains("\(path)") && "\($0)".contains("empty") }
        }
        #expect((try? Scenario.load(file: file("name: x\n")))?.name == "x")
    }

    @Test func anOverrideWithAnEmptyKeyIsAnError() {
        for key in ["training..rounds", ".rounds", "training.rounds."] {
            #expect {
                try Scenario.load(yaml: "name: x", overrides: ["\(key)=5"])
            } throws: { "\($0)".contains("empty key") }
        }
    }

    @Test func aFaultForAProcessThatDoesNotExistIsAnError() {
        let yaml = "runtime: {processes: 2, faults: [{kind: crash, process: 1}, {kind: stall, process: 2}]}"
        #expect {
            try Scenario.load(yaml: yaml)
        } throws: { error in
            let text = "\(error)"
            return text.contains("runtime.faults[1].process") && !text.contains("faults[0]")
        }
    }
}
