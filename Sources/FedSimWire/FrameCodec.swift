import FedSimCore
import NIOCore

#if _endian(big)
#error("FedSim's wire format copies little-endian tensor blocks directly; big-endian hosts are not supported")
#endif

/// The frame format (all integers little-endian):
///
/// ```
/// u32 length      bytes that follow this field (header + payload), 4 ... maxFrameBytes
/// u8  version     FrameCodec.version
/// u8  kind        message kind
/// u16 reserved    must be 0
/// ... payload     kind-specific; tensors are u32 count + count × f32
/// ```
///
/// A device update's weighted delta and weights are sparse tensors: u32 count (of the dense
/// vector), u32 runs, runs × (u32 start, u32 length), then the runs' values back to back as
/// f32 (version 2; version 1 sent them dense).
///
/// Decoding checks every count against the bytes actually present before allocating, and a
/// frame must be consumed exactly (no trailing bytes).
public enum FrameCodec {
    public static let version: UInt8 = 2
    public static let headerBytes = 8

    enum Kind: UInt8 {
        case hello = 1
        case welcome = 2
        case reject = 3
        case train = 4
        case update = 5
        case failed = 6
        case evaluate = 7
        case evaluation = 8
        case shutdown = 9
        case secagg = 10
        case checkpoint = 11
        case checkpointed = 12
        case compressedUpdate = 13
        case coldStart = 14
        case coldStartReport = 15
        case validate = 16
        case keepBest = 17
        case restoreBest = 18
        case join = 19
        case setup = 20
    }

    // MARK: Encoding

    public static func encode(_ m: Message, into buf: inout ByteBuffer) {
        let start = buf.writerIndex
        buf.writeInteger(UInt32(0), endianness: .little)  // patched below
        buf.writeInteger(version)
        switch m {
        case .hello(let h):
            header(&buf, .hello)
            buf.writeInteger(UInt32(h.token.count), endianness: .little)
            buf.writeBytes(h.token)
            for v in [h.processIndex, h.processCount, h.firstDevice, h.deviceCount] {
                buf.writeInteger(v, endianness: .little)
            }
        case .join(let token):
            header(&buf, .join)
            buf.writeInteger(UInt32(token.count), endianness: .little)
            buf.writeBytes(token)
        case .setup(let s):
            header(&buf, .setup)
            for text in [s.scenarioJSON, s.populationJSON] {
                // Not `writeString`: a resolved scenario is longer than the 4 KiB string limit.
                let bytes = Array(text.utf8)
                buf.writeInteger(UInt32(bytes.count), endianness: .little)
                buf.writeBytes(bytes)
            }
            buf.writeInteger(s.restoreRound, endianness: .little)
        case .welcome(let w):
            header(&buf, .welcome)
            buf.writeInteger(w.processIndex, endianness: .little)
        case .reject(let reason):
            header(&buf, .reject)
            writeString(reason, &buf)
        case .train(let t):
            header(&buf, .train)
            writeRequest(t, &buf)
        case .update(let u):
            header(&buf, .update)
            buf.writeInteger(u.round, endianness: .little)
            buf.writeInteger(u.device, endianness: .little)
            buf.writeInteger(u.examples, endianness: .little)
            buf.writeInteger(u.trainLoss.bitPattern, endianness: .little)
            buf.writeInteger(u.withinClip)
            writeSparse(u.sparseDelta, &buf)
            writeSparse(u.sparseWeights, &buf)
        case .failed(let f):
            header(&buf, .failed)
            buf.writeInteger(f.round, endianness: .little)
            buf.writeInteger(f.device, endianness: .little)
            writeString(f.reason, &buf)
        case .evaluate(let e):
            header(&buf, .evaluate)
            writeRequest(e, &buf)
        case .evaluation(let r):
            header(&buf, .evaluation)
            buf.writeInteger(r.round, endianness: .little)
            buf.writeInteger(UInt32(r.entries.count), endianness: .little)
            for e in r.entries {
                buf.writeInteger(UInt32(truncatingIfNeeded: e.device), endianness: .little)
                buf.writeInteger(UInt32(truncatingIfNeeded: e.count), endianness: .little)
                buf.writeInteger(e.squaredError.bitPattern, endianness: .little)
                buf.writeInteger(e.absoluteError.bitPattern, endianness: .little)
                let sampledBaseline = e.sampledPopularityHit >= 0
                buf.writeInteger(UInt8(e.ranked ? 1 : 0) | (sampledBaseline ? 2 : 0))
                buf.writeInteger(e.hit.bitPattern, endianness: .little)
                buf.writeInteger(e.ndcg.bitPattern, endianness: .little)
                for v in [
                    e.recall, e.mrr, e.auc, e.ildCategory, e.ildEmbedding, e.sampledHit, e.sampledNdcg,
                    e.squaredErrorGlobal, e.squaredErrorLocal,
                    e.trainSum, e.testSum, e.testSquares, e.popularityHit, e.popularityNdcg, e.serendipity,
                ] {
                    buf.writeInteger(v.bitPattern, endianness: .little)
                }
                buf.writeInteger(UInt32(truncatingIfNeeded: e.trainCount), endianness: .little)
                if sampledBaseline {
                    buf.writeInteger(e.sampledPopularityHit.bitPattern, endianness: .little)
                    buf.writeInteger(e.sampledPopularityNdcg.bitPattern, endianness: .little)
                }
                buf.writeInteger(UInt8(truncatingIfNeeded: e.features.count))
                for f in e.features { buf.writeInteger(f, endianness: .little) }
            }
            for list in [r.recommended, r.rated] {
                buf.writeInteger(UInt32(list.count), endianness: .little)
                for (i, c) in list {
                    buf.writeInteger(i, endianness: .little)
                    buf.writeInteger(c, endianness: .little)
                }
            }
        case .shutdown(let reason):
            header(&buf, .shutdown)
            writeString(reason, &buf)
        case .secagg(let e):
            header(&buf, .secagg)
            buf.writeInteger(e.round, endianness: .little)
            buf.writeInteger(e.stage)
            buf.writeInteger(UInt32(e.body.count), endianness: .little)
            buf.writeBytes(e.body)
        case .compressedUpdate(let u):
            header(&buf, .compressedUpdate)
            buf.writeInteger(u.round, endianness: .little)
            buf.writeInteger(u.device, endianness: .little)
            buf.writeInteger(u.examples, endianness: .little)
            buf.writeInteger(u.trainLoss.bitPattern, endianness: .little)
            buf.writeInteger(u.withinClip)
            buf.writeInteger(UInt32(u.body.count), endianness: .little)
            buf.writeBytes(u.body)
        case .checkpoint(let r):
            header(&buf, .checkpoint)
            buf.writeInteger(r, endianness: .little)
        case .checkpointed(let r):
            header(&buf, .checkpointed)
            buf.writeInteger(r, endianness: .little)
        case .validate(let e):
            header(&buf, .validate)
            writeRequest(e, &buf)
        case .keepBest(let r):
            header(&buf, .keepBest)
            buf.writeInteger(r, endianness: .little)
        case .restoreBest(let r):
            header(&buf, .restoreBest)
            buf.writeInteger(r, endianness: .little)
        case .coldStart(let e):
            header(&buf, .coldStart)
            writeRequest(e, &buf)
        case .coldStartReport(let r):
            header(&buf, .coldStartReport)
            buf.writeInteger(r.round, endianness: .little)
            buf.writeInteger(UInt32(r.entries.count), endianness: .little)
            for e in r.entries {
                buf.writeInteger(e.device, endianness: .little)
                buf.writeInteger(e.slot, endianness: .little)
                buf.writeInteger(e.count, endianness: .little)
                buf.writeInteger(e.squaredError.bitPattern, endianness: .little)
                buf.writeInteger(e.absoluteError.bitPattern, endianness: .little)
                buf.writeInteger(UInt8(e.ranked ? 1 : 0))
                for v in [e.hit, e.ndcg, e.auc] { buf.writeInteger(v.bitPattern, endianness: .little) }
            }
        }
        buf.setInteger(UInt32(buf.writerIndex - start - 4), at: start, endianness: .little)
    }

