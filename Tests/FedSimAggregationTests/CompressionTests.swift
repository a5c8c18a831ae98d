import FedSimAggregation
import FedSimConfig
import FedSimCore
import Testing

@Suite struct CompressionTests {
    /// 10 item rows × (3 + 1) values with per-row weights, plus a global bias.
    let layout = ParameterLayout([
        TensorSpec(name: "item_embedding", rows: 10, columns: 3, group: .shared, weighting: .perRow),
        TensorSpec(name: "item_bias", rows: 10, columns: 1, group: .shared, weighting: .perRow),
        TensorSpec(name: "global_bias", rows: 1, columns: 1, group: .shared),
    ])

    func codec(
        _ stages: [CompressionConfig.Stage],
        bits: Int = 8,
        fraction: Double = 0.5,
        feedback: Bool = true,
        block: Int = 16
    ) -> UpdateCodec {
        var c = CompressionConfig()
        c.stages = stages
        c.bits = bits
        c.fraction = fraction
        c.errorFeedback = feedback
        c.blockSize = block
        return UpdateCodec(config: c, layout: layout)
    }

    /// A device that rated items 2 and 7: only those rows (and the global bias) are non-zero.
    func update() -> (delta: [Float], weights: [Float]) {
        var d = [Float](repeating: 0, count: layout.count)
        var w = [Float](repeating: 0, count: layout.weightCount)
        for (row, k) in [(2, 1.0 as Float), (7, -2.0 as Float)] {
            for c in 0..<3 { d[row * 3 + c] = k * Float(c + 1) * 0.1 }
            d[30 + row] = k * 0.05
            w[row] = 2
            w[10 + row] = 2
        }
        d[40] = 0.01
        w[20] = 4
        return (d, w)
    }

    func roundTrip(
        _ c: UpdateCodec,
        _ u: (delta: [Float], weights: [Float]),
        seed: UInt64 = 1
    ) throws -> (delta: [Float], weights: [Float], bytes: Int) {
        var residual: [Int32: Float] = [:]
        var rng = Xoshiro256(seed: seed)
        let body = c.encode(
            weightedDelta: u.delta,
            weights: u.weights,
            residual: &residual,
            clip: nil,
            rng: &rng,
            rotationSeed: 9
        )
        let (d, w) = try c.decode(body, rotationSeed: 9)
        return (d, w, body.count)
    }

    @Test func losslessCodecsRoundTripExactly() throws {
        let u = update()
        for stages: [CompressionConfig.Stage] in [[.sparseRows], [.topK], [.randomK]] {
            let r = try roundTrip(codec(stages, fraction: 1), u)
            #expect(r.delta == u.delta && r.weights == u.weights, "\(stages)")
            #expect(r.bytes < 4 * (layout.count + layout.weightCount))
        }
    }

    @Test func quantizedCodecsRoundTripWithinOneStep() throws {
        let u = update()
        for stages: [CompressionConfig.Stage] in [
            [.quantize], [.rotate, .quantize], [.sparseRows, .quantize], [.topK, .quantize],
        ] {
            for bits in [2, 4, 8, 16] {
                let r = try roundTrip(codec(stages, bits: bits, fraction: 1), u)
                #expect(r.weights == u.weights)
                let m = u.delta.map(abs).max()!
                // One quantization step per value (rotation can spread the block's scale).
                let step = 2 * m / Float((1 << bits) - 2) * (stages.contains(.rotate) ? 4 : 1)
                for (a, b) in zip(r.delta, u.delta) {
                    #expect(abs(a - b) <= step * 1.001 + 1e-6, "\(stages) \(bits) bits")
                }
            }
        }
    }

