import FedSimConfig
import FedSimCore

/// Encodes a device's update (weighted delta and weights) through the scenario's compression
/// stages, and decodes it on the coordinator. Stages, in order:
///
/// 1. *selection* (optional): `sparse_rows` keeps the rows the device put weight on (every
///    element of whole-tensor groups stays); `top_k` keeps the `fraction` largest-magnitude
///    non-zero entries; `random_k` a uniformly random `fraction` of them. With error feedback
///    the rest is carried over on the device (`residual`) and added next time it trains.
/// 2. *value coding*: float32, or unbiased stochastic quantization to b bits per value with a
///    scale per block (`quantize`), optionally after a randomized Hadamard rotation of each
///    block (`rotate`), which spreads outliers and shrinks the scale (Suresh et al. 2017).
///
/// Weights travel exactly (sparse). Format (little-endian): u8 version, u8 flags (1 sparse,
/// 2 quantized, 4 rotated), weights as (varint n, delta-varint indices, f32 values),
/// [selection: varint n, delta-varint indices], values: f32 × n, or u8 bits, varint block,
/// then per block an f32 scale and the block's codes packed b bits each.
public struct UpdateCodec: Sendable {
    public let config: CompressionConfig
    public let layout: ParameterLayout
    let slots: [Int32]

    public init(config: CompressionConfig, layout: ParameterLayout) {
        self.config = config
        self.layout = layout
        slots = layout.elementWeightSlots()
    }

    public struct Malformed: Error, CustomStringConvertible {
        public var description: String
    }

    var sparse: Bool { config.stages.contains { $0 == .sparseRows || $0 == .topK || $0 == .randomK } }
    var quantized: Bool { config.stages.contains(.quantize) }
    var rotated: Bool { config.stages.contains(.rotate) }
    var carriesResidual: Bool { config.errorFeedback && config.stages.contains { $0 == .topK || $0 == .randomK } }

    /// Encodes; `residual` (error-feedback memory, sparse) is read and updated; `clip` (DP)
    /// re-bounds what is sent after selection. `rng` drives random-k and stochastic rounding;
    /// `rotationSeed` is public (the coordinator derives the same).
    public func encode(
        weightedDelta: [Float],
        weights: [Float],
        residual: inout [Int32: Float],
        clip: Double?,
        rng: inout Xoshiro256,
        rotationSeed: UInt64
    ) -> [UInt8] {
        var v = weightedDelta
        if carriesResidual { for (i, r) in residual { v[Int(i)] += r } }
        // 1. Selection.
        var indices: [Int32] = []
        var values: [Float] = []
        if sparse {
            if config.stages.contains(.sparseRows) {
                for e in 0..<v.count where weights[Int(slots[e])] > 0 || v[e] != 0 { indices.append(Int32(e)) }
            } else {
                let nonZero = (0..<v.count).filter { v[$0] != 0 }
                let k = nonZero.isEmpty ? 0 : max(1, Int((config.fraction * Double(nonZero.count)).rounded(.up)))
                if config.stages.contains(.topK) {
                    indices = nonZero.sorted { (abs(v[$0]), $1) > (abs(v[$1]), $0) }.prefix(k).map { Int32($0) }
                        .sorted()
                } else {
                    indices = rng.sampleWithoutReplacement(k, from: nonZero.count).map { Int32(nonZero[$0]) }.sorted()
                }
            }
            values = indices.map { v[Int($0)] }
        } else {
            values = v
        }
        if let clip {  // DP: what leaves the device stays within C
            var s = 0.0
            for x in values { s += Double(x) * Double(x) }
            let norm = s.squareRoot()
            if norm > clip {
                let f = Float(clip / norm)
                for i in values.indices { values[i] *= f }
            }
        }
        // 2. Value coding.
        var w = ByteWriter()
        w.u8(1)
        w.u8((sparse ? 1 : 0) | (quantized ? 2 : 0) | (rotated ? 4 : 0))
        let wIdx = (0..<weights.count).filter { weights[$0] != 0 }
        w.indices(wIdx.map { Int32($0) })
        for i in wIdx { w.f32(weights[i]) }
        if sparse { w.indices(indices) }
        var sent = values
        if quantized {
            sent = Quantizer(bits: config.bits, blockSize: config.blockSize, rotate: rotated).encode(
                values,
                into: &w,
                rng: &rng,
                seed: rotationSeed
            )
        } else {
            for x in values { w.f32(x) }
        }
        // Error feedback: remember what did not arrive (unsent entries, quantization error).
        if carriesResidual {
            var next: [Int32: Float] = [:]
            var sentAt: [Int32: Float] = [:]
            for (j, i) in indices.enumerated() { sentAt[i] = sent[j] }
            for e in 0..<v.count where v[e] != 0 {
                let r = v[e] - (sentAt[Int32(e)] ?? 0)
                if r != 0 { next[Int32(e)] = r }
            }
            residual = next
        }
        return w.out
    }

