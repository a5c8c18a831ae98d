import FedSimCore
import Foundation
import Yams

// How each section of a scenario file is read: every key with its default and range, every
// error with its key path (ConfigReader).

extension DataConfig {
    init(reading r: ConfigReader) {
        self.init()
        source = r.choice("source", default: source)
        path = r.string("path", default: path)
        if source == .interactions || r.has("interactions") {
            interactions = InteractionsConfig(reading: r.section("interactions"))
        } else {
            _ = r.node("interactions")
        }
        if source == .recbole || r.has("recbole") {
            recbole = RecBoleConfig(reading: r.section("recbole"))
        } else {
            _ = r.node("recbole")
        }
        split = SplitConfig(reading: r.section("split"))
        partition = PartitionConfig(reading: r.section("partition"))
        synthetic = SyntheticConfig(reading: r.section("synthetic"))
        movielensDomains = r.choice("movielens_domains", default: movielensDomains)
        duplicates = r.choice("duplicates", default: duplicates)
        r.finish()
    }
}

extension SplitConfig {
    init(reading r: ConfigReader) {
        self.init()
        method = r.choice("method", default: method)
        testFraction = r.double("test_fraction", default: testFraction, min: 0, max: 0.9)
        minTrain = r.int("min_train", default: minTrain, range: 1...1_000)
        validation = r.bool("validation", default: validation)
        validationFraction = r.double(
            "validation_fraction",
            default: validationFraction,
            min: 0,
            max: 0.9,
            exclusiveMin: true
        )
        // scenario.json spells every default out, so only a changed fraction is a contradiction.
        if validation && method == .leaveOneOut && validationFraction != SplitConfig().validationFraction {
            r.fail(
                "validation_fraction",
                "leave_one_out validates on each device's second-latest interaction; drop validation_fraction"
            )
        }
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
        recencyDays = r.double("recency_days", default: recencyDays, min: 0, max: 100_000)
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
        loss = r.choice("loss", default: loss)
        negatives = r.int("negatives", default: negatives, range: 1...64)
        positiveThreshold = r.double("positive_threshold", default: positiveThreshold, min: 0, max: 1_000_000)
        logqCorrection = r.bool("logq_correction", default: logqCorrection)
        learningRateSchedule = r.choice("learning_rate_schedule", default: learningRateSchedule)
        learningRateDecay = r.double(
            "learning_rate_decay",
            default: learningRateDecay,
            min: 0,
            max: 1,
            exclusiveMin: true
        )
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
        learningRateDecay = r.double(
            "learning_rate_decay",
            default: learningRateDecay,
            min: 0,
            max: 1,
            exclusiveMin: true
        )
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
        sampling = SamplingRule(reading: r, key: "sampling")
        aggregation = AggregationRule(reading: r, key: "aggregation")
        for (old, setting) in [
            ("trim_fraction", "{rule: trimmed_mean, fraction: …}"), ("norm_bound", "{rule: norm_bounded, bound: …}"),
        ]
        where r.has(old) {
            _ = r.node(old)
            r.fail(old, "the rule's settings moved into the rule: write training.aggregation: \(setting)")
        }
        let a = r.section("async")
        async.enabled = a.bool("enabled", default: async.enabled)
        async.bufferSize = a.int("buffer_size", default: async.bufferSize, range: 1...1_000_000)
        async.concurrency = a.int("concurrency", default: async.concurrency, range: 1...10_000_000)
        async.stalenessExponent = a.double("staleness_exponent", default: async.stalenessExponent, min: 0, max: 10)
        async.maxStaleness = a.int("max_staleness", default: async.maxStaleness, range: 0...1_000_000)
        a.finish()
        for old in ["stratify_by", "activity_strata"] where r.has(old) {
            _ = r.node(old)
            r.fail(
                old,
                "the sampler's settings moved into the sampler: write training.sampling: {rule: stratified, by: domain|activity, strata: …}"
            )
        }
        local = LocalTrainingConfig(reading: r.section("local"))
        server = ServerOptimizerConfig(reading: r.section("server"))
        earlyStopping = EarlyStoppingConfig(reading: r.section("early_stopping"))
        itemShrinkage = r.double("item_shrinkage", default: itemShrinkage, min: 0, max: 1e6)
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
        implicit = r.bool("implicit", default: implicit)
        biasBaseline = BiasBaselineConfig(reading: r.section("bias_baseline"))
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
        let choice = r.choice("prg", default: MaskPRGChoice.auto)
        prg = choice == .auto ? nil : choice
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
        logParticipation = r.bool("log_participation", default: logParticipation)
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
        if r.has("audit") {
            let au = r.section("audit")
            var audit = PrivacyAudit()
            audit.canaries = au.int("canaries", default: audit.canaries, range: 20...1_000_000)
            audit.confidence = au.double("confidence", default: audit.confidence, min: 0.5, max: 0.9999)
            au.finish()
            self.audit = audit
        }
        if adaptiveClipping.enabled && clipping == .perGroup {
            r.fail("adaptive_clipping", "adaptive clipping adapts one flat bound; use clipping: flat with it")
        }
        if adaptiveClipping.enabled && adaptiveClipping.countNoise < noiseMultiplier {
            r.fail(
                "adaptive_clipping",
                "count_noise must be at least noise_multiplier: the update noise is z_Δ = (z⁻² − (2σ_b)⁻²)^-½, "
                    + "which grows without bound as count_noise falls towards noise_multiplier / 2"
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
        handshakeTimeoutSeconds = r.double(
            "handshake_timeout_seconds",
            default: handshakeTimeoutSeconds,
            min: 0,
            max: 3_600,
            exclusiveMin: true
        )
        maxPendingConnections = r.int("max_pending_connections", default: maxPendingConnections, range: 1...100_000)
        checkpointEvery = r.int("checkpoint_every", default: checkpointEvery, range: 0...1_000_000)
        faults = r.sections("faults").map { s in
            let f = FaultConfig(reading: s)
            return f
        }
        listen = r.string("listen", default: listen)
        if listen != "unix" && TCPAddress(parsing: listen) == nil {
            r.fail("listen", "\"\(listen)\" is neither unix nor tcp://HOST:PORT (port 0…65535)")
        }
        connect = r.string("connect", default: connect)
        if !connect.isEmpty {
            if let a = TCPAddress(parsing: connect), a.port != 0 {
                if listen == "unix" { r.fail("connect", "needs runtime.listen: tcp://HOST:PORT") }
            } else {
                r.fail("connect", "\"\(connect)\" is not tcp://HOST:PORT with a port in 1…65535")
            }
        }
        cluster = ClusterConfig(reading: r.section("cluster"), listen: listen, processes: processes)
        r.finish()
    }

    /// The number of client processes after resolving `0` to the core count.
    public func resolvedProcesses(cores: Int) -> Int { processes == 0 ? max(1, cores) : processes }
}
