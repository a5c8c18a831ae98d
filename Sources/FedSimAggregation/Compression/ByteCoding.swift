/// Little-endian writer and bounds-checked reader for the compressed-update format.
struct ByteWriter {
    var out: [UInt8] = []
    mutating func u8(_ v: UInt8) { out.append(v) }
    mutating func f32(_ v: Float) {
        let b = v.bitPattern
        for s in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: b >> UInt32(s))) }
    }
    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
    mutating func bytes(_ b: [UInt8]) { out += b }
    /// Count, then ascending indices as varint gaps (contiguous runs cost a byte each).
    mutating func indices(_ idx: [Int32]) {
        varint(UInt64(idx.count))
        var prev: Int64 = -1
        for i in idx {
            varint(UInt64(Int64(i) - prev - 1))
            prev = Int64(i)
        }
    }
}

struct ByteReader {
    let b: [UInt8]
    var at = 0
    init(_ b: [UInt8]) { self.b = b }
    var remaining: Int { b.count - at }

    mutating func u8() throws -> UInt8 {
        guard at < b.count else { throw UpdateCodec.Malformed(description: "truncated") }
        defer { at += 1 }
        return b[at]
    }
    mutating func f32() throws -> Float {
        guard remaining >= 4 else { throw UpdateCodec.Malformed(description: "truncated float") }
        var v: UInt32 = 0
        for s in 0..<4 { v |= UInt32(b[at + s]) << UInt32(8 * s) }
        at += 4
        return Float(bitPattern: v)
    }
    mutating func varint() throws -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let x = try u8()
            guard shift < 64 else { throw UpdateCodec.Malformed(description: "varint too long") }
            v |= UInt64(x & 0x7F) << shift
            if x & 0x80 == 0 { return v }
            shift += 7
        }
    }
    mutating func bytes(_ n: Int) throws -> [UInt8] {
        guard n >= 0, remaining >= n else { throw UpdateCodec.Malformed(description: "truncated") }
        defer { at += n }
        return Array(b[at..<(at + n)])
    }
    /// Ascending indices below `limit`, at most `limit` of them.
    mutating func indices(limit: Int) throws -> [Int32] {
        let n = try varint()
        guard n <= UInt64(limit), n <= UInt64(remaining) else {
            throw UpdateCodec.Malformed(description: "\(n) indices (limit \(limit))")
        }
        var out: [Int32] = []
        out.reserveCapacity(Int(n))
        var prev: Int64 = -1
        for _ in 0..<n {
            let gap = try varint()
            guard gap < UInt64(limit) else { throw UpdateCodec.Malformed(description: "index gap \(gap)") }
            let i = prev + 1 + Int64(gap)
            guard i < Int64(limit) else { throw UpdateCodec.Malformed(description: "index \(i) beyond \(limit)") }
            out.append(Int32(i))
            prev = i
        }
        return out
    }
}

struct BitPacker {
    var out: [UInt8] = []
    var acc: UInt64 = 0
    var n = 0
    mutating func append(_ v: UInt64, bits: Int) {
        acc |= v << UInt64(n)
        n += bits
        while n >= 8 {
            out.append(UInt8(truncatingIfNeeded: acc))
            acc >>= 8
            n -= 8
        }
    }
    mutating func finish() -> [UInt8] {
        if n > 0 {
            out.append(UInt8(truncatingIfNeeded: acc))
            acc = 0
            n = 0
        }
        return out
    }
}

struct BitUnpacker {
    let b: [UInt8]
    var at = 0
    var acc: UInt64 = 0
    var n = 0
    init(_ b: [UInt8]) { self.b = b }
    mutating func next(bits: Int) -> UInt64 {
        while n < bits {
            acc |= UInt64(at < b.count ? b[at] : 0) << UInt64(n)
            at += 1
            n += 8
        }
        let v = acc & ((1 << UInt64(bits)) - 1)
        acc >>= UInt64(bits)
        n -= bits
        return v
    }
}
