/// A `Float` vector of `count` entries kept as runs of the entries that are not `+0.0`.
///
/// Why: a device's MF update touches about 100 of 1,683 item rows, and every touched row is
/// a contiguous block of the flat layout, so runs (start, length) describe it in a few hundred
/// bytes where the dense vector is 115 kB. Only the bit pattern of `+0.0` counts as absent, so
/// `dense()` gives back exactly the vector the runs were made from (a `-0.0` is kept): every
/// consumer that reads the sparse form sees the same numbers as one that reads the dense form.
///
/// Invariants (checked by `init(count:starts:lengths:values:)`, which decoders use): runs are
/// in increasing order, do not overlap or touch, every length is at least 1, and the values
/// are the runs' entries back to back. A run may hold zeros: every consumer treats a value
/// of 0 inside a run exactly as an absent entry.
public struct SparseFloats: Equatable, Sendable {
    public private(set) var count: Int
    public private(set) var starts: [UInt32]
    public private(set) var lengths: [UInt32]
    public private(set) var values: [Float]

    /// Why a decoded set of runs was refused.
    public struct Malformed: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// The runs of `dense`'s entries whose bit pattern is not that of `+0.0`. A gap of fewer
    /// than `mergeGap` zeros stays inside its run (stored as +0.0): a run costs 8 bytes on the
    /// wire and a zero 4, so the encoding is never larger than the dense vector plus 8 bytes.
    public init(dense: [Float]) {
        count = dense.count
        starts = []
        lengths = []
        values = []
        dense.withUnsafeBufferPointer { p in
            let n = p.count
            let raw = UnsafeRawPointer(p.baseAddress)
            var i = 0
            while i < n {
                // Untouched rows are long stretches of +0.0: skip them 8 floats (32 bytes) at a time.
                if let raw {
                    while i + 8 <= n {
                        let w = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<UInt32>.self)
                        guard w == .zero else { break }
                        i += 8
                    }
                }
                while i < n && p[i].bitPattern == 0 { i += 1 }
                guard i < n else { break }
                let start = i
                var end = i  // one past the last present entry of this run
                while i < n {
                    if p[i].bitPattern != 0 {
                        i += 1
                        end = i
                    } else if i - end + 1 < Self.mergeGap {
                        i += 1
                    } else {
                        break
                    }
                }
                i = end
                starts.append(UInt32(start))
                lengths.append(UInt32(end - start))
                values.append(contentsOf: UnsafeBufferPointer(rebasing: p[start..<end]))
            }
        }
    }

    /// Zeros between two present entries that still split a run.
    public static let mergeGap = 3

    /// Runs as decoded from the wire; throws unless they satisfy the invariants.
    public init(count: Int, starts: [UInt32], lengths: [UInt32], values: [Float]) throws {
        guard starts.count == lengths.count else {
            throw Malformed(description: "\(starts.count) run starts but \(lengths.count) run lengths")
        }
        var end = 0  // one past the previous run, and a run must start strictly after it
        var total = 0
        for (s, l) in zip(starts, lengths) {
            guard l >= 1 else { throw Malformed(description: "a run of length 0 at \(s)") }
            guard Int(s) >= end, !(end > 0 && Int(s) == end) else {
                throw Malformed(description: "run at \(s) overlaps or touches the run before it (which ends at \(end))")
            }
            end = Int(s) + Int(l)
            guard end <= count else {
                throw Malformed(description: "run \(s)..<\(end) runs past the vector's \(count) entries")
            }
            total += Int(l)
        }
        guard total == values.count else {
            throw Malformed(description: "runs cover \(total) entries but \(values.count) values were sent")
        }
        self.count = count
        self.starts = starts
        self.lengths = lengths
        self.values = values
    }

    /// Entries present (the values' count).
    public var presentCount: Int { values.count }

    /// The dense vector, bit for bit the one the runs were made from.
    public func dense() -> [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { o in
            values.withUnsafeBufferPointer { v in
                var j = 0
                for (s, l) in zip(starts, lengths) {
                    let base = Int(s)
                    for k in 0..<Int(l) { o[base + k] = v[j + k] }
                    j += Int(l)
                }
            }
        }
        return out
    }

    /// Calls `body(index, value)` for every present entry, in increasing index order.
    @inline(__always)
    public func forEachPresent(_ body: (Int, Float) throws -> Void) rethrows {
        var j = 0
        for (s, l) in zip(starts, lengths) {
            let base = Int(s)
            for k in 0..<Int(l) { try body(base + k, values[j + k]) }
            j += Int(l)
        }
    }

    /// Multiplies every present value by `f` in place (the absent `+0.0`s would stay `+0.0`
    /// for any finite positive `f`, so the dense result is the same).
    public mutating func scale(by f: Float) {
        for i in values.indices { values[i] *= f }
    }

    /// Replaces the value of the `j`-th present entry (in `forEachPresent` order).
    public mutating func setPresent(_ j: Int, _ x: Float) { values[j] = x }
}
