import FedSimConfig
import FedSimData
import FedSimTestSupport
import Foundation
import Testing

/// Issue 21, class 10: rating files are read strictly. A pair rated twice is refused unless a
/// policy says which rating to keep, a NUL inside a number is not a number, and a UTF-8
/// byte-order mark is not part of the first user id.
@Suite struct LoaderStrictnessTests {
    func folder(_ ratings: String) -> String {
        let dir = TestSupport.temporaryDirectory()
        TestSupport.write(ratings, to: dir + "/u.data")
        return dir
    }

    /// User 1 rates item 10 twice (lines 1 and 3).
    let twice = "1\t10\t4\t100\n2\t10\t3\t150\n1\t10\t2\t300\n1\t20\t5\t200\n"

    @Test func aPairRatedTwiceIsRefusedByDefaultWithBothLines() throws {
        let dir = folder(twice)
        #expect {
            _ = try MovieLensPopulation(folder: dir)
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("\(dir)/u.data:3:") && text.contains("first at line 1")
                && text.contains("data.duplicates")
        }
    }

    @Test(arguments: [
        (DataConfig.Duplicates.first, Float(4), Int64(100)), (.last, 2, 300), (.mean, 3, 300),
    ])
    func aDuplicatesPolicyKeepsOneRating(policy: DataConfig.Duplicates, rating: Float, timestamp: Int64) throws {
        let p = try MovieLensPopulation(folder: folder(twice), duplicates: policy)
        #expect(p.ratingCount == 3)
        let user1 = p.interactions(of: 0)
        let i = try #require(user1.items.firstIndex(of: 0))  // item 10 is index 0
        #expect(user1.items.count == 2)
        #expect(user1.ratings[i] == rating)
        #expect(user1.timestamps[i] == timestamp)
    }

    @Test func theDuplicatesKeyIsValidated() throws {
        #expect(try Scenario.load(yaml: "data: {duplicates: mean}").data.duplicates == .mean)
        #expect(try Scenario.load(yaml: "name: x").data.duplicates == .error)
        #expect {
            try Scenario.load(yaml: "data: {duplicates: newest}")
        } throws: { "\($0)".contains("data.duplicates") }
    }

    @Test func aNULInsideARatingIsNotANumber() {
        let bytes = Array("1\t10\t4\u{0}\t881250949\n".utf8)
        #expect {
            _ = try MovieLensPopulation.parseRatings(bytes, file: "r.data")
        } throws: { "\($0)".hasPrefix("r.data:1: rating") }
        for bad in ["4 ", "0x4", "4e0", "4.", ".", "--4", "4.0.0"] {
            #expect(throws: DataError.self, "\(bad)") {
                _ = try MovieLensPopulation.parseRatings(Array("1\t10\t\(bad)\t5\n".utf8), file: "r.data")
            }
        }
        #expect((try? MovieLensPopulation.parseRatings(Array("1\t10\t4.5\t881250949.0\n".utf8), file: "r")) == 1)
    }

    @Test func aByteOrderMarkIsStripped() throws {
        let p = try MovieLensPopulation(folder: folder("\u{FEFF}1\t10\t4\t100\n2\t20\t3\t200\n"))
        #expect(p.deviceCount == 2)
        #expect(p.rawUserIDs == [1, 2])
    }
}
