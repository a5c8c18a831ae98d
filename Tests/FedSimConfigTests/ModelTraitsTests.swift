import FedSimConfig
import FedSimTestSupport
import Foundation
import Testing

/// The model kind is branched on in exactly two places: `ModelRegistry` (which type runs) and
/// `ModelTraits` (what the configuration allows). Every rule reads the traits.
@Suite struct ModelTraitsTests {
    static let root = #filePath.components(separatedBy: "/Tests/").first!

    /// A scan of every source file: no `model.kind ==`, no `switch` on it, no case of the kind
    /// enum outside the two registries and the enum's own declaration.
    @Test func noSourceOutsideTheRegistriesBranchesOnTheModelKind() throws {
        let allowed: Set<String> = ["ModelRegistry.swift", "ModelTraits.swift", "Scenario.swift"]
        let patterns = [
            #"model\.kind\s*(==|!=)"#, #"switch\s+[\w.]*model\.kind"#,
            #"(case|==|!=)\s*\.(mf|twoTower|deepfm|lsttm|svdpp)\b"#,
        ]
        let regexes = try patterns.map { try NSRegularExpression(pattern: $0) }
        var offenders: [String] = []
        let sources = Self.root + "/Sources"
        let files = FileManager.default.enumerator(atPath: sources)!.compactMap { $0 as? String }
        #expect(files.count > 100)
        for file in files where file.hasSuffix(".swift") && !allowed.contains((file as NSString).lastPathComponent) {
            let text = try String(contentsOfFile: sources + "/" + file, encoding: .utf8)
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let s = String(line)
                if s.trimmingCharacters(in: .whitespaces).hasPrefix("///") { continue }
                let range = NSRange(s.startIndex..., in: s)
                if regexes.contains(where: { $0.firstMatch(in: s, range: range) != nil }) {
                    offenders.append("\(file):\(n + 1): \(s.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        #expect(offenders.isEmpty, "\(offenders.joined(separator: "\n"))")
    }

    /// Messages name the kinds that support what was asked, from the table.
    @Test func rulesNameTheKindsThatSupportWhatWasAsked() throws {
        func errors(_ yaml: String) -> [ScenarioError] { TestSupport.scenarioErrors("name: t\n" + yaml) }
        let deepfm = errors("model: {kind: deepfm}\npersonalization: {strategy: ditto}\n")
        let strategy = try #require(deepfm.first { $0.keyPath == "personalization.strategy" })
        #expect(strategy.message.contains("needs model.kind: two_tower"), "\(strategy)")
        let meta = errors("model: {kind: mf}\nmeta: {algorithm: reptile}\n")
        #expect(meta.contains { $0.keyPath == "meta.algorithm" && $0.message.contains("two_tower") }, "\(meta)")
        #expect(ModelTraits.kinds { $0.centralized } == "mf")
        #expect(ModelTraits.kinds { $0.strategies.contains(.fedper) } == "mf or two_tower or deepfm or lsttm or svdpp")
    }
}
