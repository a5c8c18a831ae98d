import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimMetrics
import FedSimModels
import FedSimPrivacy
import FedSimSecAgg
import FedSimWire

/// Secure aggregation on the coordinator: enrollment of device identities, then per round the
/// four SecAgg+ stages over the same transport as training. The coordinator keeps only the
/// running sum of masked inputs; a plain `update` from a client while secure aggregation is on
/// is refused and its connection closed, so no individual update enters the aggregate.
extension Coordinator {
    /// Stores a process's enrollment (its devices' identity public keys). Returns false and
    /// closes the connection when the list is not exactly the process's own devices.
    func enroll(process p: Int, connection c: ConnectionID, _ env: SecAggEnvelope) async -> Bool {
        guard case .enroll(let list)? = try? SecAggPayload.decode(stage: env.stage, env.body),
            let range = peers[p]?.range
        else {
            await protocolViolation(c, p, "sent a malformed enrollment")
            return false
        }
        guard list.count == range.count, list.allSatisfy({ range.contains(Int($0.device)) }),
            Set(list.map(\.device)).count == list.count
        else {
            await protocolViolation(
                c,
                p,
                "enrolled devices that are not exactly its own \(range.lowerBound)..<\(range.upperBound)"
            )
            return false
        }
        // A process that reconnects enrols again; its devices' identity keys must not change
        // (a process cannot swap in new identities for devices mid-run).
        for (d, pk) in list where identityKeys.conflicts(d, pk) {
            await protocolViolation(c, p, "re-enrolled device \(d) with a different identity key")
            return false
        }
        for (d, pk) in list { identityKeys.set(d, pk) }
        enrolledProcesses.insert(p)
        log.info("client process \(p) enrolled \(list.count) device identities")
        return true
    }

    struct SecureOutcome {
        var mean: [Float]?
        /// Σ weighted deltas (dequantized), for central DP.
        var sum: [Double]? = nil
        /// With distributed DP: the noise multiplier the survivors' noise achieved.
        var realizedMultiplier: Double? = nil
        /// Devices whose update was within the DP clip (a total from the secure sum).
        var withinClip = 0
        var survivors: Int
        var survivorIDs: [Int] = []
        var examples: Double
        var lossSum: Double
        var abandoned: String?
        var line: SecAggRound
    }

    /// The round's quantizer; both sides build it from public values, so the scales agree.
    static func quantizer(scenario: Scenario, layout: ParameterLayout, devices n: Int) throws -> SecureSumQuantizer {
        let sa = scenario.secureAggregation
        let headroom =
            scenario.privacy.mechanism == .distributed
            ? DistributedDP.headroom(noiseMultiplier: scenario.privacy.noiseMultiplier, devices: n) : 1
        // Uniform weighting sends weight 1 in every slot: bound the weights by 1, which also
        // gives every value element the same scale (what DP noise in the integer domain needs).
        let uniform = scenario.training.weighting == .uniform
        return try SecureSumQuantizer(
            layout: layout,
            bits: sa.bits,
            maxContributors: n,
            valueClip: sa.valueClip,
            maxRowWeight: uniform ? 1 : sa.maxRowWeight,
            maxExamples: sa.maxExamples,
            maxWholeWeight: uniform ? 1 : nil,
            noiseHeadroom: headroom
        )
    }

    func secAggParameters(n: Int) -> (k: Int, t: Int) {
        let c = scenario.secureAggregation
        let γ = c.assumedCorruption
        // Over-selection discards a known share of the selected devices at the masked stage:
        // the graph must tolerate it on top of the assumed dropout.
        let δ = min(0.9, c.assumedDropout + (1 - 1 / scenario.fleet.overSelection))
        func threshold(_ k: Int) -> Int {
            c.threshold > 0 ? min(c.threshold, k) : min(k, Int(((1 + γ) * Double(k) / 2).rounded(.down)) + 1)
        }
        if c.neighbors > 0 {
            let k = min(c.neighbors, n - 1)
            return (k, threshold(k))
        }
        if c.protocol == .secagg { return (n - 1, threshold(n - 1)) }
        let p = SecAggParameters.choose(n: n, dropoutRate: δ, corruptionRate: γ)
        return (p.k, c.threshold > 0 ? min(c.threshold, p.k) : p.t)
    }

