import FedSimConfig
import FedSimCore
import FedSimData
import FedSimSecAgg
import FedSimWire
import Foundation
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A seeded mutation fuzzer for everything FedSim parses from outside: wire frames, the
/// secure-aggregation stage bodies, scenario YAML, the device directory and rating lines.
///
/// Each target starts from a corpus of valid inputs, applies 1–4 random mutations (bit
/// flips, interesting integers, byte runs inserted, deleted, duplicated, truncation,
/// splicing two corpus entries) and feeds the result to the decoder, which must either
/// return a value or throw — never trap, hang or grow memory. The libFuzzer route
/// (`-sanitize=fuzzer`) needs sanitizer builds of every dependency; this runs anywhere,
/// reproducibly from its seed. A trap is caught by a signal handler that writes the input
/// to `crash-TARGET-SEED.bin` before the process exits 77, so it can become a regression test.
public struct Fuzzer {
    public enum Target: String, CaseIterable, Sendable {
        case frame, secagg, scenario, directory, ratings, log
    }

    public struct Report: Sendable {
        public var target: Target
        public var inputs = 0
        public var accepted = 0
        public var rejected = 0
        public var seconds = 0.0
        /// Distinct rejection reasons (error type and code), for a quick look at coverage.
        public var reasons: [String: Int] = [:]
    }

    public let seed: UInt64
    public var crashDirectory: String

    public init(seed: UInt64, crashDirectory: String = ".") {
        self.seed = seed
        self.crashDirectory = crashDirectory
    }

    public func run(_ target: Target, inputs n: Int) -> Report {
        var rng = Seeds.rng(seed, "fuzz", UInt64(Target.allCases.firstIndex(of: target)!))
        let corpus = Corpus.inputs(for: target)
        var report = Report(target: target)
        CrashCapture.install(directory: crashDirectory, label: "\(target.rawValue)-\(seed)")
        let start = monotonicSeconds()
        for _ in 0..<n {
            var input = corpus[rng.nextBounded(corpus.count)]
            let rounds = 1 + rng.nextBounded(4)
            for _ in 0..<rounds { Mutator.mutate(&input, corpus: corpus, rng: &rng) }
            CrashCapture.current(input)
            switch Self.feed(target, input) {
            case nil: report.accepted += 1
            case let reason?:
                report.rejected += 1
                report.reasons[reason, default: 0] += 1
            }
            report.inputs += 1
        }
        report.seconds = monotonicSeconds() - start
        return report
    }

    /// Runs one input through a target: nil if it decoded, else the rejection reason.
    public static func feed(_ target: Target, _ input: [UInt8]) -> String? {
        switch target {
        case .frame:
            var buf = ByteBufferAllocator().buffer(capacity: input.count)
            buf.writeBytes(input)
            do {
                // Decode frames back to back, as the socket decoder does.
                while let _ = try FrameCodec.decodeFrame(&buf, limits: FrameLimits(maxFrameBytes: 1 << 20)) {}
                return nil
            } catch let e as FrameError {
                return "FrameError.\(e.code)"
            } catch { return "\(type(of: error))" }
        case .secagg:
            guard let stage = input.first else { return "empty" }
            do {
                _ = try SecAggPayload.decode(stage: stage, Array(input.dropFirst()))
                return nil
            } catch let e as SecAggError { return "SecAggError.\(e.code)" } catch { return "\(type(of: error))" }
        case .scenario:
            let text = String(decoding: input, as: UTF8.self)
            do {
                _ = try Scenario.load(yaml: text, file: "fuzz.yaml")
                return nil
            } catch let e as ScenarioErrors { return "ScenarioErrors(\(e.errors.count > 1 ? "many" : "one"))" } catch {
                return "\(type(of: error))"
            }
        case .directory:
            do {
                _ = try DeviceDirectory.decode(input)
                return nil
            } catch { return "\(type(of: error))" }
        case .ratings:
            do {
                _ = try MovieLensPopulation.parseRatings(input, file: "fuzz.inter")
                return nil
            } catch let e as DataError { return e.line == nil ? "DataError" : "DataError(line)" } catch {
                return "\(type(of: error))"
            }
        case .log:
            // The first byte picks the layout: CSV (quoted fields) or a RecBole .inter file.
            guard let layout = input.first else { return "empty" }
            do {
                _ = try InteractionLogPopulation.parseLog(
                    Array(input.dropFirst()),
                    file: "fuzz.log",
                    typed: layout & 1 == 1
                )
                return nil
            } catch let e as DataError { return e.line == nil ? "DataError" : "DataError(line)" } catch {
                return "\(type(of: error))"
            }
        }
    }
}

