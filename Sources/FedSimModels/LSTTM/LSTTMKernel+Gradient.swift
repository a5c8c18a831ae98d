#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension LSTTMKernel {
    /// Adds the gradient of `loss` over `range` into `g`; returns Σ of the cross-entropy terms.
    public static func accumulateGradient<T: BinaryFloatingPoint>(
        _ b: LSTTMBlock<T>,
        _ x: LSTTMExamples,
        range: Range<Int>,
        l2: T,
        into g: inout LSTTMBlock<T>
    ) -> T {
        let k = b.dim
        let e = k + 1
        let nf = b.fields
        let width = b.mlpWidth
        let gw = 2 * k + 1
        let scale = 1 / T(range.count)
        // Per context, in context order (a fixed summation order: results are bit-for-bit
        // reproducible across processes, unlike iterating a hashed dictionary).
        var states = [ShortTerm<T>?](repeating: nil, count: x.contexts)
        var gus = [[T]](repeating: [], count: x.contexts)
        var fv = [T](repeating: 0, count: width)
        var pre = [T](repeating: 0, count: b.hidden)
        var gf = [T](repeating: 0, count: width)
        var sums = [T](repeating: 0, count: k)
        var lossSum: T = 0
        for j in range {
            let c = Int(x.context[j])
            if states[c] == nil {
                states[c] = shortTerm(b, x, c)
                gus[c] = [T](repeating: 0, count: k)
            }
            let s = states[c]!
            let (z, beta) = forward(b, x, j, s, fv: &fv, pre: &pre)
            let y = T(x.label[j])
            lossSum += softplus(z) - y * z
            let gz = (T(1 / (1 + exp(-Double(z)))) - y) * scale
            let ib = Int(x.item[j]) * e
            let cr = Int(x.category[j])
            g.bias += gz
            g.recency += gz * T(x.recency[j])
            g.rows[ib + k] += gz
            for f in 0..<e { g.rows[ib + f] += l2 * scale * b.rows[ib + f] }
            if b.hasCategory && cr >= 0 {
                g.rows[cr * e + k] += gz
                for f in 0..<e { g.rows[cr * e + f] += l2 * scale * b.rows[cr * e + f] }
            }
            // FM and MLP: the gradient with respect to every field vector.
            for f in 0..<k {
                var t: T = 0
                for a in 0..<nf { t += fv[a * k + f] }
                sums[f] = t
            }
            for a in 0..<nf { for f in 0..<k { gf[a * k + f] = gz * (sums[f] - fv[a * k + f]) } }
            if b.recencyInput { gf[width - 1] = 0 }  // r is data: its gradient goes nowhere
            g.w1.withUnsafeMutableBufferPointer { gw in
                b.w1.withUnsafeBufferPointer { w in
                    fv.withUnsafeBufferPointer { v in
                        gf.withUnsafeMutableBufferPointer { gfv in
                            for h in 0..<b.hidden where pre[h] > 0 {
                                let gh = gz * b.out[h]
                                g.out[h] += gz * pre[h]
                                g.b1[h] += gh
                                let row = h * width
                                for i in 0..<width {
                                    gw[row + i] += gh * v[i]
                                    gfv[i] += gh * w[row + i]
                                }
                            }
                        }
                    }
                }
            }
            let slot = b.gated ? 1 : 2
            for f in 0..<k { g.rows[ib + f] += gf[slot * k + f] }
            if b.hasCategory && cr >= 0 { for f in 0..<k { g.rows[cr * e + f] += gf[(slot + 1) * k + f] } }
            if b.gated {
                // u = β u_s + (1 − β) u_l; β = σ(z_s − z_l).
                var gBeta: T = 0
                for f in 0..<k {
                    gus[c][f] += beta * gf[f]
                    gBeta += gf[f] * (s.us[f] - s.ul[f])
                }
                let dz = gBeta * beta * (1 - beta)
                for f in 0..<k {
                    let ef = b.rows[ib + f]
                    g.gate[f] += dz * s.us[f]
                    g.gate[k + f] += dz * ef
                    g.gate[gw + f] -= dz * s.ul[f]
                    g.gate[gw + k + f] -= dz * ef
                    gus[c][f] += dz * b.gate[f]
                    g.rows[ib + f] += dz * (b.gate[k + f] - b.gate[gw + k + f])
                }
                g.gate[2 * k] += dz
                g.gate[gw + 2 * k] -= dz
            } else {
                for f in 0..<k { gus[c][f] += gf[f] }  // field 1 (u_l) is an input
            }
        }
        // Back through the attention, once per context.
        for (c, gu) in gus.enumerated() where !gu.isEmpty {
            let s = states[c]!
            let nb = x.neighbours[c]
            guard !nb.isEmpty else { continue }
            var gm = [T](repeating: 0, count: nb.count * k)
            var galpha = [T](repeating: 0, count: nb.count)
            for j in nb.indices {
                for f in 0..<k {
                    gm[j * k + f] = s.alpha[j] * gu[f]
                    galpha[j] += gu[f] * s.m[j * k + f]
                }
            }
            if b.attention {
                var mean: T = 0
                for j in nb.indices { mean += s.alpha[j] * galpha[j] }
                var gq = [T](repeating: 0, count: k)
                for j in nb.indices {
                    let gs = s.alpha[j] * (galpha[j] - mean)
                    let gx = gs * (s.pre[j] > 0 ? 1 : T(slope))
                    for f in 0..<k {
                        g.att[f] += gx * s.q[f]
                        g.att[k + f] += gx * s.m[j * k + f]
                        gq[f] += gx * b.att[f]
                        gm[j * k + f] += gx * b.att[k + f]
                    }
                }
                for r in 0..<k { for f in 0..<k { g.wUser[r * k + f] += gq[r] * s.ul[f] } }
            }
            var node = [T](repeating: 0, count: k)
            var gnode = [T](repeating: 0, count: k)
            for (j, row) in nb.enumerated() {
                nodeFeature(b, x, c, j, into: &node)
                for f in 0..<k { gnode[f] = 0 }
                for r in 0..<k {
                    let gr = gm[j * k + r]
                    for f in 0..<k {
                        g.wNeighbour[r * k + f] += gr * node[f]
                        gnode[f] += gr * b.wNeighbour[r * k + f]
                    }
                }
                let base = Int(row) * e
                let cat = Int(x.neighbourCategories[c][j])
                for f in 0..<k { g.rows[base + f] += gnode[f] }
                if b.hasCategory && cat >= 0 { for f in 0..<k { g.rows[cat * e + f] += gnode[f] } }
            }
        }
        for i in b.wUser.indices { g.wUser[i] += l2 * b.wUser[i] }
        for i in b.wNeighbour.indices { g.wNeighbour[i] += l2 * b.wNeighbour[i] }
        for i in b.att.indices { g.att[i] += l2 * b.att[i] }
        if b.gated { for i in b.gate.indices { g.gate[i] += l2 * b.gate[i] } }
        for i in b.w1.indices { g.w1[i] += l2 * b.w1[i] }
        for h in 0..<b.hidden { g.out[h] += l2 * b.out[h] }
        g.recency += l2 * b.recency
        return lossSum
    }

    /// b ← b − lr · g on the modules in `mask`; zeroes all of g.
    public static func step<T: BinaryFloatingPoint>(
        _ b: inout LSTTMBlock<T>,
        _ g: inout LSTTMBlock<T>,
        lr: T,
        mask: LSTTMModules
    ) {
        func apply(_ p: inout [T], _ q: inout [T], _ on: Bool) {
            if on { for i in p.indices { p[i] -= lr * q[i] } }
            for i in q.indices { q[i] = 0 }
        }
        apply(&b.rows, &g.rows, mask.contains(.embeddings))
        apply(&b.wUser, &g.wUser, mask.contains(.shortTerm))
        apply(&b.wNeighbour, &g.wNeighbour, mask.contains(.shortTerm))
        apply(&b.att, &g.att, mask.contains(.shortTerm))
        apply(&b.gate, &g.gate, mask.contains(.fusion) && b.gated)
        apply(&b.w1, &g.w1, mask.contains(.scorer))
        apply(&b.b1, &g.b1, mask.contains(.scorer))
        apply(&b.out, &g.out, mask.contains(.scorer))
        if mask.contains(.scorer) {
            b.bias -= lr * g.bias
            b.recency -= lr * g.recency
        }
        g.bias = 0
        g.recency = 0
    }
}
