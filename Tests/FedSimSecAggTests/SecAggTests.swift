import FedSimCore
import FedSimSecAgg
import Testing

@Suite struct ShamirTests {
    @Test func anyThresholdSubsetReconstructs() {
        let secret = SecureRandom.bytes(32)
        let xs: [UInt32] = Array(1...9)
        let shares = Shamir.split(secret, threshold: 4, xs: xs)
        var rng = Xoshiro256(seed: 3)
        for _ in 0..<30 {
            let pick = rng.sampleWithoutReplacement(4, from: 9).map { shares[$0] }
            #expect(Shamir.reconstruct(pick) == secret)
        }
    }

    @Test func fewerSharesDoNotReconstruct() {
        let secret = SecureRandom.bytes(32)
        let shares = Shamir.split(secret, threshold: 5, xs: Array(1...8))
        #expect(Shamir.reconstruct(Array(shares.prefix(4))) != secret)
    }

    @Test func sharesSurviveEncoding() {
        let s = Shamir.split(SecureRandom.bytes(32), threshold: 2, xs: [3, 7])
        #expect(s.map { Shamir.Share(encoded: $0.encoded()) } == s)
        #expect(Shamir.Share(encoded: [UInt8](repeating: 0xFF, count: Shamir.Share.encodedBytes)) == nil)
    }

    @Test func worksWithManyHolders() {
        let secret = SecureRandom.bytes(32)
        let shares = Shamir.split(secret, threshold: 600, xs: Array(1...999))
        #expect(Shamir.reconstruct(Array(shares.suffix(600))) == secret)
    }
}

