import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimModels
import FedSimPrivacy
import FedSimSecAgg
import FedSimWire

/// A client process's side of secure aggregation: it runs one `SecAggDevice` state machine
/// per sampled device it hosts, quantizes each device's update, and answers each stage with
/// one batch for all its live devices. A device that goes silent (a simulated dropout, or a
/// refused step) is simply absent from the batch, which is exactly what the coordinator
/// would see of a real dropout once the stage times out.
final class SecAggParticipant {
    let host: DeviceHost
    let enrollment: Enrollment
    let config: SecureAggregationConfig
    var log: Log
    var round: SecAggRoundConfig?
    var graph: NeighbourGraph?
    var quantizer: SecureSumQuantizer?
    var devices: [UInt32: SecAggDevice] = [:]
    var inputs: [UInt32: [UInt32]] = [:]
    var silentFrom: [UInt32: SecAggStage] = [:]
    var scratch: [UInt32] = []
    /// Signature checks and key agreements the process's devices share this round.
    var sharedWork = SecAggSharedWork()
    /// Masked inputs sent this round (for crash faults "after N updates").
    var maskedSent = 0
    /// Neighbours' enrolled identity keys looked up this round. Deriving one is a BLAKE2b, a
    /// SHA-512 and an Ed25519 base-point multiplication, and each of the process's devices looks
    /// up each of its k neighbours: at 2,000 devices and k = 48 that was 96,000 derivations for
    /// about 2,000 distinct keys. Public keys only, emptied every round.
    var identityKeys: [UInt32: [UInt8]] = [:]
    /// This process's own devices' identity key pairs, derived from the enrollment secret once
    /// per run instead of once per round (the derivation is a BLAKE2b, a SHA-512 and a
    /// base-point multiplication). They are the same long-term keys either way, held by the
    /// same process that holds the enrollment secret they come from.
    var identities: [UInt32: Sodium.SigningKeyPair] = [:]

    init(host: DeviceHost, enrollment: Enrollment, log: Log) {
        self.host = host
        self.enrollment = enrollment
        config = host.scenario.secureAggregation
        self.log = log
    }

    func enrollment(devices: Range<Int>) -> SecAggPayload {
        .enroll(devices.map { (UInt32($0), enrollment.publicKey(of: UInt32($0))) })
    }

    /// The stage before which a device goes silent this round, if any (seeded per device and round).
    func simulatedDropout(_ d: UInt32, round r: UInt32) -> SecAggStage? {
        var rng = Seeds.rng(host.scenario.seed, "secagg.dropout", UInt64(d), UInt64(r))
        let p = config.dropout
        for (stage, prob) in [
            (SecAggStage.advertise, p.advertise), (.shares, p.share), (.masked, p.masked), (.reveal, p.unmask),
        ] {
            if rng.nextUnitDouble() < prob { return stage }
        }
        return nil
    }

    func alive(_ d: UInt32, at stage: SecAggStage) -> Bool {
        guard devices[d] != nil else { return false }
        guard let s = silentFrom[d] else { return true }
        return stage.rawValue < s.rawValue
    }

    /// Takes the round's parameters (devices, k, t, graph seed) as the coordinator sends them.
    /// Trust model: the coordinator is semi-honest. Devices check only that 1 ≤ t ≤ their
    /// neighbour count; they do not derive k, t or the seed from public values, so a deviating
    /// coordinator could choose them (docs/secure-aggregation.md, "Trust assumptions").
    func begin(_ c: SecAggRoundConfig) throws -> SecAggPayload {
        round = c
        let g = c.graph()
        graph = g
        devices = [:]
        inputs = [:]
        silentFrom = [:]
        maskedSent = 0
        identityKeys = [:]
        sharedWork = SecAggSharedWork()
        let exposure = c.round & Coordinator.evaluationRoundFlag != 0
        if exposure {
            // An evaluation round: the inputs are the devices' exposure counts, already known.
            quantizer = nil
            guard c.length == 2 * host.population.itemCount else {
                throw SecAggError(
                    .badLength,
                    "evaluation round announces vectors of \(c.length), exposure counts need \(2 * host.population.itemCount)"
                )
            }
        } else {
            quantizer = try Coordinator.quantizer(
                scenario: host.scenario,
                layout: host.codec.layout,
                devices: c.devices.count
            )
            guard quantizer!.length == c.length else {
                throw SecAggError(
                    .badLength,
                    "round \(c.round) announces vectors of \(c.length), this model needs \(quantizer!.length)"
                )
            }
        }
        var keys: [AdvertisedKeys] = []
        let mine = c.devices.filter { host.hosts(Int($0)) }
        let pairs = Sodium.AgreementKeyPair.randomBatch(count: 2 * mine.count)
        for (i, d) in mine.enumerated() {
            var dev = try SecAggDevice(
                device: d,
                identity: identity(d),
                config: c,
                graph: g,
                sharedWork: sharedWork,
                keys: (pairs[2 * i], pairs[2 * i + 1])
            )
            if let s = simulatedDropout(d, round: c.round) { silentFrom[d] = s }
            if silentFrom[d] == .advertise { continue }
            keys.append(try dev.advertise())
            devices[d] = dev
            if exposure { inputs[d] = host.exposureInput(Int(d)) }
        }
        return .advertise(keys)
    }

