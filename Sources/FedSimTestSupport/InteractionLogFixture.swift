import FedSimCore
import Foundation

/// A small seeded interaction log and the layouts FedSim reads it in: CSV with string ids and
/// no rating, TSV with ratings on a 1–10 scale, and RecBole atomic files with user and item
/// features. Tests convert the same log into each and check every layout gives the same
/// interactions; docs/examples/interactions/ is `writeExample` of it.
///
/// The log has structure to learn: users and items fall into `groups` taste groups, a user
/// picks mostly items of its own group and rates them high, so a trained model beats the
/// popularity and random baselines.
public struct InteractionLogFixture: Sendable {
    public struct Row: Sendable, Equatable {
        public var user: String
        public var item: String
        public var rating: Int  // 1...10
        public var timestamp: Int64
    }

    public let users: [String]
    public let items: [String]
    public let rows: [Row]
    /// Per user: group (its occupation) and age; per item: group (its genre).
    public let userGroup: [String: Int]
    public let userAge: [String: Int]
    public let itemGroup: [String: Int]
    public static let genres = ["drama", "comedy, light", "action \"big\""]
    public static let occupations = ["nurse", "engineer", "artist"]

    public init(
        users userCount: Int = 60,
        items itemCount: Int = 90,
        perUser: ClosedRange<Int> = 12...24,
        seed: UInt64 = 11
    ) {
        var rng = Xoshiro256(seed: seed)
        let groups = Self.genres.count
        // String ids with a comma and a quote: the CSV writer must quote them, the reader unquote.
        users = (0..<userCount).map { $0 % 17 == 5 ? "smith, \"j\" \($0)" : "user-\(String(format: "%03d", $0))" }
        let itemIDs = (0..<itemCount).map { "item-\(String(format: "%03d", $0))" }
        items = itemIDs
        var ug: [String: Int] = [:]
        var ua: [String: Int] = [:]
        var ig: [String: Int] = [:]
        for (i, it) in itemIDs.enumerated() { ig[it] = i % groups }
        var rows: [Row] = []
        var clock: Int64 = 1_600_000_000
        for (u, user) in users.enumerated() {
            ug[user] = u % groups
            ua[user] = 18 + rng.nextBounded(50)
            let n = perUser.lowerBound + rng.nextBounded(perUser.count)
            var chosen = Set<Int>()
            while chosen.count < n {
                let own = rng.nextBounded(10) < 8
                let candidates = (0..<itemCount).filter { ($0 % groups == u % groups) == own }
                chosen.insert(candidates[rng.nextBounded(candidates.count)])
            }
            // A user's interactions in random time order: the latest (a leave-one-out test
            // item) is any of them, not the same item for a whole group.
            var picks = chosen.sorted()
            for k in stride(from: picks.count - 1, to: 0, by: -1) { picks.swapAt(k, rng.nextBounded(k + 1)) }
            for i in picks {
                let liked = i % groups == u % groups
                let r = (liked ? 7 : 2) + rng.nextBounded(4)
                clock += 60 + Int64(rng.nextBounded(3_600))
                rows.append(Row(user: user, item: itemIDs[i], rating: r, timestamp: clock))
            }
        }
        // Log order is time order across users, as a real log's would be: interleave by time.
        var shuffled = rows
        for k in stride(from: shuffled.count - 1, to: 0, by: -1) { shuffled.swapAt(k, rng.nextBounded(k + 1)) }
        self.rows = shuffled
        userGroup = ug
        userAge = ua
        itemGroup = ig
    }

