import FedSimConfig
import Testing

/// `secure_aggregation.prg`: auto (stored as nil, so other scenarios' resolved JSON is
/// unchanged), an explicit PRG, and a clear error naming the key and the choices.
@Suite struct MaskPRGConfigTests {
    static let base = "name: x\nsecure_aggregation: {protocol: secagg+}\n"

    @Test func choicesAreRead() throws {
        #expect(try Scenario.load(yaml: Self.base).secureAggregation.prg == nil)
        for (value, expected) in [
            ("auto", nil), ("chacha20", .chacha20), ("aes128ctr", .aes128ctr),
        ] as [(String, SecureAggregationConfig.MaskPRGChoice?)] {
            let s = try Scenario.load(yaml: Self.base, overrides: ["secure_aggregation.prg=\(value)"])
            #expect(s.secureAggregation.prg == expected, "prg=\(value)")
        }
    }

    @Test func anUnknownPRGIsRefusedWithItsKeyPath() {
        do {
            _ = try Scenario.load(yaml: Self.base, overrides: ["secure_aggregation.prg=rc4"])
            Issue.record("rc4 was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("prg") && text.contains("aes128ctr") && text.contains("chacha20"), "\(text)")
        }
    }
}
