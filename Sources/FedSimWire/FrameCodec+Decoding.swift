import FedSimCore
import NIOCore

extension FrameCodec {
    // MARK: Decoding

    /// Reads one whole frame if `buf` holds it. Returns nil when more bytes are needed; throws
    /// as soon as the header shows the frame is unacceptable (before buffering its body).
    public static func decodeFrame(_ buf: inout ByteBuffer, limits: FrameLimits) throws -> (Message, Int)? {
        guard let length = buf.getInteger(at: buf.readerIndex, endianness: .little, as: UInt32.self) else { return nil }
        let len = Int(length)
        guard len >= 4 else { throw FrameError(.undersized, "frame length \(len) is below the 4-byte header") }
        guard len + 4 <= limits.maxFrameBytes else {
            throw FrameError(.oversized, "frame of \(len + 4) bytes exceeds the limit of \(limits.maxFrameBytes)")
        }
        if let v: UInt8 = buf.getInteger(at: buf.readerIndex + 4), v != version {
            throw FrameError(.badVersion, "protocol version \(v), this build speaks \(version)")
        }
        guard buf.readableBytes >= len + 4 else { return nil }
        buf.moveReaderIndex(forwardBy: 4)
        var body = buf.readSlice(length: len)!
        let m = try decodeBody(&body, limits: limits)
        return (m, len + 4)
    }

