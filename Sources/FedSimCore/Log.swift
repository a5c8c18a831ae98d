#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A minimal line logger to standard error. Each process of a run writes its own log file
/// (the launcher redirects stderr), so lines carry the component and a monotonic timestamp.
/// Deliberately tiny: logging must never carry secrets, and keeping it small keeps it auditable.
public struct Log: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warning, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        var label: String { ["debug", "info", "warn", "error"][rawValue] }
    }

    public var component: String
    public var minimum: Level

    public init(_ component: String, minimum: Level = .info) {
        self.component = component
        self.minimum = minimum
    }

    public func callAsFunction(_ level: Level, _ message: @autoclosure () -> String) {
        guard level >= minimum else { return }
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let secs = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        let line = "\(formatFixed(secs, 3)) \(level.label) [\(component)] \(message())\n"
        fputs(line, stderr)
    }

    public func info(_ m: @autoclosure () -> String) { self(.info, m()) }
    public func warning(_ m: @autoclosure () -> String) { self(.warning, m()) }
    public func error(_ m: @autoclosure () -> String) { self(.error, m()) }
    public func debug(_ m: @autoclosure () -> String) { self(.debug, m()) }
}

/// Fixed-point decimal formatting without Foundation.
public func formatFixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf") }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let neg = x < 0
    let v = (abs(x) * scale).rounded()
    let whole = (v / scale).rounded(.towardZero)
    let frac = Int(v - whole * scale)
    var fs = String(frac)
    while fs.count < digits { fs = "0" + fs }
    let ws = whole < 1e18 ? String(Int64(whole)) : String(whole)
    return (neg && v != 0 ? "-" : "") + ws + (digits > 0 ? "." + fs : "")
}

/// Monotonic seconds, for timing rounds.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
