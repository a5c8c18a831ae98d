import Foundation
import Yams

/// Reads one YAML mapping into typed values, recording every problem with its key path and
/// line, and noticing keys nobody asked for (typos). Sections call `finish()` when done.
///
/// Errors are collected rather than thrown one at a time, so `fedsim validate` reports
/// every mistake in a file in one go.
public final class ConfigReader {
    public let path: String
    let mapping: Node.Mapping?
    let mark: Mark?
    let sink: ErrorSink
    var consumed: Set<String> = []

    final class ErrorSink {
        var errors: [ScenarioError] = []
        let file: String?
        init(file: String?) { self.file = file }
        func add(_ path: String, _ message: String, _ mark: Mark?) {
            errors.append(ScenarioError(keyPath: path, message: message, file: file, line: mark?.line))
        }
    }

    init(path: String, node: Node?, sink: ErrorSink) {
        self.path = path
        self.sink = sink
        self.mark = node?.mark
        switch node {
        case .none: mapping = nil
        case .some(.mapping(let m)): mapping = m
        case .some(let other):
            if case .scalar(let s) = other, s.string.isEmpty || s.string == "~" || s.string == "null" {
                mapping = nil
            } else {
                mapping = nil
                sink.add(path, "expected a mapping of keys, got \(ConfigReader.describe(other))", other.mark)
            }
        }
    }

    /// The root reader for a whole document.
    public static func root(_ node: Node, file: String?) -> ConfigReader {
        ConfigReader(path: "", node: node, sink: ErrorSink(file: file))
    }

    public var errors: [ScenarioError] { sink.errors }

    func child(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    /// The raw node for `key`, marking it consumed.
    public func node(_ key: String) -> Node? {
        consumed.insert(key)
        guard let v = mapping?[key] else { return nil }
        if case .scalar(let s) = v, s.string == "~" || s.string == "null" || (s.string.isEmpty && s.style == .plain) {
            return nil
        }
        return v
    }

    public func has(_ key: String) -> Bool { mapping?[key] != nil }

    public func fail(_ key: String, _ message: String) {
        sink.add(child(key), message, mapping?[key]?.mark ?? mark)
    }

    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return "\"\(s.string)\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    func scalarText(_ key: String, _ node: Node, expected: String) -> String? {
        guard case .scalar(let s) = node else {
            sink.add(child(key), "expected \(expected), got \(ConfigReader.describe(node))", node.mark)
            return nil
        }
        return s.string
    }

    // MARK: Typed accessors

    public func string(_ key: String, default value: String) -> String {
        guard let n = node(key) else { return value }
        return scalarText(key, n, expected: "a string") ?? value
    }

    public func optionalString(_ key: String) -> String? {
        guard let n = node(key) else { return nil }
        return scalarText(key, n, expected: "a string")
    }