@Suite struct NeighbourGraphTests {
    @Test(arguments: [(10, 4), (31, 6), (100, 20), (12, 11)])
    func graphIsRegularAndSymmetric(n: Int, k: Int) {
        let devices = (0..<n).map { UInt32($0 * 3 + 1) }
        let g = NeighbourGraph(devices: devices, k: k, seed: 9)
        for i in 0..<n {
            let nb = g.neighbours(of: i)
            #expect(nb.count == min(k, n - 1) && !nb.contains(i))
            for j in nb { #expect(g.neighbours(of: j).contains(i)) }
        }
        #expect(NeighbourGraph(devices: devices, k: k, seed: 9) == g)
    }

    @Test func parametersMeetTheirBounds() {
        for (n, delta) in [(100, 0.05), (1000, 0.1), (5000, 0.05), (20, 0.3)] {
            let p = SecAggParameters.choose(n: n, dropoutRate: delta, corruptionRate: 0.1)
            #expect(p.k <= n - 1 && p.t <= p.k)
            #expect(Double(p.t) > 1.1 * Double(p.k) / 2)  // no double reveal with γ = 0.1
            if p.k < n - 1 { #expect(p.failureBound <= 1e-6) }
        }
        // With 1,000 devices and 10% dropout SecAgg+ needs far fewer than n − 1 neighbours.
        #expect(SecAggParameters.choose(n: 1000, dropoutRate: 0.1, corruptionRate: 0.1).k < 200)
    }
}

@Suite struct SecAggProtocolTests {
    static func setup(
        n: Int,
        k: Int,
        t: Int,
        bits: Int,
        length: Int,
        seed: UInt64,
        prg: MaskPRG = .chacha20
    ) -> (SecAggRoundConfig, [UInt32: Sodium.SigningKeyPair], [UInt32: [UInt32]]) {
        var rng = Xoshiro256(seed: seed)
        var devices = Set<UInt32>()
        while devices.count < n { devices.insert(UInt32(rng.nextBounded(100_000))) }
        let config = SecAggRoundConfig(
            round: 7,
            devices: devices.sorted(),
            k: k,
            t: t,
            bits: bits,
            graphSeed: seed,
            length: length,
            prg: prg
        )
        var ids: [UInt32: Sodium.SigningKeyPair] = [:]
        var inputs: [UInt32: [UInt32]] = [:]
        let m = config.modulusMask
        for d in devices {
            ids[d] = .random()
            inputs[d] = (0..<length).map { _ in UInt32(truncatingIfNeeded: rng.next()) & m }
        }
        return (config, ids, inputs)
    }

    static func plainSum(_ inputs: [UInt32: [UInt32]], over devices: Set<UInt32>, mask: UInt32) -> [UInt32] {
        var s = [UInt32](repeating: 0, count: inputs.first!.value.count)
        for d in devices { for i in s.indices { s[i] &+= inputs[d]![i] } }
        return s.map { $0 & mask }
    }

    /// Property: for random graphs, seeds and dropout patterns that leave enough survivors, the
    /// unmasked sum equals the plain sum of the survivors' inputs, bit for bit, with either PRG.
    @Test(arguments: Array(1...12) as [UInt64], MaskPRG.allCases)
    func sumIsExactUnderRandomDropouts(seed: UInt64, prg: MaskPRG) throws {
        var rng = Xoshiro256(seed: seed &* 7919)
        let n = 12 + rng.nextBounded(30)
        let k = min(n - 1, 6 + 2 * rng.nextBounded(6))
        let t = k / 2 + 1 + rng.nextBounded(max(1, k / 4))
        let bits = [16, 24, 32][rng.nextBounded(3)]
        let (config, ids, inputs) = Self.setup(
            n: n,
            k: k,
            t: min(t, k),
            bits: bits,
            length: 50 + rng.nextBounded(100),
            seed: seed,
            prg: prg
        )
        var drops = LocalRound.Dropouts()
        let rate = 0.12 * rng.nextUnitDouble()
        for d in config.devices {
            let u = rng.nextUnitDouble()
            if u < rate / 4 {
                drops.beforeAdvertise.insert(d)
            } else if u < rate / 2 {
                drops.beforeShare.insert(d)
            } else if u < 3 * rate / 4 {
                drops.beforeMasked.insert(d)
            } else if u < rate {
                drops.beforeUnmask.insert(d)
            }
        }
        do {
            let (sum, survivors, _) = try LocalRound(config: config, identities: ids).run(
                inputs: inputs,
                dropouts: drops
            )
            #expect(sum == Self.plainSum(inputs, over: survivors, mask: config.modulusMask))
            let expected = Set(config.devices).subtracting(drops.beforeAdvertise).subtracting(drops.beforeShare)
                .subtracting(drops.beforeMasked)
            #expect(survivors == expected)
        } catch let e as SecAggError {
            // Only acceptable when the dropouts really left some device below its threshold.
            #expect([.tooFewNeighbours, .tooFewSurvivors, .reconstructionFailed].contains(e.code), "\(e)")
        }
    }

    @Test(arguments: MaskPRG.allCases)
    func adversarialDropoutsAtEveryStage(prg: MaskPRG) throws {
        // Drop the neighbours of one device, stage by stage, as close to its threshold as allowed.
        // 300 words: more than one 32-block batch of AES and a partial last one.
        let (config, ids, inputs) = Self.setup(n: 30, k: 10, t: 6, bits: 32, length: 300, seed: 99, prg: prg)
        let g = config.graph()
        let victim = config.devices[0]
        let nb = g.neighbours(of: 0).map { g.devices[$0] }
        var drops = LocalRound.Dropouts()
        drops.beforeShare = [nb[0]]
        drops.beforeMasked = [nb[1], nb[2]]
        drops.beforeUnmask = [nb[3]]
        let (sum, survivors, _) = try LocalRound(config: config, identities: ids).run(inputs: inputs, dropouts: drops)
        #expect(survivors.contains(victim) && !survivors.contains(nb[1]))
        #expect(sum == Self.plainSum(inputs, over: survivors, mask: config.modulusMask))
    }

    @Test func completeGraphIsOriginalSecAgg() throws {
        let (config, ids, inputs) = Self.setup(n: 15, k: 14, t: 8, bits: 32, length: 40, seed: 5)
        var drops = LocalRound.Dropouts()
        drops.beforeMasked = [config.devices[3], config.devices[9]]
        let (sum, survivors, _) = try LocalRound(config: config, identities: ids).run(inputs: inputs, dropouts: drops)
        #expect(survivors.count == 13)
        #expect(sum == Self.plainSum(inputs, over: survivors, mask: config.modulusMask))
    }

    @Test func tooFewSurvivorsAborts() {
        let (config, ids, inputs) = Self.setup(n: 12, k: 6, t: 4, bits: 32, length: 10, seed: 4)
        var drops = LocalRound.Dropouts()
        drops.beforeMasked = Set(config.devices.dropFirst(2))
        #expect(throws: SecAggError.self) {
            try LocalRound(config: config, identities: ids).run(inputs: inputs, dropouts: drops)
        }
    }

    // MARK: Negative tests: each attack is refused with a clear error, and nothing is revealed.

    func twoDevices() throws -> (SecAggRoundConfig, [UInt32: Sodium.SigningKeyPair], [UInt32: SecAggDevice]) {
        let (config, ids, _) = Self.setup(n: 8, k: 4, t: 3, bits: 32, length: 8, seed: 11)
        var devs: [UInt32: SecAggDevice] = [:]
        for d in config.devices { devs[d] = try SecAggDevice(device: d, identity: ids[d]!, config: config) }
        return (config, ids, devs)
    }

    @Test func wrongSignatureIsRejected() throws {
        let (config, ids, devs) = try twoDevices()
        var all = devs
        var keys = try config.devices.map { try all[$0]!.advertise() }
        let u = config.devices[0]
        var dev = all[u]!
        let nb = dev.neighbours
        let i = keys.firstIndex { nb.contains($0.device) }!
        keys[i].maskKey = Sodium.AgreementKeyPair.random().publicKey  // substituted by a malicious coordinator
        #expect(throws: SecAggError(.badSignature, "")) {
            try dev.shareKeys(keys.filter { nb.contains($0.device) }, identityKey: { ids[$0]?.publicKey })
        }
        var server = SecAggServer(config: config, identityKey: { ids[$0]?.publicKey })
        #expect(throws: SecAggError(.badSignature, "")) { try server.receive(keys[i]) }
    }

