/// L2 clipping of a device's update to norm C: v ← v · min(1, C/‖v‖). It bounds each device's
/// influence on a sum to C, which is what DP noise is calibrated to (and what limits a
/// poisoned update).
public enum L2Clip {
    public static func norm(_ v: [Float]) -> Double {
        var s = 0.0
        for x in v { s += Double(x) * Double(x) }
        return s.squareRoot()
    }

    /// Clips in place; returns the norm before clipping.
    @discardableResult
    public static func clip(_ v: inout [Float], to bound: Double) -> Double {
        var s = 0.0
        for x in v { s += Double(x) * Double(x) }
        let norm = s.squareRoot()
        if norm > bound && norm > 0 {
            let f = Float(bound / norm)
            for i in v.indices { v[i] *= f }
        }
        return norm
    }
}
