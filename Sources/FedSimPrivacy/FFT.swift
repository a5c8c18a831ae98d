#if canImport(Glibc)
import Glibc
#endif

/// Iterative radix-2 complex FFT on split real/imaginary arrays (for PLD convolution).
enum FFT {
    static func transform(_ re: inout [Double], _ im: inout [Double], inverse: Bool) {
        let n = re.count
        precondition(n > 0 && n & (n - 1) == 0 && im.count == n)
        var j = 0
        for i in 1..<n {  // bit-reversal permutation
            var bit = n >> 1
            while j & bit != 0 {
                j ^= bit
                bit >>= 1
            }
            j |= bit
            if i < j {
                re.swapAt(i, j)
                im.swapAt(i, j)
            }
        }
        // One twiddle table per transform: w_k = exp(∓2πik/n), k < n/2; stage `len` reads every (n/len)-th.
        let half0 = n / 2
        var tr = [Double](repeating: 1, count: max(half0, 1))
        var ti = [Double](repeating: 0, count: max(half0, 1))
        let sign = inverse ? 1.0 : -1.0
        for k in 0..<half0 {
            let ang = sign * 2 * Double.pi * Double(k) / Double(n)
            tr[k] = cos(ang)
            ti[k] = sin(ang)
        }
        var len = 2
        while len <= n {
            let half = len / 2
            let stride = n / len
            re.withUnsafeMutableBufferPointer { r in
                im.withUnsafeMutableBufferPointer { m in
                    tr.withUnsafeBufferPointer { wr in
                        ti.withUnsafeBufferPointer { wi in
                            var start = 0
                            while start < n {
                                for k in 0..<half {
                                    let a = start + k
                                    let b = a + half
                                    let c = wr[k * stride]
                                    let s = wi[k * stride]
                                    let xr = r[b] * c - m[b] * s
                                    let xi = r[b] * s + m[b] * c
                                    r[b] = r[a] - xr
                                    m[b] = m[a] - xi
                                    r[a] += xr
                                    m[a] += xi
                                }
                                start += len
                            }
                        }
                    }
                }
            }
            len <<= 1
        }
        if inverse {
            let s = 1 / Double(n)
            for i in 0..<n {
                re[i] *= s
                im[i] *= s
            }
        }
    }

    /// The `count`-fold cyclic self-convolution of `p` modulo N, the first power of two
    /// ≥ `length`, read from index `shift` on for `keep` entries: the inverse transform of
    /// p̂^count. Each coefficient is raised by binary powering (about log₂ count complex
    /// products, no libm calls); the relative error of p̂_k^count is about count ulps, so the
    /// result carries absolute errors up to about count·1e-16, of either sign. They are kept,
    /// as dp_accounting keeps them: clipping the negative ones would bias every tail sum
    /// upward (by 0.3% of ε at δ = 1e-10, q = 1e-4, σ = 0.3, T = 1e5), while kept, they
    /// largely cancel in δ(ε) = Σ p_l (1 − e^{ε−l}).
    static func cyclicPower(_ p: [Double], _ count: Int, length: Int, shift: Int, keep: Int) -> [Double] {
        var n = 1
        while n < length { n <<= 1 }
        precondition(p.count <= n && keep <= n && shift >= 0)
        var re = p + [Double](repeating: 0, count: n - p.count)
        var im = [Double](repeating: 0, count: n)
        transform(&re, &im, inverse: false)
        re.withUnsafeMutableBufferPointer { r in
            im.withUnsafeMutableBufferPointer { m in
                for k in 0..<n {
                    var br = r[k]
                    var bi = m[k]
                    var ar = 1.0
                    var ai = 0.0
                    var e = count
                    while e > 0 {
                        if e & 1 == 1 { (ar, ai) = (ar * br - ai * bi, ar * bi + ai * br) }
                        e >>= 1
                        if e > 0 { (br, bi) = (br * br - bi * bi, 2 * br * bi) }
                    }
                    r[k] = ar
                    m[k] = ai
                }
            }
        }
        transform(&re, &im, inverse: true)
        var out = [Double](repeating: 0, count: keep)
        for i in 0..<keep { out[i] = re[(i + shift) & (n - 1)] }
        return out
    }

    /// Linear convolution of two non-negative sequences.
    static func convolve(_ a: [Double], _ b: [Double]) -> [Double] {
        let m = a.count + b.count - 1
        if min(a.count, b.count) <= 64 {  // direct is faster and exact for short kernels
            var out = [Double](repeating: 0, count: m)
            for i in a.indices where a[i] != 0 { for j in b.indices { out[i + j] += a[i] * b[j] } }
            return out
        }
        var n = 1
        while n < m { n <<= 1 }
        var ar = a + [Double](repeating: 0, count: n - a.count)
        var ai = [Double](repeating: 0, count: n)
        var br = b + [Double](repeating: 0, count: n - b.count)
        var bi = [Double](repeating: 0, count: n)
        transform(&ar, &ai, inverse: false)
        transform(&br, &bi, inverse: false)
        for i in 0..<n {
            let r = ar[i] * br[i] - ai[i] * bi[i]
            let im = ar[i] * bi[i] + ai[i] * br[i]
            ar[i] = r
            ai[i] = im
        }
        transform(&ar, &ai, inverse: true)
        return Array(ar[0..<m])  // round-off of either sign is kept (see cyclicPower)
    }
}