    public static func encode(_ m: Message) -> ByteBuffer {
        var b = ByteBufferAllocator().buffer(capacity: 64)
        encode(m, into: &b)
        return b
    }

    static func header(_ buf: inout ByteBuffer, _ k: Kind) {
        buf.writeInteger(k.rawValue)
        buf.writeInteger(UInt16(0), endianness: .little)
    }

    static func writeRequest(_ r: DeviceRequest, _ buf: inout ByteBuffer) {
        buf.writeInteger(r.round, endianness: .little)
        buf.writeInteger(r.clip.bitPattern, endianness: .little)
        buf.writeInteger(r.scale.bitPattern, endianness: .little)
        writeU32s(r.devices, &buf)
        writeFloats(r.shared, &buf)
        writeU32s(r.popular, &buf)
    }

    static func writeString(_ s: String, _ buf: inout ByteBuffer) {
        let bytes = Array(s.utf8.prefix(FrameLimits().maxStringBytes))
        buf.writeInteger(UInt32(bytes.count), endianness: .little)
        buf.writeBytes(bytes)
    }

    static func writeU32s(_ v: [UInt32], _ buf: inout ByteBuffer) {
        buf.writeInteger(UInt32(v.count), endianness: .little)
        #if _endian(little)
        v.withUnsafeBytes { _ = buf.writeBytes($0) }
        #else
        for x in v { buf.writeInteger(x, endianness: .little) }
        #endif
    }

    /// An update frame's bytes as sent (runs) and as a dense frame would carry it (u32 count +
    /// f32 per entry, each tensor). The fleet simulation charges a device's upload at the
    /// dense size: how FedSim's own processes encode an update is not the simulated device's
    /// upload, and the simulated clock must not move when only that encoding changes.
    public static func updateFrameBytes(_ u: DeviceUpdate) -> (sent: Int, dense: Int) {
        let fixed = headerBytes + 4 + 4 + 4 + 8 + 1
        func sparse(_ v: SparseFloats) -> Int { 8 + 8 * v.starts.count + 4 * v.values.count }
        return (
            fixed + sparse(u.sparseDelta) + sparse(u.sparseWeights),
            fixed + 8 + 4 * (u.sparseDelta.count + u.sparseWeights.count)
        )
    }

    static func writeSparse(_ v: SparseFloats, _ buf: inout ByteBuffer) {
        buf.writeInteger(UInt32(v.count), endianness: .little)
        buf.writeInteger(UInt32(v.starts.count), endianness: .little)
        for (s, l) in zip(v.starts, v.lengths) {
            buf.writeInteger(s, endianness: .little)
            buf.writeInteger(l, endianness: .little)
        }
        v.values.withUnsafeBytes { _ = buf.writeBytes($0) }
    }

    static func writeFloats(_ v: [Float], _ buf: inout ByteBuffer) {
        buf.writeInteger(UInt32(v.count), endianness: .little)
        #if _endian(little)
        v.withUnsafeBytes { _ = buf.writeBytes($0) }
        #else
        for x in v { buf.writeInteger(x.bitPattern, endianness: .little) }
        #endif
    }
}
