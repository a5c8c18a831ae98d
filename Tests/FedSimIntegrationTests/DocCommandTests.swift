import FedSimTestSupport
import Foundation
import Testing

/// Every `fedsim` command line shown in README.md and docs/cli.md names a real subcommand and
/// only options that subcommand has (from its `--help`), and the commands whose arguments are
/// real files run: the docs cannot drift from the CLI.
@Suite struct DocCommandTests {
    static let root = #filePath.components(separatedBy: "/Tests/").first!

    /// `fedsim …` lines inside fenced code blocks (a leading `$ ` dropped, comments cut).
    static func commands(in file: String) throws -> [String] {
        let text = try String(contentsOfFile: root + "/" + file, encoding: .utf8)
        var inBlock = false
        var out: [String] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("```") {
                inBlock.toggle()
                continue
            }
            guard inBlock else { continue }
            var cmd = line.hasPrefix("$ ") ? String(line.dropFirst(2)) : line
            guard cmd.hasPrefix("fedsim ") else { continue }
            if let hash = cmd.range(of: "  #") { cmd = String(cmd[..<hash.lowerBound]) }
            out.append(cmd.trimmingCharacters(in: .whitespaces))
        }
        return out
    }

    /// The subcommand path (`privacy audit`) and the options a documented line uses.
    static func parse(_ command: String) -> (path: [String], options: [String]) {
        let words = command.split(separator: " ").map(String.init).dropFirst()
        var path: [String] = []
        for w in words {
            guard w.first?.isLowercase == true, !w.contains("/"), !w.contains("."), !w.contains("=") else { break }
            path.append(w)
        }
        let options = words.compactMap { w -> String? in
            let t = w.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            guard t.hasPrefix("--") else { return nil }
            return String(t.split(separator: "=").first!)
        }
        return (path, options)
    }

    @Test(arguments: ["README.md", "docs/cli.md"])
    func everyDocumentedCommandExists(file: String) throws {
        let lines = try Self.commands(in: file)
        #expect(lines.count >= 8, "\(file): \(lines)")
        var helps: [String: String] = [:]
        for line in lines {
            let (path, options) = Self.parse(line)
            #expect(!path.isEmpty, "\(file): \(line)")
            let key = path.joined(separator: " ")
            if helps[key] == nil {
                let r = try MultiProcessTests.fedsim(path + ["--help"])
                #expect(r.status == 0, "\(file): `fedsim \(key)` is not a command: \(r.stderr)")
                helps[key] = r.stdout
            }
            for o in options where o != "--help" {
                #expect(helps[key]!.contains(o), "\(file): `fedsim \(key)` has no option \(o) (\(line))")
            }
        }
    }

    /// The documented commands that need only files from the repository, run as shown, from
    /// the repository root (the example log's paths are relative to it).
    @Test func documentedCommandsOnShippedFilesRun() throws {
        let shipped = ["scenarios/quickstart.yaml", "scenarios/interactions-example.yaml"]
        let lines = try Self.commands(in: "docs/cli.md").filter { line in
            shipped.contains { line.contains($0) } && !line.contains("[")
        }
        #expect(lines.count >= 5)
        for line in lines {
            let args = line.split(separator: " ").dropFirst().map(String.init)
            let r = try MultiProcessTests.fedsim(args, directory: Self.root)
            #expect(r.status == 0, "\(line): \(r.stderr)")
        }
    }
}
