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
        errors += scenario.crossCheck().map { ScenarioError(keyPath: $0.0, message: $0.1, file: file) }
        if !errors.isEmpty { throw ScenarioErrors(errors: errors) }
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
            throw ScenarioErrors(errors: [ScenarioError(keyPath: "", message: "cannot read scenario file", file: path)])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ScenarioErrors(errors: [ScenarioError(keyPath: "", message: "scenario file is not UTF-8", file: path)]
            )
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
        let path = override[..<eq].split(separator: ".").map(String.init)
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
        var out: [(String, String)] = []
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
            } else if data.synthetic.domains.count < 2 {
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
        return out
    }
}

extension DataConfig {
    init(reading r: ConfigReader) {
        self.init()
        source = r.choice("source", default: source)
        path = r.string("path", default: path)
        split = SplitConfig(reading: r.section("split"))
        partition = PartitionConfig(reading: r.section("partition"))
        synthetic = SyntheticConfig(reading: r.section("synthetic"))
        movielensDomains = r.choice("movielens_domains", default: movielensDomains)
        r.finish()
    }
}

extension SplitConfig {
    init(reading r: ConfigReader) {
        self.init()
        method = r.choice("method", default: method)
        testFraction = r.double("test_fraction", default: testFraction, min: 0, max: 0.9)
        minTrain = r.int("min_train", default: minTrain, range: 1...1_000)
        r.finish()
    }
}

extension SyntheticConfig {
    init(reading r: ConfigReader) {
        self.init()
        devices = r.int("devices", default: devices, range: 1...50_000_000)
        domains = r.stringList("domains", default: domains)
        if domains.isEmpty || domains.count > 64 { r.fail("domains", "expected 1 to 64 domain names") }
        if Set(domains).count != domains.count { r.fail("domains", "domain names must be distinct") }
        itemsPerDomain = r.int("items_per_domain", default: itemsPerDomain, range: 1...1_000_000)
        sharedFactors = r.int("shared_factors", default: sharedFactors, range: 0...256)
        domainFactors = r.int("domain_factors", default: domainFactors, range: 0...256)
        minRatings = r.int("min_ratings", default: minRatings, range: 2...100_000)
        maxRatings = r.int("max_ratings", default: maxRatings, range: 2...100_000)
        activityExponent = r.double("activity_exponent", default: activityExponent, min: 1, max: 5, exclusiveMin: true)
        popularityExponent = r.double("popularity_exponent", default: popularityExponent, min: 0, max: 5)
        homeDomainShare = r.double("home_domain_share", default: homeDomainShare, min: 0, max: 1)
        domainsPerDevice = r.int("domains_per_device", default: domainsPerDevice, range: 0...64)
        if domainsPerDevice > domains.count {
            r.fail("domains_per_device", "\(domainsPerDevice) exceeds the \(domains.count) domains")
        }
        noise = r.double("noise", default: noise, min: 0, max: 10)
        drift = DriftConfig(reading: r.section("drift"))
        r.finish()
    }
}

extension ModelConfig {
    init(reading r: ConfigReader) {
        self.init()
        kind = r.choice("kind", default: kind)
        dim = r.int("dim", default: dim, range: 1...1024)
        initStd = r.double("init_std", default: initStd, min: 0, max: 10)
        userFeatures = r.bool("user_features", default: userFeatures)
        itemContent = r.bool("item_content", default: itemContent)
        domainAdapters = r.bool("domain_adapters", default: domainAdapters)
        disentangle = r.bool("disentangle", default: disentangle)
        alignmentWeight = r.double("alignment_weight", default: alignmentWeight, min: 0, max: 100)
        alignment = r.choice("alignment", default: alignment)
        alignmentNegatives = r.int("alignment_negatives", default: alignmentNegatives, range: 1...10_000)
        alignmentTemperature = r.double(
            "alignment_temperature",
            default: alignmentTemperature,
            min: 0,
            max: 100,
            exclusiveMin: true
        )
        hidden = r.int("hidden", default: hidden, range: 1...4096)
        negatives = r.int("negatives", default: negatives, range: 1...1000)
        lsttm = LSTTMConfig(reading: r.section("lsttm"))
        r.finish()
    }
}

