import Foundation
import Yams

extension Scenario {
    /// Parses and validates a scenario document. `overrides` are `key.path=value` pairs applied
    /// before validation, so they are checked exactly like the file.
    public static func load(yaml text: String, file: String? = nil, overrides: [String] = []) throws -> Scenario {
        var root: Node
        do {
            root = try Yams.compose(yaml: text) ?? Node.mapping(Node.Mapping([]))
        } catch let e as YamlError {
            throw ScenarioErrors(errors: [
                ScenarioError(
                    keyPath: "",
                    message: "not valid YAML: \(Scenario.describe(e))",
                    file: file,
                    line: Scenario.line(of: e)
                )
            ])
        }
        // Alias bombs ("billion laughs") expand exponentially when walked: refuse documents
        // whose expanded tree is implausibly large for a scenario, before any reader walks it.
        if Self.expandedNodeCount(root, limit: maxExpandedNodes) > maxExpandedNodes {
            throw ScenarioErrors(errors: [
                ScenarioError(
                    keyPath: "",
                    message:
                        "the document expands to more than \(maxExpandedNodes) YAML nodes (aliases referring to aliases?); a scenario needs far fewer",
                    file: file
                )
            ])
        }
        for o in overrides { try apply(override: o, to: &root) }
        let reader = ConfigReader.root(root, file: file)
        let scenario = Scenario(reading: reader)
        reader.finish()
        var errors = reader.errors
        errors += scenario.crossCheck().map {
            ScenarioError(keyPath: $0.0, message: $0.1, file: file, line: Self.line(of: $0.0, in: root))
        }
        if !errors.isEmpty { throw ScenarioErrors(errors: Self.located(errors, overrides: overrides)) }
        return scenario
    }

    /// Largest scenario file read (a scenario is a few kB).
    public static let maxFileBytes = 1 << 20
    /// Largest YAML tree, aliases expanded, a scenario may have.
    public static let maxExpandedNodes = 100_000

    /// Counts nodes with aliases expanded, stopping as soon as the count passes `limit`.
    public static func expandedNodeCount(_ node: Node, limit: Int) -> Int {
        var count = 0
        var stack = [node]
        while let n = stack.popLast() {
            count += 1
            if count > limit { return count }
            switch n {
            case .mapping(let m):
                for (k, v) in m {
                    stack.append(k)
                    stack.append(v)
                }
            case .sequence(let s): stack.append(contentsOf: s)
            default: break
            }
        }
        return count
    }

    public static func load(file path: String, overrides: [String] = []) throws -> Scenario {
        if let attrs = try? FileManager.default.attributesOfItem(atPath: path), let size = attrs[.size] as? Int,
            size > maxFileBytes
        {
            throw ScenarioErrors(errors: [
                ScenarioError(
                    keyPath: "",
                    message: "scenario file is \(size) bytes; the limit is \(maxFileBytes)",
                    file: path
                )
            ])
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            var isFolder: ObjCBool = false
            let why =
                !FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
                ? "no such file" : isFolder.boolValue ? "it is a folder, not a file" : "it is not readable"
            throw ScenarioErrors(errors: [
                ScenarioError(keyPath: "", message: "cannot read the scenario file: \(why)", file: path)
            ])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ScenarioErrors(errors: [ScenarioError(keyPath: "", message: "scenario file is not UTF-8", file: path)]
            )
        }
        var empty = false
        do { empty = try Yams.compose(yaml: text) == nil } catch {}  // a YAML error is reported below, with its line
        if empty {
            // Nothing but whitespace and comments: running it would silently run every default.
            throw ScenarioErrors(errors: [
                ScenarioError(
                    keyPath: "",
                    message:
                        "the scenario file is empty; write the keys to run (every one has a default, docs/scenarios.md), e.g. `name: mine`",
                    file: path
                )
            ])
        }
        return try load(yaml: text, file: path, overrides: overrides)
    }

