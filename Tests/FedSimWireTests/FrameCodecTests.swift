import FedSimCore
import FedSimWire
import NIOCore
import Testing

@Suite struct FrameCodecTests {
    static let samples: [Message] = [
        .hello(Hello(token: Array(0..<32), processIndex: 1, processCount: 2, firstDevice: 500, deviceCount: 500)),
        .welcome(Welcome(processIndex: 1)),
        .reject(reason: "wrong run token — ü"),
        .train(
            DeviceRequest(round: 3, devices: [1, 5, 9], shared: [0.5, -1.25, .greatestFiniteMagnitude, 0], clip: 0.75)
        ),
        .update(
            DeviceUpdate(
                round: 3,
                device: 5,
                examples: 17,
                trainLoss: 0.123,
                weightedDelta: [1, 2, 3],
                weights: [1, 0],
                withinClip: 1
            )
        ),
        .failed(DeviceFailure(round: 3, device: 9, reason: "battery low")),
        .evaluate(DeviceRequest(round: 4, devices: [], shared: [1])),
        .evaluate(
            {
                var r = DeviceRequest(round: 5, devices: [2], shared: [1, 2])
                r.popular = [9, 3, 4]
                return r
            }()
        ),
        .evaluation(
            EvaluationReport(
                round: 4,
                entries: [
                    {
                        var e = DeviceEvaluation(
                            device: 1,
                            count: 3,
                            squaredError: 1.5,
                            absoluteError: 2,
                            ranked: true,
                            hit: 1,
                            ndcg: 0.63
                        )
                        e.trainCount = 12
                        e.trainSum = 40
                        e.testSum = 11
                        e.testSquares = 43
                        e.popularityHit = 1
                        e.popularityNdcg = 0.5
                        e.serendipity = 0.1
                        e.features = [3, 0, 17]
                        return e
                    }(),
                    {
                        // The sampled popularity baseline travels only when computed (flag bit 1).
                        var e = DeviceEvaluation(
                            device: 3,
                            count: 1,
                            squaredError: 0.25,
                            absoluteError: 0.5,
                            ranked: true,
                            hit: 0,
                            ndcg: 0
                        )
                        e.sampledHit = 1
                        e.sampledNdcg = 0.63
                        e.sampledPopularityHit = 1
                        e.sampledPopularityNdcg = 0.5
                        return e
                    }(),
                    DeviceEvaluation(
                        device: 2,
                        count: 0,
                        squaredError: 0,
                        absoluteError: 0,
                        ranked: false,
                        hit: 0,
                        ndcg: 0
                    ),
                ]
            )
        ),
        .shutdown(reason: "done"),
        .join(token: Array(repeating: 9, count: 32)),
        // Longer than the 4 KiB string limit: a resolved scenario is.
        .setup(
            RunSetup(
                scenarioJSON: String(repeating: "{\"k\": \"é\"}\n", count: 800),
                populationJSON: "{}",
                restoreRound: 6
            )
        ),
        .secagg(SecAggEnvelope(round: 3, stage: 7, body: [1, 2, 3, 250])),
        .coldStart(DeviceRequest(round: 9, devices: [2, 3], shared: [0.5, 4])),
        .coldStartReport(
            ColdStartReport(
                round: 9,
                entries: [
                    ColdStartEntry(
                        device: 2,
                        slot: 5,
                        count: 11,
                        squaredError: 4.25,
                        absoluteError: 3,
                        ranked: true,
                        hit: 1,
                        ndcg: 0.31,
                        auc: 0.8
                    ),
                    ColdStartEntry(
                        device: 3,
                        slot: 0,
                        count: 0,
                        squaredError: 0,
                        absoluteError: 0,
                        ranked: false,
                        hit: 0,
                        ndcg: 0,
                        auc: 0
                    ),
                ]
            )
        ),
        .validate(DeviceRequest(round: 5 | 1 << 31, devices: [1, 2], shared: [0.5])),
        .keepBest(round: 20), .restoreBest(round: 40),
    ]

    func decodeAll(_ bytes: [UInt8], limits: FrameLimits = FrameLimits()) throws -> [Message] {
        var buf = ByteBufferAllocator().buffer(bytes: bytes)
        var out: [Message] = []
        while let (m, _) = try FrameCodec.decodeFrame(&buf, limits: limits) { out.append(m) }
        #expect(buf.readableBytes == 0)
        return out
    }