    static func decodeBody(_ b: inout ByteBuffer, limits: FrameLimits) throws -> Message {
        let v: UInt8 = try read(&b)
        guard v == version else { throw FrameError(.badVersion, "protocol version \(v), this build speaks \(version)") }
        let k: UInt8 = try read(&b)
        let reserved: UInt16 = try read(&b)
        guard reserved == 0 else { throw FrameError(.reservedBits, "reserved header bits set") }
        guard let kind = Kind(rawValue: k) else { throw FrameError(.unknownKind, "unknown message kind \(k)") }
        let m: Message
        switch kind {
        case .hello:
            let n: UInt32 = try read(&b)
            guard n <= 256 else { throw FrameError(.countLimit, "token of \(n) bytes") }
            guard let token = b.readBytes(length: Int(n)) else { throw FrameError(.truncated, "token") }
            m = .hello(
                Hello(
                    token: token,
                    processIndex: try read(&b),
                    processCount: try read(&b),
                    firstDevice: try read(&b),
                    deviceCount: try read(&b)
                )
            )
        case .join:
            let n: UInt32 = try read(&b)
            guard n <= 256 else { throw FrameError(.countLimit, "token of \(n) bytes") }
            guard let token = b.readBytes(length: Int(n)) else { throw FrameError(.truncated, "token") }
            m = .join(token: token)
        case .setup:
            m = .setup(
                RunSetup(scenarioJSON: try readText(&b), populationJSON: try readText(&b), restoreRound: try read(&b))
            )
        case .welcome:
            m = .welcome(Welcome(processIndex: try read(&b)))
        case .reject:
            m = .reject(reason: try readString(&b, limits))
        case .train:
            m = .train(try readRequest(&b))
        case .update:
            let round: UInt32 = try read(&b)
            let device: UInt32 = try read(&b)
            let examples: UInt32 = try read(&b)
            let loss = Double(bitPattern: try read(&b))
            let within: UInt8 = try read(&b)
            guard within <= 1 else { throw FrameError(.badValue, "within-clip flag \(within)") }
            m = .update(
                DeviceUpdate(
                    round: round,
                    device: device,
                    examples: examples,
                    trainLoss: loss,
                    sparseDelta: try readSparse(&b, limits),
                    sparseWeights: try readSparse(&b, limits),
                    withinClip: within
                )
            )
        case .failed:
            m = .failed(DeviceFailure(round: try read(&b), device: try read(&b), reason: try readString(&b, limits)))
        case .evaluate:
            m = .evaluate(try readRequest(&b))
        case .coldStart:
            m = .coldStart(try readRequest(&b))
        case .coldStartReport:
            let round: UInt32 = try read(&b)
            let n: UInt32 = try read(&b)
            guard Int(n) * ColdStartEntry.wireBytes <= b.readableBytes else {
                throw FrameError(.truncated, "\(n) cold-start entries do not fit in \(b.readableBytes) bytes")
            }
            var entries: [ColdStartEntry] = []
            entries.reserveCapacity(Int(n))
            for _ in 0..<n {
                let device: UInt32 = try read(&b)
                let slot: UInt16 = try read(&b)
                let count: UInt32 = try read(&b)
                let se = Double(bitPattern: try read(&b))
                let ae = Double(bitPattern: try read(&b))
                let ranked: UInt8 = try read(&b)
                guard ranked <= 1 else { throw FrameError(.badValue, "ranked flag \(ranked)") }
                entries.append(
                    ColdStartEntry(
                        device: device,
                        slot: slot,
                        count: count,
                        squaredError: se,
                        absoluteError: ae,
                        ranked: ranked == 1,
                        hit: Double(bitPattern: try read(&b)),
                        ndcg: Double(bitPattern: try read(&b)),
                        auc: Double(bitPattern: try read(&b))
                    )
                )
            }
            m = .coldStartReport(ColdStartReport(round: round, entries: entries))
        case .evaluation:
            let round: UInt32 = try read(&b)
            let n: UInt32 = try read(&b)
            let entryBytes = 4 + 4 + 8 + 8 + 1 + 8 + 8 + 15 * 8 + 4 + 1
            guard Int(n) * entryBytes <= b.readableBytes else {
                throw FrameError(.truncated, "\(n) evaluation entries do not fit in \(b.readableBytes) bytes")
            }
            var entries: [DeviceEvaluation] = []
            entries.reserveCapacity(Int(n))
            for _ in 0..<n {
                let device: UInt32 = try read(&b)
                let count: UInt32 = try read(&b)
                let se = Double(bitPattern: try read(&b))
                let ae = Double(bitPattern: try read(&b))
                let rankedByte: UInt8 = try read(&b)
                // Bit 0: ranked. Bit 1: the sampled popularity baseline follows the entry's fields
                // (absent by default, so frames without it are unchanged).
                guard rankedByte <= 3 else { throw FrameError(.badValue, "ranked flag \(rankedByte)") }
                let hit = Double(bitPattern: try read(&b))
                let ndcg = Double(bitPattern: try read(&b))
                var e = DeviceEvaluation(
                    device: Int(device),
                    count: Int(count),
                    squaredError: se,
                    absoluteError: ae,
                    ranked: rankedByte & 1 == 1,
                    hit: hit,
                    ndcg: ndcg
                )
                e.recall = Double(bitPattern: try read(&b))
                e.mrr = Double(bitPattern: try read(&b))
                e.auc = Double(bitPattern: try read(&b))
                e.ildCategory = Double(bitPattern: try read(&b))
                e.ildEmbedding = Double(bitPattern: try read(&b))
                e.sampledHit = Double(bitPattern: try read(&b))
                e.sampledNdcg = Double(bitPattern: try read(&b))
                e.squaredErrorGlobal = Double(bitPattern: try read(&b))
                e.squaredErrorLocal = Double(bitPattern: try read(&b))
                e.trainSum = Double(bitPattern: try read(&b))
                e.testSum = Double(bitPattern: try read(&b))
                e.testSquares = Double(bitPattern: try read(&b))
                e.popularityHit = Double(bitPattern: try read(&b))
                e.popularityNdcg = Double(bitPattern: try read(&b))
                e.serendipity = Double(bitPattern: try read(&b))
                e.trainCount = Int(try read(&b) as UInt32)
                if rankedByte & 2 != 0 {
                    e.sampledPopularityHit = Double(bitPattern: try read(&b))
                    e.sampledPopularityNdcg = Double(bitPattern: try read(&b))
                }
                let nf: UInt8 = try read(&b)
                guard nf <= 16 else { throw FrameError(.countLimit, "\(nf) profile features in an evaluation entry") }
                e.features = try (0..<nf).map { _ in try read(&b) as Int32 }
                entries.append(e)
            }
            var lists: [[(item: UInt32, count: UInt32)]] = []
            for _ in 0..<2 {
                let k: UInt32 = try read(&b)
                guard Int(k) * 8 <= b.readableBytes else {
                    throw FrameError(.truncated, "\(k) item counts do not fit in \(b.readableBytes) bytes")
                }
                var list: [(item: UInt32, count: UInt32)] = []
                list.reserveCapacity(Int(k))
                for _ in 0..<k { list.append((try read(&b), try read(&b))) }
                lists.append(list)
            }
            m = .evaluation(EvaluationReport(round: round, entries: entries, recommended: lists[0], rated: lists[1]))
        case .shutdown:
            m = .shutdown(reason: try readString(&b, limits))
        case .secagg:
            let round: UInt32 = try read(&b)
            let stage: UInt8 = try read(&b)
            let n: UInt32 = try read(&b)
            guard let body = b.readBytes(length: Int(n)) else {
                throw FrameError(.truncated, "secagg body of \(n) bytes")
            }
            m = .secagg(SecAggEnvelope(round: round, stage: stage, body: body))
        case .compressedUpdate:
            let round: UInt32 = try read(&b)
            let device: UInt32 = try read(&b)
            let examples: UInt32 = try read(&b)
            let loss = Double(bitPattern: try read(&b))
            let within: UInt8 = try read(&b)
            guard within <= 1 else { throw FrameError(.badValue, "within-clip flag \(within)") }
            let n: UInt32 = try read(&b)
            guard let body = b.readBytes(length: Int(n)) else {
                throw FrameError(.truncated, "compressed update of \(n) bytes")
            }
            m = .compressedUpdate(
                CompressedUpdate(
                    round: round,
                    device: device,
                    examples: examples,
                    trainLoss: loss,
                    withinClip: within,
                    body: body
                )
            )
        case .checkpoint:
            m = .checkpoint(round: try read(&b))
        case .checkpointed:
            m = .checkpointed(round: try read(&b))
        case .validate:
            m = .validate(try readRequest(&b))
        case .keepBest:
            m = .keepBest(round: try read(&b))
        case .restoreBest:
            m = .restoreBest(round: try read(&b))
        }
        guard b.readableBytes == 0 else {
            throw FrameError(.trailingBytes, "\(b.readableBytes) bytes after a \(m.kindName) message")
        }
        return m
    }

