import FedSimConfig
import FedSimData
import FedSimTestSupport
import Foundation
import Testing

/// docs/examples/interactions/ is what `InteractionLogFixture.example` writes, byte for byte,
/// and scenarios/interactions-example.yaml loads it. Regenerate after changing the fixture:
/// `FEDSIM_WRITE_EXAMPLES=1 swift test --filter ExampleDataTests`.
@Suite struct ExampleDataTests {
    static let root = #filePath.components(separatedBy: "/Tests/").first!
    static let folder = root + "/docs/examples/interactions"

    @Test func theCommittedExampleIsTheGeneratedOne() throws {
        if ProcessInfo.processInfo.environment["FEDSIM_WRITE_EXAMPLES"] == "1" {
            try FileManager.default.createDirectory(atPath: Self.folder, withIntermediateDirectories: true)
            InteractionLogFixture.example.writeExample(to: Self.folder)
        }
        let dir = TestSupport.temporaryDirectory()
        InteractionLogFixture.example.writeExample(to: dir)
        for f in InteractionLogFixture.exampleFiles {
            let generated = FileManager.default.contents(atPath: dir + "/" + f)
            let committed = FileManager.default.contents(atPath: Self.folder + "/" + f)
            #expect(
                generated != nil && generated == committed,
                "docs/examples/interactions/\(f) differs from the generator"
            )
        }
    }

    @Test func theExampleScenarioLoadsTheExample() throws {
        var s = try Scenario.load(file: Self.root + "/scenarios/interactions-example.yaml")
        let i = try #require(s.data.interactions)
        s.data.interactions?.files = i.files.map { Self.root + "/" + $0 }
        s.data.interactions?.userFeatures?.file = Self.root + "/" + (i.userFeatures?.file ?? "")
        s.data.interactions?.itemFeatures?.file = Self.root + "/" + (i.itemFeatures?.file ?? "")
        let p = try #require(try PopulationFactory.make(s.data, seed: s.seed) as? InteractionLogPopulation)
        let fixture = InteractionLogFixture.example
        #expect(p.name == "ratings")
        #expect(p.deviceCount == fixture.users.count && p.ratingCount == fixture.rows.count)
        #expect(p.ratingScale == 1...10 && p.explicit)
        #expect(p.domainNames == ["north", "south"])
        for (k, item) in p.rawItemIDs.enumerated() {
            #expect(p.itemDomains[k] == Int32(Int(item.suffix(3))! % 2))
        }
        #expect(p.userFeatureNames == ["occupation", "age"])
        #expect(p.categoryNames == InteractionLogFixture.genres.sorted())
    }
}