    @Test func everyMessageRoundTrips() throws {
        for m in Self.samples {
            let bytes = Array(buffer: FrameCodec.encode(m))
            #expect(try decodeAll(bytes) == [m], "\(m.kindName)")
        }
    }

    @Test func decodesByteByByteAndInBursts() throws {
        var all: [UInt8] = []
        for m in Self.samples { all += Array(buffer: FrameCodec.encode(m)) }
        // Byte by byte: the decoder must wait for whole frames, never misparse a prefix.
        var buf = ByteBufferAllocator().buffer(capacity: all.count)
        var got: [Message] = []
        for b in all {
            buf.writeInteger(b)
            while let (m, _) = try FrameCodec.decodeFrame(&buf, limits: FrameLimits()) { got.append(m) }
        }
        #expect(got == Self.samples)
        #expect(try decodeAll(all) == Self.samples)
    }

    @Test func reportsFrameSize() throws {
        let m = Self.samples[3]
        var buf = FrameCodec.encode(m)
        let size = buf.readableBytes
        let (_, n) = try #require(try FrameCodec.decodeFrame(&buf, limits: FrameLimits()))
        #expect(n == size)
    }

    // MARK: Malformed frames: each class is refused with its own code.

    func expectCode(_ code: FrameError.Code, _ bytes: [UInt8], limits: FrameLimits = FrameLimits()) {
        do {
            _ = try decodeAll(bytes, limits: limits)
            Issue.record("expected \(code), decoded fine")
        } catch let e as FrameError {
            #expect(e.code == code, "\(e)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    func frame(version: UInt8 = FrameCodec.version, kind: UInt8, reserved: UInt16 = 0, payload: [UInt8]) -> [UInt8] {
        var b = ByteBufferAllocator().buffer(capacity: 16)
        b.writeInteger(UInt32(4 + payload.count), endianness: .little)
        b.writeInteger(version)
        b.writeInteger(kind)
        b.writeInteger(reserved, endianness: .little)
        b.writeBytes(payload)
        return Array(buffer: b)
    }

    @Test func oversizedFrameIsRefusedBeforeBuffering() {
        // Only the 4-byte length arrives: the decoder must refuse without waiting for the body.
        var b = ByteBufferAllocator().buffer(capacity: 8)
        b.writeInteger(UInt32(10_000_000), endianness: .little)
        b.writeInteger(FrameCodec.version)
        expectCode(.oversized, Array(buffer: b), limits: FrameLimits(maxFrameBytes: 1 << 20))
    }

    @Test func undersizedFrame() { expectCode(.undersized, [2, 0, 0, 0, 1, 1]) }
    @Test func wrongVersion() { expectCode(.badVersion, frame(version: 9, kind: 2, payload: [0, 0, 0, 0])) }
    @Test func unknownKind() { expectCode(.unknownKind, frame(kind: 200, payload: [])) }
    @Test func reservedBitsSet() { expectCode(.reservedBits, frame(kind: 2, reserved: 1, payload: [0, 0, 0, 0])) }
    @Test func truncatedField() { expectCode(.truncated, frame(kind: 2, payload: [0, 0])) }
    @Test func trailingBytes() { expectCode(.trailingBytes, frame(kind: 2, payload: [0, 0, 0, 0, 7])) }

    @Test func tensorCountBeyondFrame() {
        // A train request claiming 2^30 floats in a tiny frame: refused, no allocation.
        expectCode(.truncated, frame(kind: 4, payload: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40]))
    }

    @Test func oversizedString() {
        expectCode(.countLimit, frame(kind: 3, payload: [0xFF, 0xFF, 0, 0]))
    }

    @Test func invalidUTF8() { expectCode(.badString, frame(kind: 3, payload: [2, 0, 0, 0, 0xC3, 0x28])) }

    @Test func badBooleanInEvaluation() {
        var p: [UInt8] = [1, 0, 0, 0, 1, 0, 0, 0]  // round 1, one entry
        p += [0, 0, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 16) + [7] + [UInt8](repeating: 0, count: 16)
        // extras, train count, no features, empty item counts
        p += [UInt8](repeating: 0, count: 15 * 8 + 4 + 1) + [UInt8](repeating: 0, count: 8)
        expectCode(.badValue, frame(kind: 8, payload: p))
    }