    static func readRequest(_ b: inout ByteBuffer) throws -> DeviceRequest {
        let round: UInt32 = try read(&b)
        let clip = Double(bitPattern: try read(&b))
        guard clip.isFinite, clip >= 0 else { throw FrameError(.badValue, "clip \(clip)") }
        let scale = Float(bitPattern: try read(&b))
        guard scale.isFinite, scale > 0, scale <= 1 else { throw FrameError(.badValue, "scale \(scale)") }
        var r = DeviceRequest(
            round: round,
            devices: try readU32s(&b),
            shared: try readFloats(&b),
            clip: clip,
            scale: scale
        )
        r.popular = try readU32s(&b)
        return r
    }

    static func read<T: FixedWidthInteger>(_ b: inout ByteBuffer) throws -> T {
        guard let v = b.readInteger(endianness: .little, as: T.self) else {
            throw FrameError(.truncated, "frame ends inside a \(T.bitWidth)-bit field")
        }
        return v
    }

    static func readString(_ b: inout ByteBuffer, _ limits: FrameLimits) throws -> String {
        let n: UInt32 = try read(&b)
        guard n <= limits.maxStringBytes else { throw FrameError(.countLimit, "string of \(n) bytes") }
        guard let bytes = b.readBytes(length: Int(n)) else { throw FrameError(.truncated, "string of \(n) bytes") }
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw FrameError(.badString, "string is not UTF-8")
        }
        return s
    }

    /// A UTF-8 text block bounded only by the frame (a resolved scenario, not a short reason).
    static func readText(_ b: inout ByteBuffer) throws -> String {
        let n: UInt32 = try read(&b)
        guard Int(n) <= b.readableBytes else { throw FrameError(.truncated, "text of \(n) bytes") }
        guard let s = String(validating: b.readBytes(length: Int(n))!, as: UTF8.self) else {
            throw FrameError(.badString, "text is not UTF-8")
        }
        return s
    }

    static func readU32s(_ b: inout ByteBuffer) throws -> [UInt32] {
        let n = Int(try read(&b) as UInt32)
        guard n * 4 <= b.readableBytes else {
            throw FrameError(.truncated, "\(n) ids do not fit in \(b.readableBytes) bytes")
        }
        return readBlock(&b, n, as: UInt32.self)
    }

    static func readFloats(_ b: inout ByteBuffer) throws -> [Float] {
        let n = Int(try read(&b) as UInt32)
        guard n * 4 <= b.readableBytes else {
            throw FrameError(.truncated, "\(n) floats do not fit in \(b.readableBytes) bytes")
        }
        return readBlock(&b, n, as: Float.self)
    }

    /// A sparse tensor (see `FrameCodec`). Every count is checked against the bytes present
    /// before anything is allocated, and the dense length against the frame limit (the dense
    /// model must fit a frame anyway: the train request carries it), so a forged count cannot
    /// make a reader allocate more than a frame's worth when it densifies.
    static func readSparse(_ b: inout ByteBuffer, _ limits: FrameLimits) throws -> SparseFloats {
        let count = Int(try read(&b) as UInt32)
        guard count <= limits.maxFrameBytes / 4 else {
            throw FrameError(.countLimit, "sparse tensor of \(count) entries exceeds the frame limit")
        }
        let runs = Int(try read(&b) as UInt32)
        guard runs * 8 <= b.readableBytes else {
            throw FrameError(.truncated, "\(runs) runs do not fit in \(b.readableBytes) bytes")
        }
        let pairs = readBlock(&b, 2 * runs, as: UInt32.self)
        let starts = stride(from: 0, to: pairs.count, by: 2).map { UInt32(littleEndian: pairs[$0]) }
        let lengths = stride(from: 1, to: pairs.count, by: 2).map { UInt32(littleEndian: pairs[$0]) }
        var total = 0
        for l in lengths {
            total += Int(l)
            guard total <= count else { throw FrameError(.badValue, "runs cover more than \(count) entries") }
        }
        guard total * 4 <= b.readableBytes else {
            throw FrameError(.truncated, "\(total) values do not fit in \(b.readableBytes) bytes")
        }
        let values = readBlock(&b, total, as: Float.self)
        do {
            return try SparseFloats(count: count, starts: starts, lengths: lengths, values: values)
        } catch let e as SparseFloats.Malformed {
            throw FrameError(.badValue, e.description)
        }
    }

    static func readBlock<T>(_ b: inout ByteBuffer, _ n: Int, as: T.Type) -> [T] {
        let out = [T](unsafeUninitializedCapacity: n) { dst, initialized in
            b.withUnsafeReadableBytes { src in
                UnsafeMutableRawBufferPointer(dst).copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<(n * 4)]))
            }
            initialized = n
        }
        b.moveReaderIndex(forwardBy: n * 4)
        return out
    }
}