/// Mutations of a byte string.
enum Mutator {
    static let interesting32: [UInt32] = [
        0, 1, 2, 3, 4, 7, 8, 16, 255, 256, 0x7FFF, 0x8000, 0xFFFF, 0x1_0000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFE,
        0xFFFF_FFFF,
    ]

    static func mutate(_ b: inout [UInt8], corpus: [[UInt8]], rng: inout Xoshiro256) {
        switch rng.nextBounded(9) {
        case 0 where !b.isEmpty:  // flip a bit
            let i = rng.nextBounded(b.count)
            b[i] ^= UInt8(1 << rng.nextBounded(8))
        case 1 where !b.isEmpty:  // random byte
            b[rng.nextBounded(b.count)] = UInt8(truncatingIfNeeded: rng.next())
        case 2 where b.count >= 4:  // an interesting 32-bit little-endian integer
            let i = rng.nextBounded(b.count - 3)
            let v = interesting32[rng.nextBounded(interesting32.count)]
            for j in 0..<4 { b[i + j] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(j))) }
        case 3:  // insert random bytes
            let i = rng.nextBounded(b.count + 1)
            let n = 1 + rng.nextBounded(16)
            b.insert(contentsOf: (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: i)
        case 4 where !b.isEmpty:  // delete a run
            let i = rng.nextBounded(b.count)
            b.removeSubrange(i..<min(b.count, i + 1 + rng.nextBounded(16)))
        case 5 where !b.isEmpty:  // truncate
            b.removeLast(1 + rng.nextBounded(b.count))
        case 6 where !b.isEmpty:  // duplicate a chunk
            let i = rng.nextBounded(b.count)
            let chunk = Array(b[i..<min(b.count, i + 1 + rng.nextBounded(32))])
            b.insert(contentsOf: chunk, at: rng.nextBounded(b.count + 1))
        case 7:  // splice with another corpus entry
            let other = corpus[rng.nextBounded(corpus.count)]
            let cut = rng.nextBounded(b.count + 1)
            let from = rng.nextBounded(other.count + 1)
            b = Array(b[..<cut]) + Array(other[from...])
        default:  // a text-ish mutation: a special byte
            let specials: [UInt8] = Array(":-[]{}&*!|>'\"%@`#,\n\t 0.eE+".utf8)
            b.insert(specials[rng.nextBounded(specials.count)], at: rng.nextBounded(b.count + 1))
        }
        if b.count > 1 << 16 { b.removeLast(b.count - (1 << 16)) }  // keep inputs small
    }
}

/// Writes the input being decoded to a file if the process traps on it.
enum CrashCapture {
    nonisolated(unsafe) static var buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 1 << 17)
    nonisolated(unsafe) static var length = 0
    nonisolated(unsafe) static var path = [CChar](repeating: 0, count: 4096)

    static func current(_ input: [UInt8]) {
        length = min(input.count, 1 << 17)
        input.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: length) }
    }

    static func install(directory: String, label: String) {
        let p = Array((directory + "/crash-" + label + ".bin").utf8CString.prefix(4095))
        for (i, c) in p.enumerated() { path[i] = c }
        for sig in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE] {
            signal(sig) { _ in
                let fd = open(CrashCapture.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                if fd >= 0 {
                    _ = write(fd, CrashCapture.buffer, CrashCapture.length)
                    close(fd)
                }
                _exit(77)
            }
        }
    }
}
