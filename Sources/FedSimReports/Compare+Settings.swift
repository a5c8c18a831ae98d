import Foundation

extension Compare {
    /// The scenario settings (key paths of the resolved scenario, e.g. `training.local.learning_rate`)
    /// whose values are not the same in every run, in key order. These label the runs: a
    /// sweep's table shows the swept values, a comparison shows what was changed. The seed has
    /// its own column already.
    public static func differingSettings(_ runs: [RunData]) -> [String] {
        guard runs.count > 1 else { return [] }
        let flat = runs.map { flatten($0.scenario) }
        let keys = Set(flat.flatMap(\.keys)).subtracting(["seed", "name"])
        return keys.sorted().filter { key in Set(flat.map { $0[key] ?? "" }).count > 1 }
    }

    /// Leaves of a JSON tree as "a.b.c" → text.
    static func flatten(_ node: Any, _ prefix: String = "") -> [String: String] {
        var out: [String: String] = [:]
        if let d = node as? [String: Any] {
            for (k, v) in d { out.merge(flatten(v, prefix.isEmpty ? k : prefix + "." + k)) { a, _ in a } }
        } else if let list = node as? [Any] {
            out[prefix] =
                (try? JSONSerialization.data(withJSONObject: list, options: [.sortedKeys])).map {
                    String(decoding: $0, as: UTF8.self)
                } ?? "\(list)"
        } else if let n = node as? NSNumber {
            out[prefix] = String(cString: n.objCType) == "c" ? (n.boolValue ? "true" : "false") : "\(n)"
        } else {
            out[prefix] = "\(node)"
        }
        return out
    }
}