    /// `trainRequests` replaces the one train request per process (FedBuff: devices train on
    /// different model versions, each with its staleness weight).
    func runSecureRound(
        _ r: Int,
        chosen: [Int],
        assignments: [ConnectionID: [UInt32]],
        discard: Set<Int> = [],
        trainRequests: [ConnectionID: [DeviceRequest]]? = nil
    ) async throws -> SecureOutcome {
        let n = chosen.count
        let quantizer = try Self.quantizer(scenario: scenario, layout: layout, devices: n)
        let sa = scenario.secureAggregation
        // Distributed DP: the noise in the sum is what the survivors added, so the realized
        // multiplier is known once U3 is, before anything is unmasked.
        var realizedWith: ((Int) -> Double)?
        if scenario.privacy.mechanism == .distributed {
            let Δ = quantizer.integerSensitivity(clip: scenario.privacy.sensitivity)
            let σdev = DistributedDP.deviceSigma(
                noiseMultiplier: scenario.privacy.noiseMultiplier,
                sensitivity: Δ,
                devices: n,
                assumedDropout: sa.assumedDropout
            )
            realizedWith = { DistributedDP.realizedMultiplier(deviceSigma: σdev, sensitivity: Δ, survivors: $0) }
            guard σdev.isFinite && σdev * σdev <= DiscreteGaussian.maximumSigmaSquared else {
                // Every device would have to refuse (it never sends an un-noised input): a
                // configuration that cannot work, said once, before the round begins.
                throw Failure(
                    description:
                        "round \(r): distributed DP needs per-device noise σ_dev = \(σdev) (integer units) for \(n) devices, "
                        + "beyond the exact sampler's range (σ² ≤ 1e16); lower privacy.clip (\(scenario.privacy.clip)) or "
                        + "secure_aggregation.bits, or sample more devices per round"
                )
            }
        }
        let s = try await runSecureSum(
            round: UInt32(r),
            chosen: chosen,
            assignments: assignments,
            length: quantizer.length,
            graphSeed: Seeds.derive(scenario.seed, "secagg.graph", UInt64(r)),
            discard: discard,
            beforeUnmask: { survivors in
                // The budget holds with the noise actually in the sum: if releasing it would take
                // ε past the budget, the sum stays masked and the run stops (nothing released).
                guard let realizedWith else { return nil }
                let z = realizedWith(survivors.count)
                guard let why = self.strategy.refusesRelease(round: r, noiseMultiplier: z, survivors: survivors.count)
                else { return nil }
                self.budgetStop = why
                return why
            },
            afterBegin: { c, devices in
                // With the round announced, hand out the model to train.
                if let requests = trainRequests?[c] {
                    for req in requests { await self.send(.train(req), to: c) }
                } else {
                    await self.send(
                        .train(
                            DeviceRequest(
                                round: UInt32(r),
                                devices: devices,
                                shared: self.model,
                                clip: self.strategy.deviceClip
                            )
                        ),
                        to: c
                    )
                }
            }
        )
        guard let sum = s.sum else {
            return SecureOutcome(mean: nil, survivors: 0, examples: 0, lossSum: 0, abandoned: s.abandoned, line: s.line)
        }
        let survivors = s.survivors
        var totals = quantizer.dequantize(sum)
        if scenario.compression.stages == [.rotate] {
            // Σ R·x = R·Σ x: undo the round's shared rotation on the sum.
            SharedRotation(
                blockSize: scenario.compression.blockSize,
                seed: Seeds.derive(scenario.seed, "secagg.rotation", UInt64(r))
            )
            .inverse(&totals.weightedDelta, count: totals.weightedDelta.count)
        }
        let realized = realizedWith?(survivors.count)
        // The coordinator cannot bound a device's Δ inside a secure sum; it bounds the mean,
        // which no mean of honest (quantizer-clipped) votes exceeds.
        var mean = quantizer.mean(
            weightedDelta: totals.weightedDelta,
            weights: totals.weights,
            shrinkage: scenario.training.itemShrinkage
        )
        var line = s.line
        let bounded = updateBounds.enforce(mean: &mean)
        if bounded > 0 {
            line.boundedAtCoordinator = bounded
            log.warning(
                "round \(r): \(bounded) elements of the secure mean were beyond what honest devices send (|Δ| ≤ \(updateBounds.maxDelta)); clipped"
            )
        }
        return SecureOutcome(
            mean: mean,
            sum: totals.weightedDelta,
            realizedMultiplier: realized,
            withinClip: Int(totals.withinClip),
            survivors: survivors.count,
            survivorIDs: survivors.map { Int($0) }.sorted(),
            examples: totals.examples,
            lossSum: totals.lossSum,
            abandoned: nil,
            line: line
        )
    }

    /// The outcome of one SecAgg+ protocol run: the unmasked sum in Z_{2^bits} of the
    /// survivors' inputs, or why there is none.
    struct SecureSum {
        var sum: [UInt32]?
        var survivors: Set<UInt32>
        var line: SecAggRound
        var abandoned: String?
    }
}
