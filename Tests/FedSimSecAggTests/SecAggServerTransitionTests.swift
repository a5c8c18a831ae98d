import FedSimCore
import FedSimSecAgg
import Testing

/// Every (stage, event) pair of the SecAgg+ server's state machine, without sockets: an event
/// its stage does not take is refused with `.outOfOrder` and changes nothing; an event it
/// takes is never refused for its order, and a valid one moves the stage as the diagram on
/// `SecAggServer` says.
@Suite struct SecAggServerTransitionTests {
    enum StageName: String, CaseIterable { case advertising, sharing, masking, unmasking }
    enum Event: String, CaseIterable { case keys, shares, masked, announce, reveals, unmask }

    /// Which events each stage takes.
    static let allowed: [StageName: Set<Event>] = [
        .advertising: [.keys, .shares, .announce],
        .sharing: [.shares, .masked, .announce],
        .masking: [.masked, .announce],
        .unmasking: [.announce, .reveals, .unmask],
    ]

    /// Eight devices of a 6-regular graph, threshold 3 (every device keeps ≥ 3 active neighbours). `late` (a neighbour of `a`) has not
    /// advertised yet, so it can still send fresh keys; `b` has not dealt shares yet; `c` has
    /// dealt but not masked. Everyone else goes through the stages the world is in.
    struct World {
        var server: SecAggServer
        var devices: [UInt32: SecAggDevice]
        let pki: (UInt32) -> [UInt8]?
        let a: UInt32, b: UInt32, c: UInt32, late: UInt32
    }

    static func world(at stage: StageName) throws -> World {
        let (config, ids, _) = SecAggProtocolTests.setup(n: 8, k: 6, t: 3, bits: 32, length: 8, seed: 11)
        let pki: (UInt32) -> [UInt8]? = { ids[$0]?.publicKey }
        var devices: [UInt32: SecAggDevice] = [:]
        for d in config.devices { devices[d] = try SecAggDevice(device: d, identity: ids[d]!, config: config) }
        let a = config.devices[0]
        let late = devices[a]!.neighbours.sorted()[0]
        let others = config.devices.filter { $0 != a && $0 != late }
        let b = others[0]
        let c = others[1]
        let participants = config.devices.filter { $0 != late }
        var server = SecAggServer(config: config, identityKey: pki)
        for d in participants { try server.receive(try devices[d]!.advertise()) }
        if stage != .advertising {
            for d in participants where d != b {
                try server.receive(
                    shares: try devices[d]!.shareKeys(server.neighbourKeys(for: d), identityKey: pki),
                    from: d
                )
            }
        }
        var scratch: [UInt32] = []
        if stage == .masking || stage == .unmasking {
            for d in participants where d != b && d != c {
                let y = try devices[d]!.maskedInput(
                    [UInt32](repeating: 1, count: 8),
                    sharesForMe: server.shares(for: d),
                    scratch: &scratch
                )
                try server.receive(masked: y, from: d)
            }
        }
        if stage == .unmasking { _ = server.announceSurvivors() }
        return World(server: server, devices: devices, pki: pki, a: a, b: b, c: c, late: late)
    }

    /// The event, with content as valid as the world allows.
    static func apply(_ e: Event, to w: inout World) throws {
        var scratch: [UInt32] = []
        switch e {
        case .keys: try w.server.receive(try w.devices[w.late]!.advertise())
        case .shares:
            let shares = try w.devices[w.b]!.shareKeys(w.server.neighbourKeys(for: w.b), identityKey: w.pki)
            try w.server.receive(shares: shares, from: w.b)
        case .masked:
            let y = try w.devices[w.c]!.maskedInput(
                [UInt32](repeating: 2, count: 8),
                sharesForMe: w.server.shares(for: w.c),
                scratch: &scratch
            )
            try w.server.receive(masked: y, from: w.c)
        case .announce: _ = w.server.announceSurvivors()
        case .reveals:
            // Before U3 exists no device can build reveals; the server must refuse even an empty list.
            let reveals = try w.server.survivorsAnnounced.map { try w.devices[w.a]!.unmask(survivors: $0) } ?? []
            try w.server.receive(reveals: reveals, from: w.a)
        case .unmask: _ = try w.server.unmaskedSum(scratch: &scratch)
        }
    }

    static func name(_ s: SecAggServer.Stage) -> StageName {
        switch s {
        case .advertising: .advertising
        case .sharing: .sharing
        case .masking: .masking
        case .unmasking: .unmasking
        }
    }

    @Test(arguments: StageName.allCases)
    func everyEventInEveryStage(stage: StageName) throws {
        for event in Event.allCases {
            var w = try Self.world(at: stage)
            #expect(Self.name(w.server.stage) == stage)
            let before = w.server.stage
            do {
                try Self.apply(event, to: &w)
            } catch let error as SecAggError {
                let refusedForOrder = error == SecAggError(.outOfOrder, "")
                #expect(refusedForOrder == !Self.allowed[stage]!.contains(event), "\(stage) × \(event): \(error)")
                if refusedForOrder {
                    #expect(w.server.stage == before, "\(stage) × \(event) refused but moved the stage")
                }
                continue
            }
            #expect(Self.allowed[stage]!.contains(event), "\(stage) × \(event) was taken")
            let expected: StageName =
                switch (stage, event) {
                case (_, .announce): .unmasking
                case (.advertising, .shares): .sharing
                case (.sharing, .masked): .masking
                default: stage
                }
            #expect(Self.name(w.server.stage) == expected, "\(stage) × \(event) → \(w.server.stage)")
        }
    }

    /// The survivors the unmasking stage carries are the devices that sent masked input by the
    /// announcement, and announcing again changes nothing.
    @Test func announcingFixesTheSurvivors() throws {
        var w = try Self.world(at: .masking)
        let u3 = w.server.announceSurvivors()
        #expect(!u3.contains(w.b) && !u3.contains(w.c) && !u3.contains(w.late) && u3.contains(w.a) && u3.count == 5)
        #expect(w.server.stage == .unmasking(survivors: u3))
        #expect(throws: SecAggError(.outOfOrder, "")) { try Self.apply(.masked, to: &w) }
        #expect(w.server.announceSurvivors() == u3)
    }
}
