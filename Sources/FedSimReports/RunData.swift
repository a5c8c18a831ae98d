import Foundation

/// A finished (or interrupted) run directory, read back for reports and comparisons. Only
/// the documented files are read (docs/metrics.md), so a report works on any run directory.
public struct RunData {
    public let path: String
    public let scenario: [String: Any]
    public let summary: [String: Any]
    public let metrics: [[String: Any]]
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
        summary = json("summary.json") ?? [:]
        metrics = lines("metrics.jsonl")
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

    public var name: String { (path as NSString).lastPathComponent }
    public var scenarioName: String { scenario["name"] as? String ?? "?" }
    public var seed: Int { scenario["seed"] as? Int ?? 0 }
    public var status: String {
        summary["status"] as? String ?? (metrics.isEmpty ? "not started" : "running or crashed")
    }
    public var k: Int { (scenario["evaluation"] as? [String: Any])?["k"] as? Int ?? 10 }
    public var final: [String: Any] { summary["final"] as? [String: Any] ?? [:] }
    public var privacy: [String: Any]? { summary["privacy"] as? [String: Any] }
    public var budget: Double {
        ((scenario["privacy"] as? [String: Any])?["budget"] as? [String: Any])?["epsilon"] as? Double ?? 0
    }

    public func finalValue(_ key: String) -> Double? { (final[key] as? Double).flatMap { $0.isFinite ? $0 : nil } }

    /// (round, value) for every metrics line that has `path` (dot-separated, e.g. "eval.rmse").
    public func series(_ path: String) -> [(x: Double, y: Double)] {
        let keys = path.split(separator: ".").map(String.init)
        return metrics.compactMap { line in
            guard let r = line["round"] as? Int else { return nil }
            var node: Any? = line
            for k in keys { node = (node as? [String: Any])?[k] }
            if let v = node as? Double { return (Double(r), v) }
            if let v = node as? Int { return (Double(r), Double(v)) }
            return nil
        }
    }

    /// Per-round increments of a cumulative counter (bytes).
    public func increments(_ key: String) -> [(x: Double, y: Double)] {
        var prev = 0.0
        return series(key).map { p in
            defer { prev = p.y }
            return (p.x, p.y - prev)
        }
    }

    /// Flattens metrics.jsonl into CSV: one column per leaf key (nested keys joined by '.').
    public func metricsCSV() -> String {
        func flatten(_ o: [String: Any], _ prefix: String, into out: inout [String: String]) {
            for (k, v) in o {
                let key = prefix.isEmpty ? k : prefix + "." + k
                switch v {
                case let d as [String: Any]: flatten(d, key, into: &out)
                case let a as [Any]: out[key] = a.map { "\($0)" }.joined(separator: " ")
                case let n as NSNumber: out[key] = n.stringValue
                default: out[key] = "\(v)"
                }
            }
        }
        var rows: [[String: String]] = []
        var columns: [String] = []
        var seen = Set<String>()
        for line in metrics {
            var r: [String: String] = [:]
            flatten(line, "", into: &r)
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

func csvField(_ s: String) -> String {
    s.contains(",") || s.contains("\"") || s.contains("\n")
        ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}