extension LSTTMConfig {
    init(reading r: ConfigReader) {
        self.init()
        neighbours = r.int("neighbours", default: neighbours, range: 1...1_000)
        attention = r.bool("attention", default: attention)
        fusion = r.choice("fusion", default: fusion)
        external = r.bool("external", default: external)
        longTermEvery = r.int("long_term_every", default: longTermEvery, range: 1...100_000)
        longTermDelay = r.int("long_term_delay", default: longTermDelay, range: 0...100_000)
        longTermSteps = r.int("long_term_steps", default: longTermSteps, range: 0...10_000)
        longTermLearningRate = r.double(
            "long_term_learning_rate",
            default: longTermLearningRate,
            min: 0,
            max: 100,
            exclusiveMin: true
        )
        longTermNegatives = r.int("long_term_negatives", default: longTermNegatives, range: 1...1_000)
        internalDomain = r.string("internal_domain", default: internalDomain)
        r.finish()
    }
}

extension LocalTrainingConfig {
    init(reading r: ConfigReader) {
        self.init()
        optimizer = r.choice("optimizer", default: optimizer)
        epochs = r.int("epochs", default: epochs, range: 1...10_000)
        batchSize = r.int("batch_size", default: batchSize, range: 1...1_000_000)
        learningRate = r.double("learning_rate", default: learningRate, min: 0, max: 100, exclusiveMin: true)
        l2 = r.double("l2", default: l2, min: 0, max: 100)
        beta1 = r.double("beta1", default: beta1, min: 0, max: 1)
        beta2 = r.double("beta2", default: beta2, min: 0, max: 1)
        epsilon = r.double("epsilon", default: epsilon, min: 0, max: 1, exclusiveMin: true)
        proximalMu = r.double("proximal_mu", default: proximalMu, min: 0, max: 1000)
        if beta1 >= 1 { r.fail("beta1", "must be < 1") }
        if beta2 >= 1 { r.fail("beta2", "must be < 1") }
        r.finish()
    }
}

extension ServerOptimizerConfig {
    init(reading r: ConfigReader) {
        self.init()
        optimizer = r.choice("optimizer", default: optimizer)
        learningRate = r.double("learning_rate", default: learningRate, min: 0, max: 1000, exclusiveMin: true)
        momentum = r.double("momentum", default: momentum, min: 0, max: 1)
        beta1 = r.double("beta1", default: beta1, min: 0, max: 1)
        beta2 = r.double("beta2", default: beta2, min: 0, max: 1)
        tau = r.double("tau", default: tau, min: 0, max: 1000, exclusiveMin: true)
        if momentum >= 1 { r.fail("momentum", "must be < 1") }
        if beta1 >= 1 { r.fail("beta1", "must be < 1") }
        if beta2 >= 1 { r.fail("beta2", "must be < 1") }
        r.finish()
    }
}

extension TrainingConfig {
    init(reading r: ConfigReader) {
        self.init()
        mode = r.choice("mode", default: mode)
        rounds = r.int("rounds", default: rounds, range: 0...1_000_000)
        devicesPerRound = r.int("devices_per_round", default: devicesPerRound, range: 1...10_000_000)
        weighting = r.choice("weighting", default: weighting)
        sampling = r.choice("sampling", default: sampling)
        aggregation = r.choice("aggregation", default: aggregation)
        let a = r.section("async")
        async.enabled = a.bool("enabled", default: async.enabled)
        async.bufferSize = a.int("buffer_size", default: async.bufferSize, range: 1...1_000_000)
        async.concurrency = a.int("concurrency", default: async.concurrency, range: 1...10_000_000)
        async.stalenessExponent = a.double("staleness_exponent", default: async.stalenessExponent, min: 0, max: 10)
        async.maxStaleness = a.int("max_staleness", default: async.maxStaleness, range: 0...1_000_000)
        a.finish()
        trimFraction = r.double("trim_fraction", default: trimFraction, min: 0, max: 0.49)
        normBound = r.double("norm_bound", default: normBound, min: 0, max: 1e9, exclusiveMin: true)
        stratifyBy = r.choice("stratify_by", default: stratifyBy)
        activityStrata = r.int("activity_strata", default: activityStrata, range: 1...100)
        local = LocalTrainingConfig(reading: r.section("local"))
        server = ServerOptimizerConfig(reading: r.section("server"))
        r.finish()
    }
}