    /// Every value written out, defaults included: what the run directory records. JSON is
    /// YAML, so `Scenario.load` reads it back unchanged.
    public func resolvedJSON() -> String {
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try! enc.encode(self), as: UTF8.self) + "\n"
    }

    /// Applies `a.b.c=value`: the value is parsed as a YAML scalar or flow collection.
    static func apply(override: String, to root: inout Node) throws {
        guard let eq = override.firstIndex(of: "=") else {
            throw ScenarioErrors(errors: [
                ScenarioError(keyPath: override, message: "override must look like key.path=value")
            ])
        }
        // Empty parts kept: `training..rounds` is a typo to report, not `training.rounds`.
        let path = override[..<eq].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let valueText = String(override[override.index(after: eq)...])
        guard !path.isEmpty, path.allSatisfy({ !$0.isEmpty }) else {
            throw ScenarioErrors(errors: [
                ScenarioError(keyPath: String(override[..<eq]), message: "empty key in override")
            ])
        }
        let value = (try? Yams.compose(yaml: valueText)) ?? nil ?? Node(valueText)
        func set(_ node: inout Node, _ keys: ArraySlice<String>) throws {
            guard var m = node.mapping else {
                let prefix = path[..<(path.count - keys.count)].joined(separator: ".")
                throw ScenarioErrors(errors: [
                    ScenarioError(
                        keyPath: prefix,
                        message: "is not a mapping; cannot override \(keys.joined(separator: ".")) inside it"
                    )
                ])
            }
            let k = keys.first!
            if keys.count == 1 {
                m[k] = value
            } else {
                var child = m[k] ?? Node.mapping(Node.Mapping([]))
                if case .scalar(let s) = child, s.string.isEmpty || s.string == "~" || s.string == "null" {
                    child = Node.mapping(Node.Mapping([]))
                }
                try set(&child, keys.dropFirst())
                m[k] = child
            }
            node = .mapping(m)
        }
        try set(&root, path[...])
    }

    static func describe(_ e: YamlError) -> String {
        switch e {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _):
            return problem
        case .reader(let problem, _, _, _): return problem
        default: return "\(e)"
        }
    }

    static func line(of e: YamlError) -> Int? {
        switch e {
        case .scanner(_, _, let m, _), .parser(_, _, let m, _), .composer(_, _, let m, _): return m.line
        default: return nil
        }
    }
}

extension Scenario {
    init(reading r: ConfigReader) {
        self.init()
        name = r.string("name", default: name)
        seed = r.uint64("seed", default: seed)
        data = DataConfig(reading: r.section("data"))
        model = ModelConfig(reading: r.section("model"))
        training = TrainingConfig(reading: r.section("training"))
        evaluation = EvaluationConfig(reading: r.section("evaluation"))
        secureAggregation = SecureAggregationConfig(reading: r.section("secure_aggregation"))
        privacy = PrivacyConfig(reading: r.section("privacy"))
        runtime = RuntimeConfig(reading: r.section("runtime"))
        fleet = FleetConfig(reading: r.section("fleet"))
        compression = CompressionConfig(reading: r.section("compression"))
        personalization = PersonalizationConfig(reading: r.section("personalization"))
        meta = MetaConfig(reading: r.section("meta"))
        _ = r.node("sweep")  // read by `SweepSpec` (`fedsim sweep`); a plain run ignores it
        if name.isEmpty || name.contains("/") || name.contains(" ") {
            r.fail("name", "must be non-empty without spaces or slashes (it names the run directory)")
        }
    }

