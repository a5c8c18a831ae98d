import FedSimCore

/// Runs a whole SecAgg+ round in one process: every device's state machine and the server's,
/// with chosen dropouts at each stage. It is the reference driver for tests and benchmarks.
/// The runtime drives the same state machines over the wire.
public struct LocalRound {
    /// Devices that go silent *before* each stage: they never send that stage's message.
    public struct Dropouts {
        public var beforeAdvertise: Set<UInt32> = []
        public var beforeShare: Set<UInt32> = []
        public var beforeMasked: Set<UInt32> = []
        public var beforeUnmask: Set<UInt32> = []
        public init() {}
    }

    public struct Timing {
        public var deviceSeconds = 0.0  // all devices' work, summed
        public var maskingSeconds = 0.0  // of which the masking itself (PRG expansion)
        public var serverSeconds = 0.0
        public var bytesUpPerDevice = 0.0
    }

    public let config: SecAggRoundConfig
    public let identities: [UInt32: Sodium.SigningKeyPair]

    public init(config: SecAggRoundConfig, identities: [UInt32: Sodium.SigningKeyPair]) {
        self.config = config
        self.identities = identities
    }

    /// Runs the round. Returns the server's unmasked sum, the survivors U3, and the timing.
    public func run(
        inputs: [UInt32: [UInt32]],
        dropouts: Dropouts
    ) throws -> (sum: [UInt32], survivors: Set<UInt32>, timing: Timing) {
        var timing = Timing()
        let graph = config.graph()
        let pki: (UInt32) -> [UInt8]? = { identities[$0]?.publicKey }
        var server = SecAggServer(config: config, identityKey: pki)
        var devices: [UInt32: SecAggDevice] = [:]
        var bytesUp = 0
        var t = monotonicSeconds()
        for d in config.devices where !dropouts.beforeAdvertise.contains(d) {
            var dev = try SecAggDevice(device: d, identity: identities[d]!, config: config, graph: graph)
            let keys = try dev.advertise()
            bytesUp += 4 + 32 + 32 + 64
            devices[d] = dev
            timing.deviceSeconds += monotonicSeconds() - t
            t = monotonicSeconds()
            try server.receive(keys)
            timing.serverSeconds += monotonicSeconds() - t
            t = monotonicSeconds()
        }
        for d in config.devices where devices[d] != nil && !dropouts.beforeShare.contains(d) {
            let nk = server.neighbourKeys(for: d)
            t = monotonicSeconds()
            let shares = try devices[d]!.shareKeys(nk, identityKey: pki)
            bytesUp += shares.reduce(0) { $0 + 8 + $1.ciphertext.count }
            timing.deviceSeconds += monotonicSeconds() - t
            t = monotonicSeconds()
            try server.receive(shares: shares, from: d)
            timing.serverSeconds += monotonicSeconds() - t
        }
        var scratch: [UInt32] = []
        for d in config.devices where server.dealt.contains(d) && !dropouts.beforeMasked.contains(d) {
            let mine = server.shares(for: d)
            t = monotonicSeconds()
            let y = try devices[d]!.maskedInput(inputs[d]!, sharesForMe: mine, scratch: &scratch)
            let dt = monotonicSeconds() - t
            timing.deviceSeconds += dt
            timing.maskingSeconds += dt
            bytesUp += 4 * y.count
            t = monotonicSeconds()
            try server.receive(masked: y, from: d)
            timing.serverSeconds += monotonicSeconds() - t
        }
        let survivors = server.announceSurvivors()
        for d in survivors.sorted() where !dropouts.beforeUnmask.contains(d) {
            t = monotonicSeconds()
            let r = try devices[d]!.unmask(survivors: survivors)
            bytesUp += r.count * (9 + Shamir.Share.encodedBytes)
            timing.deviceSeconds += monotonicSeconds() - t
            t = monotonicSeconds()
            try server.receive(reveals: r, from: d)
            timing.serverSeconds += monotonicSeconds() - t
        }
        t = monotonicSeconds()
        let sum = try server.unmaskedSum(scratch: &scratch)
        timing.serverSeconds += monotonicSeconds() - t
        timing.bytesUpPerDevice = Double(bytesUp) / Double(max(1, config.devices.count))
        return (sum, survivors, timing)
    }
}
