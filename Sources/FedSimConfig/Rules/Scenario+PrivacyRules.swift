/// Rules that span sections, kept beside the section they constrain: a reader looking for
/// what `compression` may be combined with finds it under compression's rules, and a new
/// section brings its own rules function and one line in `crossCheck`. Each returns
/// (key path, message) pairs; the loader attaches the line and sorts by it.
extension Scenario {
    /// Secure aggregation: its graph parameters and the cohort it needs.
    func secureAggregationRules() -> [(String, String)] {
        var out: [(String, String)] = []
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
        return out
    }

    /// DP: what the accountant assumes (Poisson sampling, uniform weights), where noise is private.
    func privacyRules() -> [(String, String)] {
        var out: [(String, String)] = []
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
        return out
    }

    /// Compression stages against secure aggregation, DP and robust aggregation.
    func compressionRules() -> [(String, String)] {
        var out: [(String, String)] = []
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
            if training.aggregation.kind != .mean {
                out.append(
                    (
                        "compression.stages",
                        "robust aggregation reads individual updates; combine it with compression only after measuring what the compression error does to it"
                    )
                )
            }
        }
        return out
    }
}