    /// Decodes and checks a body; throws on anything malformed (never traps).
    public func decode(_ body: [UInt8], rotationSeed: UInt64) throws -> (weightedDelta: [Float], weights: [Float]) {
        var r = ByteReader(body)
        guard try r.u8() == 1 else { throw Malformed(description: "unknown compressed-update version") }
        let flags = try r.u8()
        guard flags == (sparse ? 1 : 0) | (quantized ? 2 : 0) | (rotated ? 4 : 0) else {
            throw Malformed(description: "compression flags \(flags) do not match this run's stages")
        }
        var weights = [Float](repeating: 0, count: layout.weightCount)
        let wIdx = try r.indices(limit: layout.weightCount)
        for i in wIdx {
            let x = try r.f32()
            guard x.isFinite, x >= 0 else { throw Malformed(description: "weight \(x)") }
            weights[Int(i)] = x
        }
        let indices: [Int32]? = sparse ? try r.indices(limit: layout.count) : nil
        let n = indices?.count ?? layout.count
        var values: [Float]
        if quantized {
            values = try Quantizer(bits: config.bits, blockSize: config.blockSize, rotate: rotated).decode(
                count: n,
                from: &r,
                seed: rotationSeed
            )
        } else {
            guard r.remaining >= 4 * n else {
                throw Malformed(description: "\(n) values do not fit in \(r.remaining) bytes")
            }
            values = []
            values.reserveCapacity(n)
            for _ in 0..<n { values.append(try r.f32()) }
        }
        guard r.remaining == 0 else { throw Malformed(description: "\(r.remaining) trailing bytes") }
        guard values.allSatisfy(\.isFinite) else { throw Malformed(description: "non-finite value") }
        var delta = [Float](repeating: 0, count: layout.count)
        if let indices { for (j, i) in indices.enumerated() { delta[Int(i)] = values[j] } } else { delta = values }
        return (delta, weights)
    }
}

/// Unbiased stochastic quantization per block: levels −M … M in 2^b − 1 steps (0 exact for
/// b ≥ 2; b = 1 sends the sign with probability chosen to keep the mean).
struct Quantizer {
    let bits: Int
    let blockSize: Int
    let rotate: Bool

    var levels: Int { bits == 1 ? 2 : (1 << bits) - 1 }

    /// Writes the codes; returns the dequantized values (what the coordinator will read).
    func encode(_ x: [Float], into w: inout ByteWriter, rng: inout Xoshiro256, seed: UInt64) -> [Float] {
        w.u8(UInt8(bits))
        w.varint(UInt64(blockSize))
        let blocks = (x.count + blockSize - 1) / blockSize
        var out = [Float](repeating: 0, count: x.count)
        var packer = BitPacker()
        for b in 0..<blocks {
            let lo = b * blockSize
            let hi = min(x.count, lo + blockSize)
            let len = rotate ? blockSize : hi - lo
            var block = [Float](repeating: 0, count: len)
            for i in lo..<hi { block[i - lo] = x[i] }
            if rotate {
                Hadamard.flipSigns(&block, offset: 0, count: len, seed: Seeds.mix(seed, UInt64(b)))
                Hadamard.transform(&block, offset: 0, count: len)
            }
            var m: Float = 0
            for v in block { m = max(m, abs(v)) }
            w.f32(m)
            let L = levels
            let step = bits == 1 ? 2 * m : 2 * m / Float(L - 1)
            var decoded = [Float](repeating: 0, count: len)
            for (i, v) in block.enumerated() {
                var code = 0
                if m > 0 {
                    let pos = (v + m) / step  // in [0, L − 1]
                    let f = pos.rounded(.down)
                    code = Int(f)
                    if rng.nextUnitFloat() < pos - f { code += 1 }
                    code = min(max(code, 0), L - 1)
                }
                packer.append(UInt64(code), bits: bits)
                decoded[i] = m > 0 ? -m + Float(code) * step : 0
            }
            if rotate {
                Hadamard.transform(&decoded, offset: 0, count: len)
                Hadamard.flipSigns(&decoded, offset: 0, count: len, seed: Seeds.mix(seed, UInt64(b)))
            }
            for i in lo..<hi { out[i] = decoded[i - lo] }
        }
        w.bytes(packer.finish())
        return out
    }

    func decode(count n: Int, from r: inout ByteReader, seed: UInt64) throws -> [Float] {
        guard Int(try r.u8()) == bits, try r.varint() == UInt64(blockSize) else {
            throw UpdateCodec.Malformed(description: "quantization parameters do not match this run")
        }
        let blocks = (n + blockSize - 1) / blockSize
        guard r.remaining >= 4 * blocks else { throw UpdateCodec.Malformed(description: "truncated block scales") }
        // All block scales come first, then every block's codes packed back to back.
        var scales: [Float] = []
        let totalCodes = rotate ? blocks * blockSize : n
        let codeBytes = (totalCodes * bits + 7) / 8
        guard r.remaining == 4 * blocks + codeBytes else {
            throw UpdateCodec.Malformed(
                description: "quantized payload of \(r.remaining) bytes, expected \(4 * blocks + codeBytes)"
            )
        }
        for _ in 0..<blocks { scales.append(try r.f32()) }
        guard scales.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw UpdateCodec.Malformed(description: "bad block scale")
        }
        var unpacker = BitUnpacker(try r.bytes(codeBytes))
        var out = [Float](repeating: 0, count: n)
        let L = levels
        for b in 0..<blocks {
            let lo = b * blockSize
            let hi = min(n, lo + blockSize)
            let len = rotate ? blockSize : hi - lo
            let m = scales[b]
            let step = bits == 1 ? 2 * m : 2 * m / Float(L - 1)
            var block = [Float](repeating: 0, count: len)
            for i in 0..<len {
                let code = Int(unpacker.next(bits: bits))
                guard code < L else { throw UpdateCodec.Malformed(description: "code \(code) above \(L - 1)") }
                block[i] = m > 0 ? -m + Float(code) * step : 0
            }
            if rotate {
                Hadamard.transform(&block, offset: 0, count: len)
                Hadamard.flipSigns(&block, offset: 0, count: len, seed: Seeds.mix(seed, UInt64(b)))
            }
            for i in lo..<hi { out[i] = block[i - lo] }
        }
        return out
    }
}
