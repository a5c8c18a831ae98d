/// Rules that span sections, kept beside the section they constrain: a reader looking for
/// what `compression` may be combined with finds it under compression's rules, and a new
/// section brings its own rules function and one line in `crossCheck`. Each returns
/// (key path, message) pairs; the loader attaches the line and sorts by it.
extension Scenario {
    /// Per-round counts against the population, and what a 0-round run allows.
    func populationRules() -> [(String, String)] {
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
        if training.rounds == 0 && (training.async.enabled || training.mode == .centralized) {
            out.append(
                (
                    "training.rounds",
                    "0 (evaluate the initial model, a no-training baseline) needs synchronous federated training"
                )
            )
        }
        return out
    }

    /// Robust rules read individual updates: neither secure aggregation nor the DP accountant allows them.
    func aggregationRules() -> [(String, String)] {
        var out: [(String, String)] = []
        if training.aggregation.kind != .mean && secureAggregation.enabled {
            out.append(
                (
                    "training.aggregation",
                    "\(training.aggregation.kind.rawValue) needs each device's update, and secure aggregation hides them by design; set secure_aggregation.protocol: none, or use aggregation: mean (with DP clipping to bound each device's influence)"
                )
            )
        }
        if training.aggregation.kind != .mean && privacy.enabled {
            out.append(
                (
                    "training.aggregation",
                    "the DP accountant assumes a clipped sum; \(training.aggregation.kind.rawValue) is not accounted (with DP, the coordinator already re-clips every update to privacy.clip)"
                )
            )
        }
        return out
    }

    /// Over-selection and stratification against the sampler and the data.
    func samplingRules() -> [(String, String)] {
        var out: [(String, String)] = []
        if fleet.overSelection > 1 && training.sampling == .poisson {
            out.append(
                (
                    "fleet.over_selection",
                    "over-selection needs a fixed-size sampler; with Poisson sampling the rate itself sets the expected count (raise devices_per_round instead)"
                )
            )
        }
        if training.sampling.stratifiesByDomain && data.partition.method == .natural {
            if data.source == .movielens {
                out.append(
                    ("training.sampling.by", "MovieLens-100K has one domain; stratify by activity, or re-partition it")
                )
            } else if data.source == .synthetic && data.synthetic.domains.count < 2 {
                out.append(("training.sampling.by", "the synthetic population has one domain; stratify by activity"))
            }
        }
        return out
    }

    /// FedBuff (asynchronous rounds): what it composes with.
    func asyncRules() -> [(String, String)] {
        var out: [(String, String)] = []
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
            if training.aggregation.kind != .mean {
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
        return out
    }
}
