import FedSimCore

/// An exact, order-independent sum of `Float` vectors.
///
/// Devices' updates arrive in whatever order the sockets deliver them; floating-point
/// addition is not associative, so summing in arrival order would make two runs with the
/// same seed differ in the last bits (and then diverge). Instead each value is rounded to a
/// multiple of 2⁻³⁰ and summed in `Int64`, which is exact and commutative: the result depends
/// only on the *set* of contributions.
///
/// Contract: each |value| must be below `FixedPointSum.maxMagnitude` (2¹⁶), so up to 2¹⁷
/// contributions cannot overflow (2¹⁶·2³⁰·2¹⁷ = 2⁶³). Resolution 2⁻³⁰ ≈ 9.3e-10 absolute,
/// finer than Float's relative precision for any realistic model delta.
public struct FixedPointSum: Sendable, Equatable {
    public static let fractionBits = 30
    public static let scale = Double(1 << 30)
    public static let maxMagnitude: Float = 65_536
    public static let maxContributions = 1 << 17

    public private(set) var sums: [Int64]
    public private(set) var contributions = 0

    public init(count: Int) { sums = [Int64](repeating: 0, count: count) }

    public enum Rejection: Error, Equatable, CustomStringConvertible {
        case lengthMismatch(expected: Int, got: Int)
        case nonFinite(index: Int)
        case outOfRange(index: Int, value: Float)
        case tooManyContributions

        public var description: String {
            switch self {
            case .lengthMismatch(let e, let g): return "vector has \(g) values, expected \(e)"
            case .nonFinite(let i): return "value \(i) is not finite"
            case .outOfRange(let i, let v): return "value \(i) = \(v) exceeds ±\(FixedPointSum.maxMagnitude)"
            case .tooManyContributions: return "more than \(FixedPointSum.maxContributions) contributions"
            }
        }
    }

    /// Checks a vector before it is added, so a bad contribution is refused whole.
    public func validate(_ v: [Float]) throws {
        guard v.count == sums.count else { throw Rejection.lengthMismatch(expected: sums.count, got: v.count) }
        guard contributions < Self.maxContributions else { throw Rejection.tooManyContributions }
        let ok = v.withUnsafeBufferPointer { p -> Bool in
            // Branch-free scan (vectorises); NaN fails `<` and so counts as bad.
            var bad: UInt8 = 0
            for x in p { bad |= abs(x) < Self.maxMagnitude ? 0 : 1 }
            return bad == 0
        }
        if !ok {
            for (i, x) in v.enumerated() {
                if !x.isFinite { throw Rejection.nonFinite(index: i) }
                if abs(x) >= Self.maxMagnitude { throw Rejection.outOfRange(index: i, value: x) }
            }
        }
    }

    /// Adds a validated vector.
    public mutating func add(_ v: [Float]) throws {
        try validate(v)
        let s = Self.scale
        sums.withUnsafeMutableBufferPointer { acc in
            v.withUnsafeBufferPointer { p in
                // Model deltas are mostly zeros (untouched item rows): skip them.
                for i in 0..<p.count where p[i] != 0 { acc[i] &+= Int64((Double(p[i]) * s).rounded(.toNearestOrEven)) }
            }
        }
        contributions += 1
    }

    /// Checks a sparse vector before it is added: the same checks as `validate(_:)` on its
    /// dense form (an absent entry is +0.0, which always passes), over the entries present.
    public func validate(_ v: SparseFloats) throws {
        guard v.count == sums.count else { throw Rejection.lengthMismatch(expected: sums.count, got: v.count) }
        guard contributions < Self.maxContributions else { throw Rejection.tooManyContributions }
        let ok = v.values.withUnsafeBufferPointer { p -> Bool in
            var bad: UInt8 = 0
            for x in p { bad |= abs(x) < Self.maxMagnitude ? 0 : 1 }
            return bad == 0
        }
        if !ok {
            try v.forEachPresent { i, x in
                if !x.isFinite { throw Rejection.nonFinite(index: i) }
                if abs(x) >= Self.maxMagnitude { throw Rejection.outOfRange(index: i, value: x) }
            }
        }
    }

    /// Adds a validated sparse vector, touching only the entries present. Bit for bit the
    /// same sums as `add(_:)` of its dense form: the dense path skips zeros, and each present
    /// value is rounded the same way.
    public mutating func add(_ v: SparseFloats) throws {
        try validate(v)
        let s = Self.scale
        sums.withUnsafeMutableBufferPointer { acc in
            v.values.withUnsafeBufferPointer { p in
                var j = 0
                for (start, length) in zip(v.starts, v.lengths) {
                    let base = Int(start) - j
                    for k in j..<(j + Int(length)) where p[k] != 0 {
                        acc[base + k] &+= Int64((Double(p[k]) * s).rounded(.toNearestOrEven))
                    }
                    j += Int(length)
                }
            }
        }
        contributions += 1
    }

    /// The sum as Doubles.
    public func values() -> [Double] {
        let inv = 1 / Self.scale
        return sums.map { Double($0) * inv }
    }
}
