/// Rules that span sections, kept beside the section they constrain: a reader looking for
/// what `compression` may be combined with finds it under compression's rules, and a new
/// section brings its own rules function and one line in `crossCheck`. Each returns
/// (key path, message) pairs; the loader attaches the line and sorts by it.
extension Scenario {
    /// The synthetic generator's counts must describe a population it can generate.
    func syntheticDataRules() -> [(String, String)] {
        var out: [(String, String)] = []
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
        return out
    }

    /// Re-partitioning over a label the dataset has.
    func partitionRules() -> [(String, String)] {
        var out: [(String, String)] = []
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
        return out
    }

    /// Injected faults must name a round and a process of this run.
    func faultRules() -> [(String, String)] {
        var out: [(String, String)] = []
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