    /// E[decode(encode(x))] = x: the mean error over many draws goes to 0 at a fixed seed,
    /// for every bit width, with and without rotation.
    @Test(arguments: [1, 2, 4, 8])
    func stochasticQuantizationIsUnbiased(bits: Int) throws {
        let u = update()
        for stages: [CompressionConfig.Stage] in [[.quantize], [.rotate, .quantize]] {
            let c = codec(stages, bits: bits)
            var mean = [Double](repeating: 0, count: layout.count)
            let draws = 4_000
            for s in 0..<draws {
                let r = try roundTrip(c, u, seed: UInt64(s + 1))
                for i in mean.indices { mean[i] += Double(r.delta[i]) / Double(draws) }
            }
            let worst = zip(mean, u.delta).map { abs($0 - Double($1)) }.max()!
            let m = Double(u.delta.map(abs).max()!)
            // Standard error of the mean ≤ step/2/√draws per element; allow 5 of them.
            let step = bits == 1 ? 2 * m : 2 * m / Double((1 << bits) - 2)
            #expect(
                worst < 5 * (stages.contains(.rotate) ? 2 : 1) * step / 2 / Double(draws).squareRoot() + 1e-7,
                "\(stages) \(bits) bits: \(worst)"
            )
        }
    }

    /// Error feedback: what is sent plus what is carried equals the update plus the previous
    /// carry, exactly, every round; after enough rounds with no new signal, all of it is sent.
    @Test func errorFeedbackLosesNothing() throws {
        let u = update()
        for stages: [CompressionConfig.Stage] in [[.topK], [.randomK], [.topK, .quantize]] {
            let c = codec(stages, bits: 8, fraction: 0.25)
            var residual: [Int32: Float] = [:]
            var sentTotal = [Double](repeating: 0, count: layout.count)
            var rng = Xoshiro256(seed: 3)
            for round in 0..<12 {
                let input = round == 0 ? u.delta : [Float](repeating: 0, count: layout.count)
                let before = residual
                let body = c.encode(
                    weightedDelta: input,
                    weights: u.weights,
                    residual: &residual,
                    clip: nil,
                    rng: &rng,
                    rotationSeed: 1
                )
                let sent = try c.decode(body, rotationSeed: 1).weightedDelta
                for i in 0..<layout.count {
                    let carriedIn = Double(before[Int32(i)] ?? 0)
                    let carriedOut = Double(residual[Int32(i)] ?? 0)
                    #expect(abs(Double(input[i]) + carriedIn - Double(sent[i]) - carriedOut) < 1e-6)
                    sentTotal[i] += Double(sent[i])
                }
            }
            for i in 0..<layout.count {
                #expect(abs(sentTotal[i] + Double(residual[Int32(i)] ?? 0) - Double(u.delta[i])) < 1e-5)
            }
            if !stages.contains(.quantize) { #expect(residual.isEmpty, "\(stages): everything sent after 12 rounds") }
        }
    }

    @Test func dpClipBoundsWhatLeavesTheDevice() throws {
        let c = codec([.topK], fraction: 1)
        var residual: [Int32: Float] = [:]
        var rng = Xoshiro256(seed: 1)
        let u = update()
        let body = c.encode(
            weightedDelta: u.delta.map { $0 * 100 },
            weights: u.weights,
            residual: &residual,
            clip: 0.5,
            rng: &rng,
            rotationSeed: 1
        )
        let sent = try c.decode(body, rotationSeed: 1).weightedDelta
        #expect(L2Clip.norm(sent) <= 0.5 * 1.0001)
    }

    @Test func malformedBodiesAreRejectedNotTrapped() throws {
        let c = codec([.rotate, .quantize], bits: 4)
        var residual: [Int32: Float] = [:]
        var rng = Xoshiro256(seed: 1)
        let u = update()
        let body = c.encode(
            weightedDelta: u.delta,
            weights: u.weights,
            residual: &residual,
            clip: nil,
            rng: &rng,
            rotationSeed: 1
        )
        #expect(throws: UpdateCodec.Malformed.self) { try c.decode(Array(body.dropLast()), rotationSeed: 1) }
        #expect(throws: UpdateCodec.Malformed.self) { try c.decode(body + [0], rotationSeed: 1) }
        // other stack
        #expect(throws: UpdateCodec.Malformed.self) { try codec([.quantize], bits: 4).decode(body, rotationSeed: 1) }
        #expect(throws: UpdateCodec.Malformed.self) {
            try c.decode([1, 6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], rotationSeed: 1)
        }
        var rng2 = Xoshiro256(seed: 5)
        for _ in 0..<20_000 {  // mutated bodies: decode throws or returns finite values, never traps
            var b = body
            b[rng2.nextBounded(b.count)] = UInt8(truncatingIfNeeded: rng2.next())
            if let (d, _) = try? c.decode(b, rotationSeed: 1) {
                let finite = d.allSatisfy { $0.isFinite }
                #expect(finite)
            }
        }
    }

    @Test func hadamardIsItsOwnInverse() {
        var rng = Xoshiro256(seed: 2)
        let x = (0..<64).map { _ in Float(rng.nextGaussian()) }
        var y = x
        Hadamard.flipSigns(&y, offset: 0, count: 64, seed: 7)
        Hadamard.transform(&y, offset: 0, count: 64)
        Hadamard.transform(&y, offset: 0, count: 64)
        Hadamard.flipSigns(&y, offset: 0, count: 64, seed: 7)
        for (a, b) in zip(x, y) { #expect(abs(a - b) < 1e-5) }
    }
}