extension EvaluationConfig {
    init(reading r: ConfigReader) {
        self.init()
        every = r.int("every", default: every, range: 0...1_000_000)
        k = r.int("k", default: k, range: 1...1_000)
        relevanceThreshold = r.double("relevance_threshold", default: relevanceThreshold)
        devices = r.int("devices", default: devices, range: 0...50_000_000)
        ranking = r.bool("ranking", default: ranking)
        sampledNegatives = r.int("sampled_negatives", default: sampledNegatives, range: 0...100_000)
        // `cohorts` is true / false or a list of families; the resolved form (scenario.json)
        // spells the families out in `cohort_kinds`.
        func families(_ key: String) -> [String] {
            let kinds = r.stringList(key, default: cohortKinds)
            for (i, k) in kinds.enumerated() where !EvaluationConfig.allCohortKinds.contains(k) {
                r.fail(
                    "\(key)[\(i)]",
                    "unknown cohort family \"\(k)\"; expected \(EvaluationConfig.allCohortKinds.joined(separator: ", ")) (or cohorts: true / false)"
                )
            }
            return kinds.filter(EvaluationConfig.allCohortKinds.contains)
        }
        if case .sequence? = r.node("cohorts") {
            cohortKinds = families("cohorts")
            cohorts = !cohortKinds.isEmpty
        } else {
            cohorts = r.bool("cohorts", default: cohorts)
            cohortKinds = families("cohort_kinds")
        }
        localOnlyEpochs = r.int("local_only_epochs", default: localOnlyEpochs, range: 0...10_000)
        coldStart = ColdStartConfig(reading: r.section("cold_start"))
        secureExposure = r.bool("secure_exposure", default: secureExposure)
        r.finish()
    }
}

extension SecureAggregationConfig {
    init(reading r: ConfigReader) {
        self.init()
        `protocol` = r.choice("protocol", default: `protocol`)
        neighbors = r.int("neighbors", default: neighbors, range: 0...1_000_000)
        threshold = r.int("threshold", default: threshold, range: 0...1_000_000)
        bits = r.int("bits", default: bits, range: 8...32)
        assumedDropout = r.double("assumed_dropout", default: assumedDropout, min: 0, max: 0.9)
        assumedCorruption = r.double("assumed_corruption", default: assumedCorruption, min: 0, max: 0.5)
        valueClip = r.double("value_clip", default: valueClip, min: 0, max: 1e6, exclusiveMin: true)
        maxRowWeight = r.double("max_row_weight", default: maxRowWeight, min: 1, max: 1e9)
        maxExamples = r.double("max_examples", default: maxExamples, min: 1, max: 1e9)
        dropout = StageDropout(reading: r.section("dropout"))
        r.finish()
    }
}

extension PrivacyConfig {
    init(reading r: ConfigReader) {
        self.init()
        mechanism = r.choice("mechanism", default: mechanism)
        clip = r.double("clip", default: clip, min: 0, max: 1e6, exclusiveMin: true)
        noiseMultiplier = r.double("noise_multiplier", default: noiseMultiplier, min: 0, max: 90, exclusiveMin: true)
        delta = r.double("delta", default: delta, min: 0, max: 0.1, exclusiveMin: true)
        let budget = r.section("budget")
        self.budget.epsilon = budget.double("epsilon", default: self.budget.epsilon, min: 0, max: 1e6)
        budget.finish()
        noise = r.choice("noise", default: noise)
        clipping = r.choice("clipping", default: clipping)
        let g = r.section("group_clips")
        groupClips.itemEmbedding = g.double(
            "item_embedding",
            default: groupClips.itemEmbedding,
            min: 0,
            max: 1e6,
            exclusiveMin: true
        )
        groupClips.itemBias = g.double("item_bias", default: groupClips.itemBias, min: 0, max: 1e6, exclusiveMin: true)
        groupClips.globalBias = g.double(
            "global_bias",
            default: groupClips.globalBias,
            min: 0,
            max: 1e6,
            exclusiveMin: true
        )
        g.finish()
        let a = r.section("adaptive_clipping")
        adaptiveClipping.enabled = a.bool("enabled", default: adaptiveClipping.enabled)
        adaptiveClipping.targetQuantile = a.double(
            "target_quantile",
            default: adaptiveClipping.targetQuantile,
            min: 0,
            max: 1
        )
        adaptiveClipping.learningRate = a.double(
            "learning_rate",
            default: adaptiveClipping.learningRate,
            min: 0,
            max: 10,
            exclusiveMin: true
        )
        adaptiveClipping.countNoise = a.double(
            "count_noise",
            default: adaptiveClipping.countNoise,
            min: 0,
            max: 1e6,
            exclusiveMin: true
        )
        a.finish()
        if adaptiveClipping.enabled && clipping == .perGroup {
            r.fail("adaptive_clipping", "adaptive clipping adapts one flat bound; use clipping: flat with it")
        }
        if adaptiveClipping.enabled && 2 * adaptiveClipping.countNoise <= noiseMultiplier {
            r.fail(
                "adaptive_clipping",
                "count_noise must exceed noise_multiplier / 2 (the update noise is z_Δ = (z⁻² − (2σ_b)⁻²)^-½)"
            )
        }
        r.finish()
    }
}

