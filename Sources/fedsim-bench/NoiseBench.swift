import FedSimConfig
import FedSimCore
import FedSimPrivacy
import FedSimRuntime
import Foundation

/// Central DP's noise step as the coordinator runs it (`DPState.privatize`: secure noise in
/// parallel chunks), beside its same-run baseline: the same exact samples drawn on one core
/// from one CSPRNG stream, which is what `privatize` did before the chunks.
enum NoiseBench {
    /// User + system CPU time of this process (all threads).
    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6
    }

    static func privatize() {
        var p = PrivacyConfig()
        p.mechanism = .central
        p.noiseMultiplier = 1
        p.clip = 0.5
        for d in [40_000, 400_000] {
            let sum = (0..<d).map { Double($0 % 13) * 1e-3 }
            var dp = DPState(config: p, rate: 0.01, population: 100_000, seed: 1)
            let sigmaZ = Double(1 << DPState.gridBits) + Double(d).squareRoot()
            let g = DiscreteGaussian(sigmaSquared: sigmaZ * sigmaZ)
            var parallel: [Double] = []
            var cpu = 0.0
            var sequential: [Double] = []
            var sink: Float = 0
            for _ in 0..<7 {
                var t = monotonicSeconds()
                let c = cpuSeconds()
                sink += dp.privatize(sum: sum)[d / 2]
                parallel.append(monotonicSeconds() - t)
                cpu += cpuSeconds() - c
                t = monotonicSeconds()
                var r = NoiseRandomness(.secure)
                var out = [Float](repeating: 0, count: d)
                for i in 0..<d { out[i] = Float((sum[i] + Double(g.sample(using: &r))) * 1e-9) }
                sink += out[d / 2]
                sequential.append(monotonicSeconds() - t)
            }
            let a = parallel.sorted()[3]
            let b = sequential.sorted()[3]
            print(
                "central DP noise, d = \(d): privatize \(formatFixed(a * 1e3, 2)) ms (parallel chunks), one stream on one core \(formatFixed(b * 1e3, 2)) ms, speed-up \(formatFixed(b / a, 2))x; privatize used \(formatFixed(cpu / parallel.reduce(0, +), 2)) cores on average (checksum \(sink.isFinite))"
            )
        }
    }
}
