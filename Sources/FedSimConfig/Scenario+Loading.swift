import Foundation
import Yams

extension Scenario {
    /// Parses and validates a scenario document. `overrides` are `key.path=value` pairs applied
    /// before validation, so they are checked exactly like the file.
    public static func load(yaml text: String, file: String? = nil, overrides: [String] = []) throws -> Scenario {
        var root: Node
        do {
            root = try Yams.compose(yaml: text) ?? Node.mapping(Node.Mapping([]))
        } catch let e as YamlError {
            throw ScenarioErrors(errors: [
                ScenarioError(
                    keyPath: "",
                    message: "not valid YAML: \(Scenario.describe(e))",
                    file: file,
                    line: Scenario.line(of: e)
                )
            ])
        }
        // Alias bombs ("billion laughs") expand exponentially when walked: refuse documents
        // whose expanded tree is implausibly large for a scenario, before any reader walks it.
        if Self.expandedNodeCount(root, limit: maxExpandedNodes) > maxExpandedNodes {
            throw ScenarioErrors(errors: [
                ScenarioError(
                    keyPath: "",
                    message:
                        "the document expands to more than \(maxExpandedNodes) YAML nodes (aliases referring to aliases?); a scenario needs far fewer",
                    file: file
                )
            ])
        }
        for o in overrides { try apply(override: o, to: &root) }
        let reader = ConfigReader.root(root, file: file)
        let scenario = Scenario(reading: reader)
        reader.finish()
        var errors = reader.errors
        errors += scenario.crossCheck().map {
            ScenarioError(keyPath: $0.0, message: $0.1, file: file, line: Self.line(of: $0.0, in: root))
        }
        if !errors.isEmpty { throw ScenarioErrors(errors: Self.located(errors, overrides: overrides)) }
        return scenario
    }

    /// Largest scenario file read (a scenario is a few kB).
    public static let maxFileBytes = 1 << 20
    /// Largest YAML tree, aliases expanded, a scenario may have.
    public static let maxExpandedNodes = 100_000

    /// Counts nodes with aliases expanded, stopping as soon as the count passes `limit`.
    public static func expandedNodeCount(_ node: Node, limit: Int) -> Int {
        var count = 0
        var stack = [node]
        while let n = stack.popLast() {
            count += 1
            if count > limit { return count }
            switch n {
            case .mapping(let m):
                for (k, v) in m {
                    stack.append(k)
                    stack.append(v)
                }
            case .sequence(let s): stack.append(contentsOf: s)
            default: break
            }
        }
        return count
    }

    public static func load(file path: String, overrides: [String] = []) throws -> Scenario {
        if let attrs = try? FileManager.default.attributesOfItem(atPath: path), let size = attrs[.size] as? Int,
            size > maxFileBytes
        {
            throw ScenarioErrors(errors: [
                ScenarioError(
                    keyPath: "",
                    message: "scenario file is \(size) bytes; the limit is \(maxFileBytes)",
                    file: path
                )
            ])
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            var isFolder: ObjCBool = false
            let why =
                !FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
                ? "no such file" : isFolder.boolValue ? "it is a folder, not a file" : "it is not readable"
            throw ScenarioErrors(errors: [
                ScenarioError(keyPath: "", message: "cannot read the scenario file: \(why)", file: path)
            ])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ScenarioErrors(errors: [ScenarioError(keyPath: "", message: "scenario file is not UTF-8", file: path)]
            )
        }
        var empty = false
        do { empty = try Yams.compose(yaml: text) == nil } catch {}  // a YAML error is reported below, with its line
        if empty {
            // Nothing but whitespace and comments: running it would silently run every default.
            throw ScenarioErrors(errors: [
                ScenarioError(
                    keyPath: "",
                    message:
                        "the scenario file is empty; write the keys to run (every one has a default, docs/scenarios.md), e.g. `name: mine`",
                    file: path
                )
            ])
        }
        return try load(yaml: text, file: path, overrides: overrides)
    }

    /// Every value written out, defaults included: what the run directory records. JSON is
    /// YAML, so `Scenario.load` reads it back unchanged.
    public func resolvedJSON() -> String {
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try! enc.encode(self), as: UTF8.self) + "\n"
    }

    /// Applies `a.b.c=value`: the value is parsed as a YAML scalar or flow collection.
    static func apply(override: String, to root: inout Node) throws {
        guard let eq = override.firstIndex(of: "=") else {
            throw ScenarioErrors(errors: [
                ScenarioError(keyPath: override, message: "override must look like key.path=value")
            ])
        }
        // Empty parts kept: `training..rounds` is a typo to report, not `training.rounds`.
        let path = override[..<eq].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let valueText = String(override[override.index(after: eq)...])
        guard !path.isEmpty, path.allSatisfy({ !$0.isEmpty }) else {
            throw ScenarioErrors(errors: [
                ScenarioError(keyPath: String(override[..<eq]), message: "empty key in override")
            ])
        }
        let value = (try? Yams.compose(yaml: valueText)) ?? nil ?? Node(valueText)
        func set(_ node: inout Node, _ keys: ArraySlice<String>) throws {
            guard var m = node.mapping else {
                let prefix = path[..<(path.count - keys.count)].joined(separator: ".")
                throw ScenarioErrors(errors: [
                    ScenarioError(
                        keyPath: prefix,
                        message: "is not a mapping; cannot override \(keys.joined(separator: ".")) inside it"
                    )
                ])
            }
            let k = keys.first!
            if keys.count == 1 {
                m[k] = value
            } else {
                var child = m[k] ?? Node.mapping(Node.Mapping([]))
                if case .scalar(let s) = child, s.string.isEmpty || s.string == "~" || s.string == "null" {
                    child = Node.mapping(Node.Mapping([]))
                }
                try set(&child, keys.dropFirst())
                m[k] = child
            }
            node = .mapping(m)
        }
        try set(&root, path[...])
    }

    static func describe(_ e: YamlError) -> String {
        switch e {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _):
            return problem
        case .reader(let problem, _, _, _): return problem
        default: return "\(e)"
        }
    }

    static func line(of e: YamlError) -> Int? {
        switch e {
        case .scanner(_, _, let m, _), .parser(_, _, let m, _), .composer(_, _, let m, _): return m.line
        default: return nil
        }
    }
}

extension Scenario {
    init(reading r: ConfigReader) {
        self.init()
        name = r.string("name", default: name)
        seed = r.uint64("seed", default: seed)
        data = DataConfig(reading: r.section("data"))
        model = ModelConfig(reading: r.section("model"))
        training = TrainingConfig(reading: r.section("training"))
        evaluation = EvaluationConfig(reading: r.section("evaluation"))
        secureAggregation = SecureAggregationConfig(reading: r.section("secure_aggregation"))
        privacy = PrivacyConfig(reading: r.section("privacy"))
        runtime = RuntimeConfig(reading: r.section("runtime"))
        fleet = FleetConfig(reading: r.section("fleet"))
        compression = CompressionConfig(reading: r.section("compression"))
        personalization = PersonalizationConfig(reading: r.section("personalization"))
        meta = MetaConfig(reading: r.section("meta"))
        _ = r.node("sweep")  // read by `SweepSpec` (`fedsim sweep`); a plain run ignores it
        if name.isEmpty || name.contains("/") || name.contains(" ") {
            r.fail("name", "must be non-empty without spaces or slashes (it names the run directory)")
        }
    }
}