extension StageDropout {
    init(reading r: ConfigReader) {
        self.init()
        advertise = r.double("advertise", default: advertise, min: 0, max: 1)
        share = r.double("share", default: share, min: 0, max: 1)
        masked = r.double("masked", default: masked, min: 0, max: 1)
        unmask = r.double("unmask", default: unmask, min: 0, max: 1)
        r.finish()
    }
}

extension FaultConfig {
    init(reading r: ConfigReader) {
        self.init()
        kind = r.choice("kind", default: kind)
        process = r.int("process", default: process, range: 0...4096)
        round = r.int("round", default: round, range: 1...1_000_000)
        afterUpdates = r.int("after_updates", default: afterUpdates, range: 0...10_000_000)
        seconds = r.double("seconds", default: seconds, min: 0, max: 3600)
        scale = r.double("scale", default: scale, min: -1e9, max: 1e9)
        probability = r.double("probability", default: probability, min: 0, max: 1)
        r.finish()
    }
}

extension RuntimeConfig {
    init(reading r: ConfigReader) {
        self.init()
        processes = r.int("processes", default: processes, range: 0...4096)
        roundDeadlineSeconds = r.double(
            "round_deadline_seconds",
            default: roundDeadlineSeconds,
            min: 0,
            max: 86_400,
            exclusiveMin: true
        )
        connectTimeoutSeconds = r.double(
            "connect_timeout_seconds",
            default: connectTimeoutSeconds,
            min: 0,
            max: 3_600,
            exclusiveMin: true
        )
        minDevicesPerRound = r.int("min_devices_per_round", default: minDevicesPerRound, range: 0...10_000_000)
        maxFrameBytes = r.int("max_frame_bytes", default: maxFrameBytes, range: 4_096...(1 << 31))
        checkpointEvery = r.int("checkpoint_every", default: checkpointEvery, range: 0...1_000_000)
        faults = r.sections("faults").map { s in
            let f = FaultConfig(reading: s)
            return f
        }
        r.finish()
    }

    /// The number of client processes after resolving `0` to the core count.
    public func resolvedProcesses(cores: Int) -> Int { processes == 0 ? max(1, cores) : processes }
}

extension PartitionConfig {
    init(reading r: ConfigReader) {
        self.init()
        method = r.choice("method", default: method)
        devices = r.int("devices", default: devices, range: 0...50_000_000)
        label = r.choice("label", default: label)
        alpha = r.double("alpha", default: alpha, min: 0, max: 1e6, exclusiveMin: true)
        shardsPerDevice = r.int("shards_per_device", default: shardsPerDevice, range: 1...10_000)
        sizes = r.choice("sizes", default: sizes)
        sizeSigma = r.double("size_sigma", default: sizeSigma, min: 0, max: 10)
        sizeExponent = r.double("size_exponent", default: sizeExponent, min: 1, max: 10, exclusiveMin: true)
        minPerDevice = r.int("min_per_device", default: minPerDevice, range: 1...1_000_000)
        r.finish()
    }
}