    public func bool(_ key: String, default value: Bool) -> Bool {
        guard let n = node(key), let t = scalarText(key, n, expected: "true or false") else { return value }
        switch t.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            sink.add(child(key), "expected true or false, got \"\(t)\"", n.mark)
            return value
        }
    }

    public func int(_ key: String, default value: Int, range: ClosedRange<Int>) -> Int {
        guard let n = node(key), let t = scalarText(key, n, expected: "an integer") else { return value }
        let cleaned = t.replacingOccurrences(of: "_", with: "")
        guard let v = Int(cleaned) ?? Double(cleaned).flatMap({ $0 == $0.rounded() && abs($0) < 9e15 ? Int($0) : nil })
        else {
            sink.add(child(key), "expected an integer, got \"\(t)\"", n.mark)
            return value
        }
        guard range.contains(v) else {
            sink.add(child(key), "\(v) is out of range; expected \(ConfigReader.describe(range))", n.mark)
            return value
        }
        return v
    }

    public func uint64(_ key: String, default value: UInt64) -> UInt64 {
        guard let n = node(key), let t = scalarText(key, n, expected: "a non-negative integer") else { return value }
        guard let v = UInt64(t.replacingOccurrences(of: "_", with: "")) else {
            sink.add(child(key), "expected a non-negative integer below 2^64, got \"\(t)\"", n.mark)
            return value
        }
        return v
    }

    public func double(
        _ key: String,
        default value: Double,
        min: Double = -.infinity,
        max: Double = .infinity,
        exclusiveMin: Bool = false
    ) -> Double {
        guard let n = node(key), let t = scalarText(key, n, expected: "a number") else { return value }
        guard let v = Double(t.replacingOccurrences(of: "_", with: "")), v.isFinite else {
            sink.add(child(key), "expected a finite number, got \"\(t)\"", n.mark)
            return value
        }
        let lowOK = exclusiveMin ? v > min : v >= min
        guard lowOK, v <= max else {
            let lo = exclusiveMin ? "> \(min)" : ">= \(min)"
            let hi = max.isFinite ? " and <= \(max)" : ""
            sink.add(child(key), "\(t) is out of range; expected a number \(lo)\(hi)", n.mark)
            return value
        }
        return v
    }

    public func choice<E: RawRepresentable & CaseIterable>(_ key: String, default value: E) -> E
    where E.RawValue == String {
        guard let n = node(key), let t = scalarText(key, n, expected: "one of \(E.names)") else { return value }
        guard let v = E(rawValue: t) else {
            sink.add(child(key), "unknown value \"\(t)\"; expected one of \(E.names)", n.mark)
            return value
        }
        return v
    }

    public func stringList(_ key: String, default value: [String]) -> [String] {
        guard let n = node(key) else { return value }
        guard case .sequence(let seq) = n else {
            sink.add(child(key), "expected a list of strings, got \(ConfigReader.describe(n))", n.mark)
            return value
        }
        var out: [String] = []
        for (i, item) in seq.enumerated() {
            if let t = scalarText("\(key)[\(i)]", item, expected: "a string") { out.append(t) }
        }
        return out
    }

    public func doubleList(_ key: String, default value: [Double]) -> [Double] {
        guard let n = node(key) else { return value }
        guard case .sequence(let seq) = n else {
            sink.add(child(key), "expected a list of numbers, got \(ConfigReader.describe(n))", n.mark)
            return value
        }
        var out: [Double] = []
        for (i, item) in seq.enumerated() {
            guard let t = scalarText("\(key)[\(i)]", item, expected: "a number") else { continue }
            guard let v = Double(t), v.isFinite else {
                sink.add(child("\(key)[\(i)]"), "expected a finite number, got \"\(t)\"", item.mark)
                continue
            }
            out.append(v)
        }
        return out
    }

    /// A rule chosen by name (`AggregationRule`, `SamplingRule`): a scalar `key: name`, or a
    /// mapping `key: {rule: name, …its settings}`. Returns the name (`value` when absent) and,
    /// for a mapping, the reader of the settings: the caller reads them and calls `finish()`.
    public func rule<E: RawRepresentable & CaseIterable>(
        _ key: String,
        default value: E
    ) -> (kind: E, settings: ConfigReader?) where E.RawValue == String {
        guard let n = node(key) else { return (value, nil) }
        guard case .mapping = n else { return (choice(key, default: value), nil) }
        let s = section(key)
        if !s.has("rule") { s.fail("rule", "missing; one of \(E.names)") }
        return (s.choice("rule", default: value), s)
    }

    /// Refuses `key`, if present, with `message`: a setting that belongs to another rule is
    /// named as such, not reported as a typo.
    public func refuse(_ key: String, _ message: String) {
        guard has(key) else { return }
        _ = node(key)
        fail(key, message)
    }

    /// A nested section; absent sections read as empty, so every key takes its default.
    public func section(_ key: String) -> ConfigReader {
        ConfigReader(path: child(key), node: node(key), sink: sink)
    }

    /// A list of sections.
    public func sections(_ key: String) -> [ConfigReader] {
        guard let n = node(key) else { return [] }
        guard case .sequence(let seq) = n else {
            sink.add(child(key), "expected a list, got \(ConfigReader.describe(n))", n.mark)
            return []
        }
        return seq.enumerated().map { ConfigReader(path: child("\(key)[\($0.offset)]"), node: $0.element, sink: sink) }
    }

    /// Reports keys present in the file that no reader consumed, with a suggestion.
    public func finish() {
        guard let mapping else { return }
        for (k, v) in mapping {
            guard case .scalar(let s) = k else {
                sink.add(path, "keys must be plain strings", k.mark)
                continue
            }
            let key = s.string
            if !consumed.contains(key) {
                var msg = "unknown key"
                if let best = ConfigReader.closest(key, in: consumed) {
                    msg += "; did you mean \"\(best)\"?"
                } else {
                    msg += "; known keys here: " + consumed.sorted().joined(separator: ", ")
                }
                sink.add(child(key), msg, v.mark ?? k.mark)
            }
        }
    }

    static func describe(_ r: ClosedRange<Int>) -> String {
        if r.upperBound == Int.max { return ">= \(r.lowerBound)" }
        return "\(r.lowerBound)...\(r.upperBound)"
    }

    /// Levenshtein distance <= 2 (or a shared prefix), for "did you mean".
    static func closest(_ key: String, in candidates: Set<String>) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var prev = Array(0...b.count)
            for i in 1...max(a.count, 1) where !a.isEmpty {
                var cur = [i] + Array(repeating: 0, count: b.count)
                for j in 1...max(b.count, 1) where !b.isEmpty {
                    cur[j] = Swift.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                }
                prev = cur
            }
            return a.isEmpty ? b.count : prev[b.count]
        }
        let k = Array(key)
        let scored = candidates.map { ($0, distance(k, Array($0))) }.filter { $0.1 <= Swift.max(2, k.count / 3) }
        return scored.min { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }?.0
    }
}

extension CaseIterable where Self: RawRepresentable, RawValue == String {
    static var names: String { allCases.map { $0.rawValue }.joined(separator: ", ") }
}
