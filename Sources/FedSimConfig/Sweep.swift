import Foundation
import Yams

/// A scenario's `sweep:` block: which keys to vary. `grid` takes the Cartesian product of
/// its lists (keys in file order); `runs` lists explicit override sets; with both, every
/// listed run is crossed with the grid. Each combination is an ordinary set of `--set`
/// overrides, validated exactly like the command line.
///
/// ```yaml
/// sweep:
///   name: noise-by-clients            # optional; default: the scenario's name
///   grid:
///     privacy.noise_multiplier: [0.5, 1.0, 2.0]
///     seed: [1, 2, 3]
///   runs:
///     - {training.devices_per_round: 50}
///     - {training.devices_per_round: 200}
/// ```
public struct SweepSpec: Sendable, Equatable {
    public var name: String
    /// One override list per run, e.g. ["privacy.noise_multiplier=0.5", "seed=1"].
    public var runs: [[String]]
    /// Optional: report the simulated seconds each run needed to reach this RMSE.
    public var targetRMSE: Double? = nil

    /// Parses the sweep block of a scenario file and validates every combination.
    public static func load(file path: String) throws -> (spec: SweepSpec, base: Scenario) {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw ScenarioErrors(errors: [ScenarioError(keyPath: "", message: "cannot read scenario file", file: path)])
        }
        let base = try Scenario.load(yaml: text, file: path)
        let root = (try? Yams.compose(yaml: text)) ?? nil
        guard let sweep = root?.mapping?["sweep"] else {
            throw ScenarioErrors(errors: [
                ScenarioError(
                    keyPath: "sweep",
                    message: "this scenario has no sweep: block (see docs/scenarios.md)",
                    file: path
                )
            ])
        }
        var errors: [ScenarioError] = []
        func fail(_ key: String, _ msg: String, _ node: Node?) {
            errors.append(ScenarioError(keyPath: key, message: msg, file: path, line: node.map { $0.mark?.line ?? 0 }))
        }
        guard let m = sweep.mapping else {
            throw ScenarioErrors(errors: [
                ScenarioError(keyPath: "sweep", message: "expected a mapping with grid: and/or runs:", file: path)
            ])
        }
        var name = base.name
        var grid: [(String, [String])] = []
        var listed: [[String]] = []
        var target: Double?
        for (k, v) in m {
            switch k.string ?? "" {
            case "name":
                guard let s = v.string, !s.isEmpty, !s.contains("/"), !s.contains(" ") else {
                    fail("sweep.name", "expected a name without spaces or slashes", v)
                    continue
                }
                name = s
            case "grid":
                guard let g = v.mapping else {
                    fail("sweep.grid", "expected a mapping of key paths to lists of values", v)
                    continue
                }
                for (key, values) in g {
                    let keyPath = key.string ?? ""
                    guard let seq = values.sequence, !seq.isEmpty else {
                        fail("sweep.grid.\(keyPath)", "expected a non-empty list of values", values)
                        continue
                    }
                    grid.append((keyPath, seq.map(Self.text)))
                }
            case "runs":
                guard let seq = v.sequence else {
                    fail("sweep.runs", "expected a list of mappings", v)
                    continue
                }
                for (i, item) in seq.enumerated() {
                    guard let im = item.mapping else {
                        fail("sweep.runs[\(i)]", "expected a mapping of key paths to values", item)
                        continue
                    }
                    listed.append(im.map { "\($0.key.string ?? "")=\(Self.text($0.value))" })
                }
            case "target_rmse":
                guard let t = v.string.flatMap(Double.init), t > 0 else {
                    fail("sweep.target_rmse", "expected a positive number", v)
                    continue
                }
                target = t
            default:
                fail("sweep.\(k.string ?? "?")", "unknown key; expected name, grid, runs or target_rmse", k)
            }
        }
        if grid.isEmpty && listed.isEmpty { fail("sweep", "needs grid: or runs:", sweep) }
        if !errors.isEmpty { throw ScenarioErrors(errors: errors) }
        var combos: [[String]] = [[]]
        for (key, values) in grid { combos = combos.flatMap { c in values.map { c + ["\(key)=\($0)"] } } }
        let runs = listed.isEmpty ? combos : listed.flatMap { l in combos.map { l + $0 } }
        // Every combination must be a valid scenario: the errors name the key path.
        for (i, o) in runs.enumerated() {
            do { _ = try Scenario.load(yaml: text, file: path, overrides: o) } catch let e as ScenarioErrors {
                throw ScenarioErrors(
                    errors: e.errors.map {
                        var x = $0
                        x.message = "sweep run \(i + 1) (\(o.joined(separator: " "))): " + x.message
                        return x
                    }
                )
            }
        }
        return (SweepSpec(name: name, runs: runs, targetRMSE: target), base)
    }

    /// A value as `--set` takes it: scalars as they are, lists and mappings in flow style
    /// (`[personal, domain]`), so labels and overrides stay on one line.
    static func text(_ n: Node) -> String {
        if let s = n.scalar?.string { return s }
        if let seq = n.sequence { return "[" + seq.map(text).joined(separator: ", ") + "]" }
        if let m = n.mapping {
            return "{" + m.map { "\(text($0.key)): \(text($0.value))" }.joined(separator: ", ") + "}"
        }
        return (try? Yams.serialize(node: n).trimmingCharacters(in: .whitespacesAndNewlines)) ?? ""
    }
}