extension FleetConfig {
    init(reading r: ConfigReader) {
        self.init()
        availability = AvailabilityConfig(reading: r.section("availability"))
        let c = r.section("compute")
        compute.examplesPerSecond = c.double(
            "examples_per_second",
            default: compute.examplesPerSecond,
            min: 0,
            max: 1e12,
            exclusiveMin: true
        )
        compute.sigma = c.double("sigma", default: compute.sigma, min: 0, max: 5)
        c.finish()
        let n = r.section("network")
        network.downloadMbps = n.double(
            "download_mbps",
            default: network.downloadMbps,
            min: 0,
            max: 1e6,
            exclusiveMin: true
        )
        network.uploadMbps = n.double("upload_mbps", default: network.uploadMbps, min: 0, max: 1e6, exclusiveMin: true)
        network.bandwidthSigma = n.double("bandwidth_sigma", default: network.bandwidthSigma, min: 0, max: 5)
        network.latencyMs = n.double("latency_ms", default: network.latencyMs, min: 0, max: 1e6)
        network.latencySigma = n.double("latency_sigma", default: network.latencySigma, min: 0, max: 5)
        n.finish()
        deadlineSeconds = r.double("deadline_seconds", default: deadlineSeconds, min: 0, max: 1e7)
        overSelection = r.double("over_selection", default: overSelection, min: 1, max: 10)
        r.finish()
    }
}

extension AvailabilityConfig {
    init(reading r: ConfigReader) {
        self.init()
        model = r.choice("model", default: model)
        timezones = r.doubleList("timezones", default: timezones)
        if timezones.isEmpty || timezones.contains(where: { $0 < -12 || $0 > 14 }) {
            r.fail("timezones", "expected a non-empty list of UTC offsets in -12...14 hours")
        }
        chargingStartHour = r.double("charging_start_hour", default: chargingStartHour, min: 0, max: 24)
        chargingStartSpread = r.double("charging_start_spread", default: chargingStartSpread, min: 0, max: 12)
        chargingHours = r.double("charging_hours", default: chargingHours, min: 0, max: 24)
        chargingHoursSpread = r.double("charging_hours_spread", default: chargingHoursSpread, min: 0, max: 12)
        wifiShare = r.double("wifi_share", default: wifiShare, min: 0, max: 1)
        wifiStartHour = r.double("wifi_start_hour", default: wifiStartHour, min: 0, max: 24)
        wifiStartSpread = r.double("wifi_start_spread", default: wifiStartSpread, min: 0, max: 12)
        wifiHours = r.double("wifi_hours", default: wifiHours, min: 0, max: 24)
        reachable = r.double("reachable", default: reachable, min: 0, max: 1)
        startHourUTC = r.double("start_hour_utc", default: startHourUTC, min: 0, max: 24)
        roundIntervalSeconds = r.double("round_interval_seconds", default: roundIntervalSeconds, min: 0, max: 1e7)
        r.finish()
    }
}

extension CompressionConfig {
    init(reading r: ConfigReader) {
        self.init()
        let names = r.stringList("stages", default: stages.map(\.rawValue))
        var parsed: [Stage] = []
        for n in names {
            guard let st = Stage(rawValue: n) else {
                r.fail(
                    "stages",
                    "unknown stage \"\(n)\"; expected \(Stage.allCases.map(\.rawValue).joined(separator: ", "))"
                )
                continue
            }
            parsed.append(st)
        }
        stages = parsed
        if !Self.validStacks.contains(stages) {
            r.fail(
                "stages",
                "[\(names.joined(separator: ", "))] is not a stack the coordinator decodes; valid: "
                    + Self.validStacks.dropFirst().map { "[" + $0.map(\.rawValue).joined(separator: ", ") + "]" }
                    .joined(separator: " ")
            )
        }
        bits = r.int("bits", default: bits, range: 1...16)
        fraction = r.double("fraction", default: fraction, min: 0, max: 1, exclusiveMin: true)
        errorFeedback = r.bool("error_feedback", default: errorFeedback)
        blockSize = r.int("block_size", default: blockSize, range: 16...65_536)
        if stages.contains(.rotate) && blockSize & (blockSize - 1) != 0 {
            r.fail("block_size", "rotation needs a power of two")
        }
        r.finish()
    }
}

extension DriftConfig {
    init(reading r: ConfigReader) {
        self.init()
        periods = r.int("periods", default: periods, range: 0...10_000)
        periodDays = r.double("period_days", default: periodDays, min: 0, max: 3_650, exclusiveMin: true)
        hotTopics = r.int("hot_topics", default: hotTopics, range: 1...8)
        turnover = r.double("turnover", default: turnover, min: 0, max: 1)
        topics = r.choice("topics", default: topics)
        hotShare = r.double("hot_share", default: hotShare, min: 0, max: 1)
        hotBoost = r.double("hot_boost", default: hotBoost, min: 0, max: 4)
        externalDelayPeriods = r.int("external_delay_periods", default: externalDelayPeriods, range: 0...10_000)
        r.finish()
    }
}