    @Test func replayedKeysFromAnotherRoundAreRejected() throws {
        let (config, ids, _) = try twoDevices()
        var old = config
        old.round = 6
        var oldDevice = try SecAggDevice(device: config.devices[1], identity: ids[config.devices[1]]!, config: old)
        let replay = try oldDevice.advertise()
        var server = SecAggServer(config: config, identityKey: { ids[$0]?.publicKey })
        #expect(throws: SecAggError(.badSignature, "")) { try server.receive(replay) }
    }

    func runToMasked() throws -> (SecAggRoundConfig, [UInt32: SecAggDevice], SecAggServer) {
        let (config, ids, devs) = try twoDevices()
        var all = devs
        let pki: (UInt32) -> [UInt8]? = { ids[$0]?.publicKey }
        var server = SecAggServer(config: config, identityKey: pki)
        for d in config.devices { try server.receive(try all[d]!.advertise()) }
        for d in config.devices {
            try server.receive(shares: try all[d]!.shareKeys(server.neighbourKeys(for: d), identityKey: pki), from: d)
        }
        var scratch: [UInt32] = []
        for d in config.devices {
            try server.receive(
                masked: try all[d]!.maskedInput(
                    [UInt32](repeating: d, count: 8),
                    sharesForMe: server.shares(for: d),
                    scratch: &scratch
                ),
                from: d
            )
        }
        return (config, all, server)
    }

    @Test func tamperedShareIsNotRevealed() throws {
        let (config, ids, devs) = try twoDevices()
        var all = devs
        let pki: (UInt32) -> [UInt8]? = { ids[$0]?.publicKey }
        var server = SecAggServer(config: config, identityKey: pki)
        for d in config.devices { try server.receive(try all[d]!.advertise()) }
        for d in config.devices {
            try server.receive(shares: try all[d]!.shareKeys(server.neighbourKeys(for: d), identityKey: pki), from: d)
        }
        let u = config.devices[0]
        var mine = server.shares(for: u)
        mine[0].ciphertext[30] ^= 0x01
        var scratch: [UInt32] = []
        _ = try all[u]!.maskedInput([UInt32](repeating: 1, count: 8), sharesForMe: mine, scratch: &scratch)
        let reveals = try all[u]!.unmask(survivors: Set(config.devices))
        #expect(!reveals.contains { $0.peer == mine[0].from })
        #expect(reveals.count == mine.count - 1)
    }