    /// Checks that span sections. Returns (key path, message) pairs.
    func crossCheck() -> [(String, String)] {
        var out: [(String, String)] = dataSourceChecks()
        if training.mode == .federated {
            if runtime.minDevicesPerRound > training.devicesPerRound {
                out.append(
                    (
                        "runtime.min_devices_per_round",
                        "\(runtime.minDevicesPerRound) exceeds training.devices_per_round (\(training.devicesPerRound))"
                    )
                )
            }
            if data.source == .synthetic && training.devicesPerRound > data.synthetic.devices {
                out.append(
                    (
                        "training.devices_per_round",
                        "\(training.devicesPerRound) exceeds the population (data.synthetic.devices = \(data.synthetic.devices))"
                    )
                )
            }
        }
        if data.source == .synthetic && data.synthetic.minRatings > data.synthetic.maxRatings {
            out.append(("data.synthetic.min_ratings", "exceeds data.synthetic.max_ratings"))
        }
        if data.source == .synthetic
            && data.synthetic.maxRatings > data.synthetic.itemsPerDomain * data.synthetic.domains.count
        {
            out.append(("data.synthetic.max_ratings", "exceeds the number of items (items_per_domain × domains)"))
        } else if data.source == .synthetic && data.synthetic.domainsPerDevice > 0
            && data.synthetic.maxRatings > data.synthetic.itemsPerDomain * data.synthetic.domainsPerDevice
        {
            out.append(
                (
                    "data.synthetic.max_ratings",
                    "exceeds the items a device can rate (items_per_domain × domains_per_device)"
                )
            )
        }
        if secureAggregation.enabled {
            if training.mode == .centralized {
                out.append(("secure_aggregation.protocol", "secure aggregation needs training.mode: federated"))
            }
            if secureAggregation.neighbors > 0 && secureAggregation.threshold > secureAggregation.neighbors {
                out.append(("secure_aggregation.threshold", "exceeds secure_aggregation.neighbors"))
            }
            if training.devicesPerRound < 3 {
                out.append(("training.devices_per_round", "secure aggregation needs at least 3 devices per round"))
            }
        }
        if privacy.audit != nil && !privacy.enabled {
            out.append(
                (
                    "privacy.audit",
                    "a privacy audit checks a DP run's claimed ε; set privacy.mechanism to central or distributed"
                )
            )
        }
        if privacy.enabled {
            if training.mode == .centralized {
                out.append(("privacy.mechanism", "differential privacy is accounted for federated training only"))
            }
            if training.sampling != .poisson {
                out.append(
                    (
                        "training.sampling",
                        "the privacy accountant assumes Poisson sampling; set training.sampling: poisson (fixed-size sampling has no accountant here)"
                    )
                )
            }
            if privacy.adaptiveClipping.enabled && privacy.mechanism == .distributed {
                out.append(
                    (
                        "privacy.adaptive_clipping.enabled",
                        "adaptive clipping is implemented for central DP only (the count would need distributed noise too)"
                    )
                )
            }
            if privacy.mechanism == .distributed && !secureAggregation.enabled {
                out.append(
                    (
                        "privacy.mechanism",
                        "distributed noise is only private inside a secure sum; set secure_aggregation.protocol to secagg+ or secagg"
                    )
                )
            }
            if training.weighting != .uniform {
                out.append(
                    (
                        "training.weighting",
                        "differential privacy needs weighting: uniform (per-item or example weights are data-dependent and would need their own noise)"
                    )
                )
            }
        }
        out += personalizationChecks()
        out += validationChecks()
        if training.async.enabled {
            if training.mode != .federated {
                out.append(("training.async.enabled", "asynchronous training needs training.mode: federated"))
            }
            if privacy.enabled {
                out.append(
                    (
                        "training.async.enabled",
                        "no accountant here covers FedBuff's arrival-driven selection (it is not Poisson sampling, and buffers overlap in time); run DP synchronously"
                    )
                )
            }
            if secureAggregation.enabled && training.async.bufferSize < 3 {
                out.append(("training.async.buffer_size", "secure aggregation over a buffer needs at least 3 devices"))
            }
            if training.aggregation != .mean {
                out.append(("training.async.enabled", "asynchronous training uses the weighted mean"))
            }
            if training.async.bufferSize > training.async.concurrency {
                out.append(
                    ("training.async.buffer_size", "exceeds training.async.concurrency: the buffer could never fill")
                )
            }
            if fleet.overSelection > 1 || fleet.deadlineSeconds > 0 {
                out.append(
                    (
                        "training.async.enabled",
                        "deadlines and over-selection belong to synchronous rounds; FedBuff discards by staleness (max_staleness)"
                    )
                )
            }
        }
        if compression.enabled {
            if secureAggregation.enabled && compression.stages != [.rotate] {
                out.append(
                    (
                        "compression.stages",
                        "under secure aggregation the masks are dense, so sparsifying stages save nothing, and the secure sum is the quantizer: set secure_aggregation.bits (masked vectors travel packed at that width). The one stage that composes is [rotate] (a shared Hadamard rotation before the secure-sum quantizer)"
                    )
                )
            }
            if secureAggregation.enabled && compression.stages == [.rotate] && training.weighting != .uniform {
                out.append(
                    (
                        "compression.stages",
                        "[rotate] under secure aggregation needs training.weighting: uniform (every value element must share one scale for the rotation to commute with the mean)"
                    )
                )
            }
            if !secureAggregation.enabled && compression.stages == [.rotate] {
                out.append(
                    (
                        "compression.stages",
                        "[rotate] alone rotates before the secure-sum quantizer; without secure aggregation use [rotate, quantize]"
                    )
                )
            }
            if privacy.enabled && compression.stages.contains(where: { $0 == .quantize || $0 == .rotate }) {
                out.append(
                    (
                        "compression.stages",
                        "stochastic quantization can raise an update's norm above the DP clip, which the accountant does not cover; with DP use sparse_rows, top_k or random_k (applied before the clip)"
                    )
                )
            }
            if training.aggregation != .mean {
                out.append(
                    (
                        "compression.stages",
                        "robust aggregation reads individual updates; combine it with compression only after measuring what the compression error does to it"
                    )
                )
            }
        }
        if training.aggregation != .mean && secureAggregation.enabled {
            out.append(
                (
                    "training.aggregation",
                    "\(training.aggregation.rawValue) needs each device's update, and secure aggregation hides them by design; set secure_aggregation.protocol: none, or use aggregation: mean (with DP clipping to bound each device's influence)"
                )
            )
        }
        if training.aggregation != .mean && privacy.enabled {
            out.append(
                (
                    "training.aggregation",
                    "the DP accountant assumes a clipped sum; \(training.aggregation.rawValue) is not accounted (with DP, the coordinator already re-clips every update to privacy.clip)"
                )
            )
        }
        if fleet.overSelection > 1 && training.sampling == .poisson {
            out.append(
                (
                    "fleet.over_selection",
                    "over-selection needs a fixed-size sampler; with Poisson sampling the rate itself sets the expected count (raise devices_per_round instead)"
                )
            )
        }
        if training.sampling == .stratified && training.stratifyBy == .domain && data.partition.method == .natural {
            if data.source == .movielens {
                out.append(
                    ("training.stratify_by", "MovieLens-100K has one domain; stratify by activity, or re-partition it")
                )
            } else if data.source == .synthetic && data.synthetic.domains.count < 2 {
                out.append(("training.stratify_by", "the synthetic population has one domain; stratify by activity"))
            }
        }
        if data.partition.method != .natural && data.partition.label == .domain {
            if data.source == .movielens && (data.partition.method == .dirichlet || data.partition.method == .shards) {
                out.append(
                    (
                        "data.partition.label",
                        "MovieLens-100K has one domain; partition over category (a movie's first genre)"
                    )
                )
            }
        }
        if training.rounds == 0 && (training.async.enabled || training.mode == .centralized) {
            out.append(
                (
                    "training.rounds",
                    "0 (evaluate the initial model, a no-training baseline) needs synchronous federated training"
                )
            )
        }
        for (i, f) in runtime.faults.enumerated() where f.round > training.rounds {
            out.append(("runtime.faults[\(i)].round", "\(f.round) is after the last round (\(training.rounds))"))
        }
        if runtime.processes > 0 {
            // With `processes: 0` (one per core) the launcher checks once the count is known.
            for (i, f) in runtime.faults.enumerated() where f.process >= runtime.processes {
                out.append(
                    (
                        "runtime.faults[\(i)].process",
                        "\(f.process) is not a client process: runtime.processes is \(runtime.processes) (indices 0…\(runtime.processes - 1))"
                    )
                )
            }
        }
        return out
    }
}
