import FedSimMetrics
import Foundation

/// A finished (or interrupted) run directory, read back for reports and comparisons. Only
/// the documented files are read (docs/metrics.md), so a report works on any run directory.
public struct RunData {
    public let path: String
    public let scenario: [String: Any]
    /// summary.json, nil while the run has not written one (running, or it crashed).
    public let summary: RunSummary?
    /// metrics.jsonl, one `RoundMetrics` per line: the schema the coordinator wrote them with.
    public let rounds: [RoundMetrics]
    public let ledger: [[String: Any]]
    /// Per-device final evaluation rows (device-metrics.csv), if the run wrote them.
    public let deviceRMSE: [Double]

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(path: String) throws {
        self.path = path
        func json(_ name: String) -> [String: Any]? {
            guard let d = FileManager.default.contents(atPath: path + "/" + name) else { return nil }
            return try? JSONSerialization.jsonObject(with: d) as? [String: Any]
        }
        func text(_ name: String) -> String? { try? String(contentsOfFile: path + "/" + name, encoding: .utf8) }
        func lines(_ name: String) -> [[String: Any]] {
            guard let t = try? String(contentsOfFile: path + "/" + name, encoding: .utf8) else { return [] }
            return t.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
        guard let sc = json("scenario.json") else {
            throw Failure(description: "\(path) is not a FedSim run directory (no readable scenario.json)")
        }
        scenario = sc
        summary = try text("summary.json").map { try RunSummary(text: $0, file: path + "/summary.json") }
        rounds = try Self.rounds(text("metrics.jsonl") ?? "", file: path + "/metrics.jsonl")
        ledger = lines("privacy-ledger.jsonl")
        var rmse: [Double] = []
        if let t = try? String(contentsOfFile: path + "/device-metrics.csv", encoding: .utf8) {
            for row in t.split(separator: "\n").dropFirst() {
                let f = row.split(separator: ",")
                if f.count >= 3, let v = Double(f[2]) { rmse.append(v) }
            }
        }
        deviceRMSE = rmse
    }

    /// Decodes metrics.jsonl. A line that is not the schema is an error naming the file, the
    /// line and the key path, except a last line without its newline: a run that stopped while
    /// writing it (the coordinator appends whole lines, so only the end can be cut).
    static func rounds(_ text: String, file: String) throws -> [RoundMetrics] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var out: [RoundMetrics] = []
        for (i, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            do {
                out.append(try MetricsJSON.decode(RoundMetrics.self, line: line))
            } catch {
                if i == lines.count - 1 { break }  // cut short: no newline after it
                throw Failure(description: "\(file):\(i + 1): \(MetricsJSON.describe(error))")
            }
        }
        return out
    }

    public var name: String { (path as NSString).lastPathComponent }
    public var scenarioName: String { scenario["name"] as? String ?? "?" }
    public var seed: Int { scenario["seed"] as? Int ?? 0 }
    public var status: String {
        summary?.status.rawValue ?? (rounds.isEmpty ? "not started" : "running or crashed")
    }
    public var k: Int { (scenario["evaluation"] as? [String: Any])?["k"] as? Int ?? 10 }
    public var privacy: PrivacySummary? { summary?.privacy }
    /// The ε summary.json reports, when finite (an infinite ε is written `null`).
    public var epsilon: Double? { privacy.flatMap { $0.epsilon.isFinite ? $0.epsilon : nil } }
    public var budget: Double {
        ((scenario["privacy"] as? [String: Any])?["budget"] as? [String: Any])?["epsilon"] as? Double ?? 0
    }

    /// A final test metric when the run has a finite one (`finalValue(\.rmse)`).
    public func finalValue(_ metric: KeyPath<FinalMetrics, Double>) -> Double? {
        summary.map { $0.final[keyPath: metric] }.flatMap { $0.isFinite ? $0 : nil }
    }

    /// The cold-start table (`cold_start`, or `cold_start_thirds` with `thirds`), one
    /// dictionary per support size, period or third. The schema keeps these tables as JSON
    /// trees (open-ended: per k, per strategy), and the report's table code reads them by key.
    public func coldStartRows(thirds: Bool = false) -> [[String: Any]] {
        let rows = (thirds ? summary?.coldStartThirds : summary?.coldStart)?.arrayValue ?? []
        return rows.compactMap { $0.foundationValue as? [String: Any] }
    }

    /// (round, value) for every metrics line where `value` has a finite number, e.g.
    /// `series { $0.eval?.rmse }`.
    public func series(_ value: (RoundMetrics) -> Double?) -> [(x: Double, y: Double)] {
        rounds.compactMap { line in value(line).flatMap { $0.isFinite ? (Double(line.round), $0) : nil } }
    }

    /// The last evaluation (`eval` of the last line that has one).
    public var lastEval: EvaluationMetrics? { rounds.last { $0.eval != nil }?.eval }

    /// Per-round increments of a cumulative counter (bytes).
    public func increments(_ value: (RoundMetrics) -> Int?) -> [(x: Double, y: Double)] {
        var prev = 0.0
        return series { value($0).map(Double.init) }.map { p in
            defer { prev = p.y }
            return (p.x, p.y - prev)
        }
    }

    /// Flattens metrics.jsonl into CSV: one column per leaf key (nested keys joined by '.').
    public func metricsCSV() -> String {
        func flatten(_ o: JSONValue, _ prefix: String, into out: inout [String: String]) {
            guard case .object(let members) = o else { return }
            for m in members {
                let key = prefix.isEmpty ? m.key : prefix + "." + m.key
                switch m.value {
                case .object: flatten(m.value, key, into: &out)
                case .array(let a): out[key] = a.map(cell).joined(separator: " ")
                default: out[key] = cell(m.value)
                }
            }
        }
        var rows: [[String: String]] = []
        var columns: [String] = []
        var seen = Set<String>()
        for line in rounds {
            var r: [String: String] = [:]
            flatten((try? MetricsJSON.tree(line)) ?? .object([]), "", into: &r)
            rows.append(r)
            for k in r.keys.sorted() where !seen.contains(k) {
                seen.insert(k)
                columns.append(k)
            }
        }
        let first = ["round"]
        columns = first + columns.filter { !first.contains($0) }
        var csv = columns.joined(separator: ",") + "\n"
        for r in rows { csv += columns.map { csvField(r[$0] ?? "") }.joined(separator: ",") + "\n" }
        return csv
    }
}

/// One CSV cell: numbers as written in metrics.jsonl, text as is, `null` (a non-finite value)
/// empty, so spreadsheet and pandas readers see a missing value; nested values in JSON.
func cell(_ v: JSONValue) -> String {
    switch v {
    case .null: return ""
    case .bool(let b): return b ? "true" : "false"
    case .int(let i): return String(i)
    case .double(let d): return "\(d)"
    case .string(let s): return s
    case .array, .object: return v.text
    }
}

func csvField(_ s: String) -> String {
    s.contains(",") || s.contains("\"") || s.contains("\n")
        ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}

extension JSONValue {
    /// The tree as `JSONSerialization` would give it (`null` is `NSNull`, so a key written
    /// `null` is present but no number), for the cold-start tables' readers.
    var foundationValue: Any {
        switch self {
        case .null: return NSNull()
        case .bool(let b): return b
        case .int(let i): return i
        case .double(let d): return d
        case .string(let s): return s
        case .array(let items): return items.map(\.foundationValue)
        case .object(let members):
            var o: [String: Any] = [:]
            for m in members { o[m.key] = m.value.foundationValue }
            return o
        }
    }
}