    @Test func shareReplayedFromAnotherRoundIsNotRevealed() throws {
        // The same devices and identities in rounds 6 and 7: a round-6 ciphertext relayed in
        // round 7 fails authentication (the round is in the associated data), so nothing is revealed for it.
        let (config, ids, _) = try twoDevices()
        var old = config
        old.round = 6
        let pki: (UInt32) -> [UInt8]? = { ids[$0]?.publicKey }
        func dealAll(_ c: SecAggRoundConfig) throws -> ([UInt32: SecAggDevice], SecAggServer) {
            var devs: [UInt32: SecAggDevice] = [:]
            var server = SecAggServer(config: c, identityKey: pki)
            for d in c.devices {
                devs[d] = try SecAggDevice(device: d, identity: ids[d]!, config: c)
                try server.receive(try devs[d]!.advertise())
            }
            for d in c.devices {
                try server.receive(
                    shares: try devs[d]!.shareKeys(server.neighbourKeys(for: d), identityKey: pki),
                    from: d
                )
            }
            return (devs, server)
        }
        let (_, oldServer) = try dealAll(old)
        var (devs, server) = try dealAll(config)
        let u = config.devices[0]
        var mine = server.shares(for: u)
        let replayed = oldServer.shares(for: u).first { $0.from == mine[0].from }!
        mine[0] = replayed
        var scratch: [UInt32] = []
        _ = try devs[u]!.maskedInput([UInt32](repeating: 1, count: 8), sharesForMe: mine, scratch: &scratch)
        let reveals = try devs[u]!.unmask(survivors: Set(config.devices))
        #expect(!reveals.contains { $0.peer == replayed.from })
        _ = server
    }

    @Test func doubleRevealIsRefused() throws {
        var (config, devs, _) = try runToMasked()
        let u = config.devices[0]
        let v = devs[u]!.neighbours.sorted()[0]
        // First request says v survived (seed shares), a second says v dropped (key shares).
        let first = try devs[u]!.unmask(survivors: Set(config.devices))
        #expect(first.allSatisfy { $0.kind == .selfMaskSeed })
        #expect(throws: SecAggError(.doubleReveal, "")) {
            try devs[u]!.unmask(survivors: Set(config.devices).subtracting([v]))
        }
        // And within one request a peer never gets both kinds.
        var fresh = try runToMasked().1[u]!
        let r = try fresh.unmask(survivors: Set(config.devices).subtracting([v]))
        #expect(Set(r.map(\.peer)).count == r.count)
        #expect(r.first { $0.peer == v }?.kind == .maskKey)
    }

    @Test func outOfOrderAndForeignMessagesAreRejected() throws {
        let (config, ids, devs) = try twoDevices()
        var d = devs[config.devices[0]]!
        var scratch: [UInt32] = []
        #expect(throws: SecAggError(.outOfOrder, "")) { try d.maskedInput([0], sharesForMe: [], scratch: &scratch) }
        #expect(throws: SecAggError(.outOfOrder, "")) { try d.unmask(survivors: []) }
        _ = try d.advertise()
        #expect(throws: SecAggError(.outOfOrder, "")) { try d.advertise() }
        #expect(throws: SecAggError.self) {
            try SecAggDevice(device: 999_999, identity: ids[config.devices[0]]!, config: config)
        }
    }

    @Test func serverRefusesMaskedInputFromDevicesThatDidNotShare() throws {
        let (config, ids, _) = try twoDevices()
        var server = SecAggServer(config: config, identityKey: { ids[$0]?.publicKey })
        #expect(throws: SecAggError(.outOfOrder, "")) {
            try server.receive(masked: [UInt32](repeating: 0, count: 8), from: config.devices[0])
        }
    }

    @Test func coordinatorNeverHoldsAnIndividualInput() throws {
        // What the server stores after stage 3 is only the running sum; each masked vector it
        // received differs from its plain input almost everywhere.
        let (config, ids, inputs) = Self.setup(n: 10, k: 6, t: 4, bits: 32, length: 256, seed: 21)
        var all: [UInt32: SecAggDevice] = [:]
        let pki: (UInt32) -> [UInt8]? = { ids[$0]?.publicKey }
        var server = SecAggServer(config: config, identityKey: pki)
        for d in config.devices {
            all[d] = try SecAggDevice(device: d, identity: ids[d]!, config: config)
            try server.receive(try all[d]!.advertise())
        }
        for d in config.devices {
            try server.receive(shares: try all[d]!.shareKeys(server.neighbourKeys(for: d), identityKey: pki), from: d)
        }
        var scratch: [UInt32] = []
        for d in config.devices {
            let y = try all[d]!.maskedInput(inputs[d]!, sharesForMe: server.shares(for: d), scratch: &scratch)
            let same = zip(y, inputs[d]!).filter { $0 == $1 }.count
            #expect(same < 5, "masked input of \(d) equals its input in \(same) places")
            try server.receive(masked: y, from: d)
        }
    }
}
