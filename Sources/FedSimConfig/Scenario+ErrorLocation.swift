import Yams

extension Scenario {
    /// Errors as a reader of the file wants them: a problem with a key set by `--set` points
    /// at that override, not at line 1 of the file (the override's value is parsed on its
    /// own); then the file's problems in line order, then the overrides', then the rest.
    static func located(_ errors: [ScenarioError], overrides: [String]) -> [ScenarioError] {
        let set = overrides.compactMap { o -> (key: String, text: String)? in
            o.firstIndex(of: "=").map { (String(o[..<$0]), o) }
        }
        let placed = errors.map { e -> ScenarioError in
            // The last override of a key wins, as when applying them. A problem at a key the
            // file does not have (no line) above an override's key was made by that override:
            // `--set trainig.rounds=5` creates `trainig`.
            guard
                let o = set.last(where: {
                    e.keyPath == $0.key || e.keyPath.hasPrefix($0.key + ".")
                        || (e.line == nil && $0.key.hasPrefix(e.keyPath + "."))
                })
            else {
                return e
            }
            var moved = e
            moved.file = "--set \(o.text)"
            moved.line = nil
            return moved
        }
        func rank(_ e: ScenarioError) -> (Int, Int) {
            if let line = e.line { return (0, line) }
            return (e.file?.hasPrefix("--set ") == true ? 1 : 2, 0)
        }
        return placed.enumerated().sorted { a, b in
            let (ra, rb) = (rank(a.element), rank(b.element))
            return ra != rb ? ra < rb : a.offset < b.offset
        }.map(\.element)
    }

    /// The line of the node at a key path ("training.local.epochs", "runtime.faults[1].round")
    /// in the document, for problems found after reading (cross-field checks); the nearest
    /// ancestor present when the key itself is absent (a default).
    static func line(of keyPath: String, in root: Node) -> Int? {
        var node = root
        var line: Int? = nil
        for part in keyPath.split(separator: ".") {
            var key = Substring(part)
            var index: Int? = nil
            if let open = part.firstIndex(of: "["), part.hasSuffix("]") {
                key = part[..<open]
                index = Int(part[part.index(after: open)..<part.index(before: part.endIndex)])
            }
            // The line where the key is written (a mapping's own mark is its first entry's).
            guard let (k, child) = node.mapping?.first(where: { $0.key.string == String(key) }) else { break }
            node = child
            line = k.mark?.line ?? child.mark?.line ?? line
            if let index {
                guard let seq = node.sequence, index >= 0, index < seq.count else { break }
                node = seq[index]
                line = node.mark?.line ?? line
            }
        }
        return line
    }
}