    /// A cold-start report announcing more entries than its bytes hold, or a ranked flag of 2.
    @Test func malformedColdStartReports() {
        expectCode(.truncated, frame(kind: 15, payload: [1, 0, 0, 0, 0xFF, 0xFF, 0, 0]))
        var p: [UInt8] = [1, 0, 0, 0, 1, 0, 0, 0]
        p += [UInt8](repeating: 0, count: 4 + 2 + 4 + 16) + [2] + [UInt8](repeating: 0, count: 24)
        expectCode(.badValue, frame(kind: 15, payload: p))
    }

    @Test func hugeTokenRefused() {
        expectCode(.countLimit, frame(kind: 1, payload: [0, 4, 0, 0]))
    }
}

/// Device updates travel as runs of their non-zero entries (`SparseFloats`).
@Suite struct SparseUpdateFrameTests {
    func decode(_ bytes: [UInt8]) throws -> Message? {
        var buf = ByteBufferAllocator().buffer(bytes: bytes)
        return try FrameCodec.decodeFrame(&buf, limits: FrameLimits(maxFrameBytes: 1 << 20))?.0
    }

    func updateFrame(_ sparse: [UInt8]) -> [UInt8] {
        var p: [UInt8] = [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0] + [UInt8](repeating: 0, count: 8) + [0]
        p += sparse + [0, 0, 0, 0, 0, 0, 0, 0]  // the weights: an empty vector
        var b = ByteBufferAllocator().buffer(capacity: 16)
        b.writeInteger(UInt32(4 + p.count), endianness: .little)
        b.writeInteger(FrameCodec.version)
        b.writeInteger(UInt8(5))
        b.writeInteger(UInt16(0), endianness: .little)
        b.writeBytes(p)
        return Array(buffer: b)
    }

    func le(_ xs: [UInt32]) -> [UInt8] { xs.flatMap { withUnsafeBytes(of: $0.littleEndian) { Array($0) } } }

    /// An MF-shaped update: 3 touched rows of 16 out of 1,683, plus their biases.
    @Test func anMFUpdateIsSmallAndExact() throws {
        var delta = [Float](repeating: 0, count: 1_683 * 17 + 1)
        var weights = [Float](repeating: 0, count: 1_683 + 1)
        for r in [4, 900, 1_600] {
            for f in 0..<16 { delta[r * 16 + f] = Float(r) + Float(f) / 7 }
            delta[1_683 * 16 + r] = -0.0
            weights[r] = 2
        }
        let u = DeviceUpdate(round: 1, device: 2, examples: 3, trainLoss: 0.5, weightedDelta: delta, weights: weights)
        let bytes = Array(buffer: FrameCodec.encode(.update(u)))
        #expect(bytes.count < 400)
        guard case .update(let back) = try decode(bytes) else {
            Issue.record("no update decoded")
            return
        }
        #expect(back.weightedDelta.map(\.bitPattern) == delta.map(\.bitPattern))
        #expect(back.weights == weights)
    }

    @Test func malformedSparseTensorsAreRefused() {
        func code(_ sparse: [UInt8]) -> FrameError.Code? {
            do {
                _ = try decode(updateFrame(sparse))
                return nil
            } catch { return (error as? FrameError)?.code }
        }
        let one = le([Float(1).bitPattern])
        #expect(code(le([10, 1, 0, 1]) + one) == nil)  // well formed
        #expect(code(le([0xFFFF_FFFF, 0])) == .countLimit)  // a dense length no frame could hold
        #expect(code(le([10, 0x4000_0000])) == .truncated)  // more runs than bytes
        #expect(code(le([10, 1, 0, 0x1000])) == .badValue)  // a run past the vector
        #expect(code(le([10, 1, 0, 5])) == .truncated)  // values missing
        #expect(code(le([10, 2, 0, 2, 1, 1]) + one + one + one) == .badValue)  // overlapping runs
        #expect(code(le([10, 1, 3, 0])) == .badValue)  // an empty run
    }
}
