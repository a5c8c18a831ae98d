import FedSimConfig
import FedSimData
import FedSimTestSupport
import Foundation
import Testing

/// Issue 23: one generated log, converted into every layout FedSim reads (CSV with string ids
/// and no rating, TSV with 1–10 ratings over two files, RecBole atomic files with features),
/// gives the same interactions in each.
@Suite struct InteractionLogTests {
    let fixture = InteractionLogFixture()

    func csvConfig(_ dir: String) -> InteractionsConfig {
        var c = InteractionsConfig()
        c.files = [fixture.writeCSVImplicit(to: dir)]
        c.columns.user = "user"
        c.columns.item = "item"
        c.columns.timestamp = "time"
        var u = FeatureFileConfig()
        u.file = dir + "/users.csv"
        u.categorical = ["occupation"]
        u.numeric = ["age"]
        u.buckets = 4
        c.userFeatures = u
        var i = FeatureFileConfig()
        i.file = dir + "/items.csv"
        i.categorical = ["genre"]
        c.itemFeatures = i
        return c
    }

    func tsvConfig(_ dir: String) -> InteractionsConfig {
        var c = InteractionsConfig()
        c.files = fixture.writeTSVRatings(to: dir, parts: 2)
        c.columns.user = "uid"
        c.columns.item = "iid"
        c.columns.rating = "stars"
        c.columns.timestamp = "ts"
        c.ratingScale = [1, 10]
        return c
    }

    func recbole(_ dir: String) throws -> InteractionLogPopulation {
        let folder = fixture.writeRecBole(to: dir, name: "shop")
        var c = RecBoleConfig()
        c.itemCategory = "class"
        c.buckets = 4
        return try InteractionLogPopulation.load(recbole: c, folder: folder, duplicates: .error)
    }

