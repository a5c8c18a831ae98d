import FedSimConfig
import FedSimMetrics
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A run's TensorBoard event file, `tensorboard/events.out.tfevents.<time>.fedsim`:
///
/// - every numeric field of every `metrics.jsonl` line as a scalar at step = round, nested
///   keys joined with "/" (`eval/rmse`, `privacy/epsilon`, `communication/bytes_up`);
/// - the resolved scenario as hyperparameters (HParams tab, keys joined with ".") and as
///   text;
/// - any text the caller adds (the privacy report, at the end).
///
/// The launcher follows `metrics.jsonl` while the run goes (`MetricsTail`), so TensorBoard shows a
/// live run; the coordinator stays unaware of it. A resumed run appends a new event file;
/// TensorBoard merges files of one folder, and redone rounds show twice at their step.
/// Writing is best effort: a failure here never fails the run (metrics.jsonl is the record).
public final class TensorBoardLog {
    public let path: String
    let handle: FileHandle

    public init(runDirectory: RunDirectory, scenario: Scenario) throws {
        let folder = runDirectory.path + "/tensorboard"
        try FileManager.default.createDirectory(
            atPath: folder,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let now = Date().timeIntervalSince1970
        path = folder + "/events.out.tfevents.\(Int(now)).fedsim.\(getpid())"
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
            let h = FileHandle(forWritingAtPath: path)
        else {
            throw RunDirectory.SetupError(description: "cannot create \(path)")
        }
        handle = h
        let resolved = scenario.resolvedJSON()
        write(EventRecord.fileVersion(wallTime: now))
        if let tree = try? JSONSerialization.jsonObject(with: Data(resolved.utf8)) {
            write(EventRecord.hyperparameters(Self.hyperparameters(tree), wallTime: now))
        }
        addText("scenario", "```\n" + resolved + "```", step: 0)
    }

    deinit { try? handle.close() }

    func write(_ payload: [UInt8]) {
        try? handle.write(contentsOf: EventRecord.frame(payload))
    }

    public func addText(_ tag: String, _ markdown: String, step: Int) {
        write(EventRecord.text(tag: tag, markdown, step: step, wallTime: Date().timeIntervalSince1970))
    }

    /// Writes the scalars of metrics lines (each at step = its round).
    func write(_ lines: [RoundMetrics]) {
        guard !lines.isEmpty else { return }
        for line in lines {
            // Every numeric field, whatever sections the run has: the schema's own encoding,
            // so a field added to `RoundMetrics` shows up here without a change.
            guard let tree = try? MetricsJSON.tree(line) else { continue }
            var values: [(tag: String, value: Float)] = []
            Self.scalars(tree, prefix: "", into: &values)
            values.removeAll { $0.tag == "round" }
            write(EventRecord.scalars(values, step: line.round, wallTime: Date().timeIntervalSince1970))
        }
        try? handle.synchronize()
    }

    /// Numeric leaves of a metrics line, keys sorted (booleans, strings, lists and `null` are
    /// not scalars).
    static func scalars(_ node: JSONValue, prefix: String, into out: inout [(tag: String, value: Float)]) {
        switch node {
        case .object(let members):
            for m in members.sorted(by: { $0.key < $1.key }) {
                scalars(m.value, prefix: prefix.isEmpty ? m.key : prefix + "/" + m.key, into: &out)
            }
        case .int(let i): out.append((prefix, Float(i)))
        case .double(let d) where d.isFinite: out.append((prefix, Float(d)))
        default: break
        }
    }

    /// JSONSerialization gives `true`/`false` as NSNumbers of C type "c" (char); numbers
    /// parse as "i", "q" or "d", so "c" means a boolean.
    static func isBoolean(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    /// The resolved scenario's leaves, keys joined with "."; lists become text.
    static func hyperparameters(_ tree: Any) -> [(name: String, value: EventRecord.HParam)] {
        var out: [(name: String, value: EventRecord.HParam)] = []
        func walk(_ node: Any, _ path: String) {
            if let dict = node as? [String: Any] {
                for key in dict.keys.sorted() { walk(dict[key]!, path.isEmpty ? key : path + "." + key) }
            } else if let list = node as? [Any] {
                let text = (try? JSONSerialization.data(withJSONObject: list)).map {
                    String(decoding: $0, as: UTF8.self)
                }
                out.append((path, .text(text ?? "\(list)")))
            } else if let n = node as? NSNumber, isBoolean(n) {
                out.append((path, .flag(n.boolValue)))
            } else if let d = node as? Double {
                out.append((path, .number(d)))
            } else if let s = node as? String {
                out.append((path, .text(s)))
            }
        }
        walk(tree, "")
        return out
    }
}