    /// RFC 4180: a field with the separator, a quote or a line break is quoted, quotes doubled.
    public static func csvField(_ s: String, separator: Character = ",") -> String {
        guard s.contains(separator) || s.contains("\"") || s.contains("\n") else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func csv(_ rows: [[String]], separator: Character = ",") -> String {
        rows.map { $0.map { csvField($0, separator: separator) }.joined(separator: String(separator)) }.joined(
            separator: "\n"
        ) + "\n"
    }

    func userTable() -> [[String]] {
        [["user", "occupation", "age"]] + users.map { [$0, Self.occupations[userGroup[$0]!], String(userAge[$0]!)] }
    }

    func itemTable() -> [[String]] { [["item", "genre"]] + items.map { [$0, Self.genres[itemGroup[$0]!]] } }

    /// `interactions.csv` (columns user, item, time; no rating) with `users.csv` and
    /// `items.csv`, CRLF line ends as spreadsheets write them. Returns the log's path.
    @discardableResult
    public func writeCSVImplicit(to dir: String) -> String {
        let log = Self.csv([["user", "item", "time"]] + rows.map { [$0.user, $0.item, String($0.timestamp)] })
        TestSupport.write(log.replacingOccurrences(of: "\n", with: "\r\n"), to: dir + "/interactions.csv")
        TestSupport.write(Self.csv(userTable()), to: dir + "/users.csv")
        TestSupport.write(Self.csv(itemTable()), to: dir + "/items.csv")
        return dir + "/interactions.csv"
    }

    /// `ratings.tsv`: uid, iid, stars (1–10), ts, with the log split over two files when
    /// `parts` is 2 (`ratings-1.tsv`, `ratings-2.tsv`). Returns the paths.
    @discardableResult
    public func writeTSVRatings(to dir: String, parts: Int = 1) -> [String] {
        let header = ["uid", "iid", "stars", "ts"]
        let body = rows.map { [$0.user, $0.item, String($0.rating), String($0.timestamp)] }
        let cut = (body.count + parts - 1) / parts
        let paths = (0..<parts).map { parts == 1 ? dir + "/ratings.tsv" : dir + "/ratings-\($0 + 1).tsv" }
        for (k, path) in paths.enumerated() {
            let chunk = Array(body[min(body.count, k * cut)..<min(body.count, (k + 1) * cut)])
            TestSupport.write(Self.csv([header] + chunk, separator: "\t"), to: path)
        }
        return paths
    }

    /// RecBole atomic files `<dir>/<name>/<name>.inter`, `.user` (occupation token, age float)
    /// and `.item` (genre as a token_seq). Returns the dataset folder (`data.path`).
    @discardableResult
    public func writeRecBole(to dir: String, name: String) -> String {
        let folder = dir + "/" + name
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        func tsv(_ rows: [[String]]) -> String {
            rows.map { $0.joined(separator: "\t") }.joined(separator: "\n") + "\n"
        }
        // RecBole tokens cannot hold tabs; ids keep their spaces and commas unquoted.
        TestSupport.write(
            tsv(
                [["user_id:token", "item_id:token", "rating:float", "timestamp:float"]]
                    + rows.map { [$0.user, $0.item, "\($0.rating).0", "\($0.timestamp).0"] }
            ),
            to: folder + "/\(name).inter"
        )
        TestSupport.write(
            tsv(
                [["user_id:token", "occupation:token", "age:float"]]
                    + users.map { [$0, Self.occupations[userGroup[$0]!], String(userAge[$0]!)] }
            ),
            to: folder + "/\(name).user"
        )
        TestSupport.write(
            tsv([["item_id:token", "class:token_seq"]] + items.map { [$0, Self.genres[itemGroup[$0]!]] }),
            to: folder + "/\(name).item"
        )
        return folder
    }
}

extension InteractionLogFixture {
    /// The worked example of docs/data.md (docs/examples/interactions/): 40 users, 30 items in
    /// two shops (the domain column), ratings 1–10, with user and item feature files.
    public static let example = InteractionLogFixture(users: 40, items: 30, perUser: 8...16, seed: 23)

    public static let exampleFiles = ["ratings.csv", "users.csv", "items.csv"]

    /// Writes `ratings.csv` (user, item, rating, time, shop), `users.csv` and `items.csv`.
    public func writeExample(to dir: String) {
        let log =
            [["user", "item", "rating", "time", "shop"]]
            + rows.map { r in
                [
                    r.user, r.item, String(r.rating), String(r.timestamp),
                    Int(r.item.suffix(3))! % 2 == 0 ? "north" : "south",
                ]
            }
        TestSupport.write(Self.csv(log), to: dir + "/ratings.csv")
        TestSupport.write(Self.csv(userTable()), to: dir + "/users.csv")
        TestSupport.write(Self.csv(itemTable()), to: dir + "/items.csv")
    }
}