    /// Trains and quantizes the round's live devices (called on the round's train request).
    /// `poisonScale`: a `poison` fault's factor (a compromised process scaling its updates;
    /// the quantizer's public bounds still cap every element).
    func train(_ req: DeviceRequest, poisonScale: Float? = nil) -> Int {
        guard let c = round, c.round == req.round, let q = quantizer else { return 0 }
        var clipped = 0
        for d in req.devices where devices[d] != nil {
            var u = host.train(device: Int(d), round: Int(req.round), shared: req.shared, clip: req.clip)
            if let s = poisonScale { for i in u.weightedDelta.indices { u.weightedDelta[i] *= s } }
            if host.scenario.compression.stages == [.rotate] {
                // The round's shared rotation (the coordinator undoes it on the sum).
                SharedRotation(
                    blockSize: host.scenario.compression.blockSize,
                    seed: Seeds.derive(host.scenario.seed, "secagg.rotation", UInt64(req.round))
                )
                .forward(&u.weightedDelta, count: u.weightedDelta.count)
            }
            if req.scale != 1 {  // FedBuff staleness weight, applied before quantization and masking
                for i in u.weightedDelta.indices { u.weightedDelta[i] *= req.scale }
                for i in u.weights.indices { u.weights[i] *= req.scale }
            }
            var rng = Seeds.rng(host.scenario.seed, "secagg.quantize", UInt64(d), UInt64(req.round))
            var (v, n) = q.quantize(
                weightedDelta: u.weightedDelta,
                weights: u.weights,
                examples: u.examples,
                meanLoss: u.trainLoss,
                withinClip: host.scenario.privacy.enabled && u.withinClip,
                rng: &rng
            )
            let privacy = host.scenario.privacy
            if privacy.mechanism == .distributed {
                // Distributed DP: this device's share of the noise, added before masking.
                let Δ = q.integerSensitivity(clip: privacy.sensitivity)
                let σdev = DistributedDP.deviceSigma(
                    noiseMultiplier: privacy.noiseMultiplier,
                    sensitivity: Δ,
                    devices: c.devices.count,
                    assumedDropout: config.assumedDropout
                )
                guard σdev.isFinite && σdev * σdev <= DiscreteGaussian.maximumSigmaSquared else {
                    // Never send an input without its noise: this device sits the round out.
                    log.error(
                        "round \(req.round): device \(d) cannot draw its share of the noise (σ_dev = \(σdev) is beyond the exact sampler's range); it sits this round out"
                    )
                    continue
                }
                var noise =
                    privacy.noise == .secure
                    ? NoiseRandomness(.secure)
                    : NoiseRandomness(
                        .reproducible(
                            seed: Seeds.derive(host.scenario.seed, "dp.device.noise", UInt64(d), UInt64(req.round))
                        )
                    )
                DistributedDP.addNoise(to: &v, count: q.layout.count, deviceSigma: σdev, randomness: &noise)
            }
            inputs[d] = v
            clipped += n
        }
        return clipped
    }

    func identity(_ d: UInt32) -> Sodium.SigningKeyPair {
        if let k = identities[d] { return k }
        let k = enrollment.identity(of: d)
        identities[d] = k
        return k
    }

    /// `enrollment.publicKey(of:)`, derived once per device and round.
    func identityKey(_ d: UInt32) -> [UInt8]? {
        if let k = identityKeys[d] { return k }
        let k = enrollment.publicKey(of: d)
        identityKeys[d] = k
        return k
    }

    func share(_ list: [(device: UInt32, keys: [AdvertisedKeys])]) -> SecAggPayload {
        var out: [EncryptedShare] = []
        for (d, keys) in list where alive(d, at: .shares) {
            do {
                out += try devices[d]!.shareKeys(keys, identityKey: identityKey)
            } catch {
                log.warning("secure aggregation: device \(d) refuses to share keys: \(error)")
                silentFrom[d] = .shares
            }
        }
        return .shares(out)
    }

    /// Masks each live device's input; `send` delivers each masked vector as it is made.
    func mask(
        _ list: [(device: UInt32, shares: [EncryptedShare])],
        send: (SecAggPayload) async throws -> Void,
        beforeEach: (Int) async throws -> Void
    ) async throws {
        // Pairs of this process's devices expand their mask stream once (`SecAggSharedWork`).
        sharedWork.willMask = Set(list.map(\.device).filter { alive($0, at: .masked) && inputs[$0] != nil })
        defer { sharedWork.willMask = [] }
        for (d, shares) in list where alive(d, at: .masked) {
            guard let x = inputs[d] else { continue }
            sharedWork.willMask.remove(d)
            try await beforeEach(maskedSent)
            do {
                let y = try devices[d]!.maskedInput(x, sharesForMe: shares, scratch: &scratch)
                try await send(.masked(device: d, vector: y))
                maskedSent += 1
            } catch let e as SecAggError {
                log.warning("secure aggregation: device \(d) refuses to mask: \(e)")
                silentFrom[d] = .masked
            }
        }
        try await send(.maskedDone)
    }

    func unmask(_ survivors: [UInt32]) -> SecAggPayload {
        let set = Set(survivors)
        var out: [RevealedShare] = []
        for d in survivors where host.hosts(Int(d)) && alive(d, at: .reveal) {
            do {
                out += try devices[d]!.unmask(survivors: set)
            } catch {
                log.warning("secure aggregation: device \(d) refuses to unmask: \(error)")
            }
        }
        return .reveal(out)
    }
}