    /// Every device's (item, timestamp, rating) by raw ids.
    func byRawIDs(_ p: InteractionLogPopulation) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for d in 0..<p.deviceCount {
            let x = p.interactions(of: d)
            out[p.rawUserIDs[d]] = x.items.indices.map { "\(p.rawItemIDs[Int(x.items[$0])])@\(x.timestamps[$0])" }
        }
        return out
    }

    var expected: [String: [String]] {
        var out: [String: [(Int64, String)]] = [:]
        for r in fixture.rows { out[r.user, default: []].append((r.timestamp, r.item)) }
        return out.mapValues { $0.sorted { $0 < $1 }.map { "\($0.1)@\($0.0)" } }
    }

    @Test func everyLayoutGivesTheSameInteractions() throws {
        let dir = TestSupport.temporaryDirectory()
        let csv = try InteractionLogPopulation.load(csvConfig(dir), duplicates: .error)
        let tsv = try InteractionLogPopulation.load(tsvConfig(dir), duplicates: .error)
        let rb = try recbole(dir)
        for p in [csv, tsv, rb] {
            #expect(p.deviceCount == fixture.users.count)
            #expect(p.itemCount == fixture.items.count)
            #expect(p.ratingCount == fixture.rows.count)
            #expect(byRawIDs(p) == expected)
            #expect(p.rawUserIDs == csv.rawUserIDs && p.rawItemIDs == csv.rawItemIDs)
        }
        // Implicit: every interaction a positive; explicit: the stated or inferred scale.
        #expect(!csv.explicit && csv.ratingScale == 1...1)
        #expect(csv.interactions(of: 3).ratings.allSatisfy { $0 == 1 })
        #expect(tsv.explicit && tsv.ratingScale == 1...10)
        let ratings = fixture.rows.map { Float($0.rating) }
        #expect(rb.ratingScale == ratings.min()!...ratings.max()!)
        let d = try #require(tsv.rawUserIDs.firstIndex(of: fixture.rows[0].user))
        let x = tsv.interactions(of: d)
        let j = try #require(x.timestamps.firstIndex(of: fixture.rows[0].timestamp))
        #expect(x.ratings[j] == Float(fixture.rows[0].rating))
        // Names: a file's stem, a folder of several files, RecBole's dataset.
        #expect(csv.name == "interactions")
        #expect(tsv.name == URL(fileURLWithPath: dir).lastPathComponent)
        #expect(rb.name == "shop")
    }

    @Test func featuresFollowTheFilesInBothLayouts() throws {
        let dir = TestSupport.temporaryDirectory()
        let csv = try InteractionLogPopulation.load(csvConfig(dir), duplicates: .error)
        let rb = try recbole(dir)
        for p in [csv, rb] {
            #expect(p.userFeatureNames == ["occupation", "age"])
            #expect(p.categoryNames.count == InteractionLogFixture.genres.count)
            for d in 0..<p.deviceCount {
                let f = p.userFeatures(of: d)
                let user = p.rawUserIDs[d]
                // The occupation is the user's group; the age is one of the 4 quantile buckets.
                #expect(
                    Int(f[0])
                        == InteractionLogFixture.occupations.sorted().firstIndex(
                            of: InteractionLogFixture.occupations[fixture.userGroup[user]!]
                        )
                )
                #expect((0..<4).contains(f[1]))
            }
            // Items of one genre share a category, and different genres differ.
            var seen: [Int: Int32] = [:]
            for (i, item) in p.rawItemIDs.enumerated() {
                let g = fixture.itemGroup[item]!
                #expect(seen[g, default: p.itemCategories[i]] == p.itemCategories[i])
                seen[g] = p.itemCategories[i]
            }
            #expect(Set(seen.values).count == InteractionLogFixture.genres.count)
        }
        // Older users are never in a lower age bucket than younger ones.
        let ages = (0..<csv.deviceCount).map { (fixture.userAge[csv.rawUserIDs[$0]]!, csv.userFeatures(of: $0)[1]) }
        for a in ages { for b in ages where a.0 < b.0 { #expect(a.1 <= b.1) } }
    }

    @Test func idsBecomeDenseIndicesInNumericOrderWhenEveryIdIsAnInteger() throws {
        let dir = TestSupport.temporaryDirectory()
        TestSupport.write("u,i\n10,7\n9,100\n10,20\n", to: dir + "/a.csv")
        var c = InteractionsConfig()
        c.files = [dir + "/a.csv"]
        c.columns.user = "u"
        c.columns.item = "i"
        let p = try InteractionLogPopulation.load(c, duplicates: .error)
        #expect(p.rawUserIDs == ["9", "10"])
        #expect(p.rawItemIDs == ["7", "20", "100"])
        TestSupport.write("u,i\nb,x\na,y\nB,x\n", to: dir + "/b.csv")
        c.files = [dir + "/b.csv"]
        let q = try InteractionLogPopulation.load(c, duplicates: .error)
        #expect(q.rawUserIDs == ["B", "a", "b"])  // byte order
        // Without a timestamp a row's position in the log is its time.
        #expect(q.interactions(of: 0).timestamps == [2])
    }

    /// ML-100K's RecBole files through the general `recbole` source give exactly the
    /// interactions of the MovieLens loader (skipped without `make data`).
    @Test func movieLensThroughTheRecBolePathMatchesTheMovieLensLoader() throws {
        let root = #filePath.components(separatedBy: "/Tests/").first! + "/data/ml-100k"
        guard FileManager.default.fileExists(atPath: root + "/ml-100k.inter") else { return }
        let ml = try MovieLensPopulation(folder: root)
        var c = RecBoleConfig()
        c.itemCategory = "class"
        let rb = try InteractionLogPopulation.load(recbole: c, folder: root, duplicates: .error)
        #expect(rb.name == "ml-100k")
        #expect(rb.deviceCount == ml.deviceCount && rb.itemCount == ml.itemCount)
        #expect(rb.rawUserIDs == ml.rawUserIDs.map(String.init))
        #expect(rb.rawItemIDs == ml.rawItemIDs.map(String.init))
        #expect(rb.ratingScale == 1...5)
        for d in 0..<ml.deviceCount { #expect(rb.interactions(of: d) == ml.interactions(of: d)) }
        #expect(rb.userFeatureNames == ["age", "gender", "occupation", "zip_code"])
    }
}
