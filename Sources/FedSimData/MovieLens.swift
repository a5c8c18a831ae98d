import FedSimConfig
import Foundation

/// MovieLens-100K, from either the GroupLens files (`u.data`, `u.user`, `u.item`) or the
/// RecBole atomic files (`ml-100k.inter`, `.user`, `.item`). Every user is one device.
///
/// Raw ids are mapped to dense indices in ascending numeric order; each device's ratings are
/// sorted by (timestamp, item), so the population is identical whichever layout it came from.
public struct MovieLensPopulation: Population {
    public let name = "movielens-100k"
    public let deviceCount: Int
    public let itemCount: Int
    public let ratingScale: ClosedRange<Float> = 1...5
    public let domainNames: [String]
    public let userFeatureNames = ["age_bucket", "gender", "occupation"]
    public let itemDomains: [Int32]
    /// Genre bit set per item (bit g set when the movie has genre g of `genreNames`).
    public let itemGenres: [UInt32]
    public let genreNames: [String]
    /// A movie's first listed genre (ignoring "unknown" when it has another): the label that
    /// non-IID partitioners split over.
    public let itemCategories: [Int32]
    public var categoryNames: [String] { genreNames }
    public let rawUserIDs: [Int64]
    public let rawItemIDs: [Int64]
    public let ratingCount: Int

    // CSR storage: ratings of device d are at offsets[d]..<offsets[d+1].
    let offsets: [Int]
    let items: [Int32]
    let ratings: [Float]
    let timestamps: [Int64]
    let features: [[Int32]]

    static func primaryGenre(_ bits: UInt32) -> Int32 {
        let known = bits & ~1
        if known != 0 { return Int32(known.trailingZeroBitCount) }
        return 0
    }

    public static let genres = [
        "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
        "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
    ]

    public enum Layout: String, Sendable { case grouplens, recbole }

    /// Which layout a folder holds, if any.
    public static func detectLayout(in folder: String) -> Layout? {
        let fm = FileManager.default
        if fm.fileExists(atPath: folder + "/u.data") { return .grouplens }
        if fm.fileExists(atPath: folder + "/ml-100k.inter") { return .recbole }
        return nil
    }

    /// `genre_groups` domains: a movie's primary genre decides (action-like, comedy-like,
    /// drama-like), so each user has internal and external "domains" for cross-domain and
    /// LSTTM-style experiments on real data.
    public static let genreGroupNames = ["action", "comedy", "drama"]
    static func genreGroup(_ primary: Int32) -> Int32 {
        switch primary {
        case 0, 3, 4, 5, 12: return 1  // unknown, Animation, Children's, Comedy, Musical
        case 7, 8, 14: return 2  // Documentary, Drama, Romance
        // Action, Adventure, Crime, Fantasy, Film-Noir, Horror, Mystery, Sci-Fi, Thriller, War, Western
        default: return 0
        }
    }

    public init(
        folder: String,
        domains: DataConfig.MovieLensDomains = .single,
        duplicates: DataConfig.Duplicates = .error
    ) throws {
        guard let layout = Self.detectLayout(in: folder) else {
            throw DataError(
                file: folder,
                message: "no MovieLens-100K here (expected u.data or ml-100k.inter); run `make data` to fetch it"
            )
        }
        var raw: [Rating] = []
        var userInfo: [Int64: [Int32]] = [:]
        var itemGenreRaw: [Int64: UInt32] = [:]
        let fm = FileManager.default
        switch layout {
        case .grouplens:
            raw = try Self.readRatings(folder + "/u.data", separator: 9, header: false)
            if fm.fileExists(atPath: folder + "/u.user") {
                userInfo = try Self.readUsers(folder + "/u.user", separator: UInt8(ascii: "|"), header: false)
            }
            if fm.fileExists(atPath: folder + "/u.item") {
                itemGenreRaw = try Self.readGroupLensItems(folder + "/u.item")
            }
        case .recbole:
            raw = try Self.readRatings(folder + "/ml-100k.inter", separator: 9, header: true)
            if fm.fileExists(atPath: folder + "/ml-100k.user") {
                userInfo = try Self.readUsers(folder + "/ml-100k.user", separator: 9, header: true)
            }
            if fm.fileExists(atPath: folder + "/ml-100k.item") {
                itemGenreRaw = try Self.readRecBoleItems(folder + "/ml-100k.item")
            }
        }
        guard !raw.isEmpty else { throw DataError(file: folder, message: "no ratings found") }
        let ratingsFile = folder + (layout == .grouplens ? "/u.data" : "/ml-100k.inter")
        raw = try Self.resolveDuplicates(raw, policy: duplicates, file: ratingsFile)

        rawUserIDs = Array(Set(raw.map(\.user))).sorted()
        let itemSet = Set(raw.map(\.item)).union(itemGenreRaw.keys)
        rawItemIDs = Array(itemSet).sorted()
        var userIndex: [Int64: Int] = [:]
        for (i, u) in rawUserIDs.enumerated() { userIndex[u] = i }
        var itemIndex: [Int64: Int32] = [:]
        for (i, it) in rawItemIDs.enumerated() { itemIndex[it] = Int32(i) }

        let du = raw.map { userIndex[$0.user]! }
        let di = raw.map { itemIndex[$0.item]! }
        let order = (0..<raw.count).sorted { a, b in (du[a], raw[a].ts, di[a], a) < (du[b], raw[b].ts, di[b], b) }
        var offsets = [Int](repeating: 0, count: rawUserIDs.count + 1)
        for u in du { offsets[u + 1] += 1 }
        for i in 0..<rawUserIDs.count { offsets[i + 1] += offsets[i] }
        self.offsets = offsets
        items = order.map { di[$0] }
        ratings = order.map { raw[$0].rating }
        timestamps = order.map { raw[$0].ts }
        deviceCount = rawUserIDs.count
        itemCount = rawItemIDs.count
        ratingCount = raw.count
        itemGenres = rawItemIDs.map { itemGenreRaw[$0] ?? 0 }
        genreNames = Self.genres
        itemCategories = itemGenres.map(Self.primaryGenre)
        switch domains {
        case .single:
            domainNames = ["movies"]
            itemDomains = [Int32](repeating: 0, count: rawItemIDs.count)
        case .genreGroups:
            domainNames = Self.genreGroupNames
            itemDomains = itemCategories.map(Self.genreGroup)
        }
        features = rawUserIDs.map { userInfo[$0] ?? [-1, -1, -1] }
    }

    public func interactions(of device: Int) -> Interactions {
        let r = offsets[device]..<offsets[device + 1]
        return Interactions(items: Array(items[r]), ratings: Array(ratings[r]), timestamps: Array(timestamps[r]))
    }

    public func userFeatures(of device: Int) -> [Int32] { features[device] }

    // MARK: Parsing

    /// One parsed rating line (`line`: its 1-based line number, for messages).
    typealias Rating = (user: Int64, item: Int64, rating: Float, ts: Int64, line: Int)

    static func readRatings(_ path: String, separator: UInt8, header: Bool) throws -> [Rating] {
        try parseRatings(DelimitedFile(path: path), separator: separator, header: header)
    }

    /// Parses rating lines from memory (the fuzzer's entry point). A first line naming
    /// columns (`user_id:token…`) is read as the RecBole header; otherwise the GroupLens
    /// tab-separated layout is assumed. Errors carry file:line.
    public static func parseRatings(_ bytes: [UInt8], file: String) throws -> Int {
        let header = bytes.starts(with: Array("user_id".utf8))
        return try parseRatings(DelimitedFile(path: file, bytes: bytes), separator: 9, header: header).count
    }

    static func parseRatings(_ file: DelimitedFile, separator: UInt8, header: Bool) throws -> [Rating] {
        var cols = (user: 0, item: 1, rating: 2, ts: 3)
        var out: [Rating] = []
        out.reserveCapacity(file.bytes.count / 20)
        var sawHeader = !header
        try file.forEachLine(separator: separator) { line, f in
            if !sawHeader {
                sawHeader = true
                let names = f.map { Field.text($0).split(separator: ":").first.map(String.init) ?? "" }
                guard let u = names.firstIndex(of: "user_id"), let i = names.firstIndex(of: "item_id"),
                    let r = names.firstIndex(of: "rating"), let t = names.firstIndex(of: "timestamp")
                else { throw file.error(line, "header must name user_id, item_id, rating and timestamp columns") }
                cols = (u, i, r, t)
                return
            }
            let need = max(cols.user, cols.item, cols.rating, cols.ts) + 1
            guard f.count >= need else {
                throw file.error(line, "expected \(need) fields (user, item, rating, timestamp), found \(f.count)")
            }
            guard let u = Field.int(f[cols.user]), u >= 0 else {
                throw file.error(line, "user id \"\(Field.text(f[cols.user]))\" is not a non-negative integer")
            }
            guard let i = Field.int(f[cols.item]), i >= 0 else {
                throw file.error(line, "item id \"\(Field.text(f[cols.item]))\" is not a non-negative integer")
            }
            guard let r = Field.number(f[cols.rating]), r >= 1, r <= 5 else {
                throw file.error(line, "rating \"\(Field.text(f[cols.rating]))\" is not a number in 1...5")
            }
            guard let t = Field.number(f[cols.ts]), t >= 0, t < 1e15 else {
                throw file.error(line, "timestamp \"\(Field.text(f[cols.ts]))\" is not a non-negative number")
            }
            out.append((u, i, Float(r), Int64(t), line))
        }
        return out
    }

    /// Age buckets as in MovieLens-1M: <18, 18–24, 25–34, 35–44, 45–49, 50–55, 56+.
    static func ageBucket(_ age: Int64) -> Int32 {
        switch age {
        case ..<18: return 0
        case 18...24: return 1
        case 25...34: return 2
        case 35...44: return 3
        case 45...49: return 4
        case 50...55: return 5
        default: return 6
        }
    }

    static func readUsers(_ path: String, separator: UInt8, header: Bool) throws -> [Int64: [Int32]] {
        let file = try DelimitedFile(path: path)
        var rows: [(Int64, Int64, String, String)] = []
        var sawHeader = !header
        try file.forEachLine(separator: separator) { line, f in
            if !sawHeader {
                sawHeader = true
                return
            }
            guard f.count >= 4 else {
                throw file.error(line, "expected user id, age, gender, occupation; found \(f.count) fields")
            }
            guard let id = Field.int(f[0]) else {
                throw file.error(line, "user id \"\(Field.text(f[0]))\" is not an integer")
            }
            guard let age = Field.int(f[1]), age >= 0, age < 150 else {
                throw file.error(line, "age \"\(Field.text(f[1]))\" is not an age")
            }
            let g = Field.text(f[2])
            guard g == "M" || g == "F" else { throw file.error(line, "gender \"\(g)\" is not M or F") }
            rows.append((id, age, g, Field.text(f[3])))
        }
        let occupations = Array(Set(rows.map(\.3))).sorted()
        var out: [Int64: [Int32]] = [:]
        for r in rows {
            out[r.0] = [ageBucket(r.1), r.2 == "M" ? 0 : 1, Int32(occupations.firstIndex(of: r.3)!)]
        }
        return out
    }

    static func readGroupLensItems(_ path: String) throws -> [Int64: UInt32] {
        let file = try DelimitedFile(path: path)
        var out: [Int64: UInt32] = [:]
        try file.forEachLine(separator: UInt8(ascii: "|")) { line, f in
            guard f.count >= 5 + genres.count else {
                throw file.error(
                    line,
                    "expected \(5 + genres.count) fields (id, title, dates, url, 19 genre flags), found \(f.count)"
                )
            }
            guard let id = Field.int(f[0]) else {
                throw file.error(line, "item id \"\(Field.text(f[0]))\" is not an integer")
            }
            var mask: UInt32 = 0
            for g in 0..<genres.count {
                switch Field.text(f[5 + g]) {
                case "1": mask |= 1 << UInt32(g)
                case "0": break
                default: throw file.error(line, "genre flag \(g + 1) is \"\(Field.text(f[5 + g]))\", expected 0 or 1")
                }
            }
            out[id] = mask
        }
        return out
    }

    static func readRecBoleItems(_ path: String) throws -> [Int64: UInt32] {
        let file = try DelimitedFile(path: path)
        var out: [Int64: UInt32] = [:]
        var classColumn = -1
        try file.forEachLine(separator: 9) { line, f in
            if classColumn < 0 {
                let names = f.map { Field.text($0).split(separator: ":").first.map(String.init) ?? "" }
                guard let c = names.firstIndex(of: "class"), names.first == "item_id" else {
                    throw file.error(line, "header must start with item_id and name a class column")
                }
                classColumn = c
                return
            }
            guard f.count > classColumn else {
                throw file.error(line, "expected \(classColumn + 1) fields, found \(f.count)")
            }
            guard let id = Field.int(f[0]) else {
                throw file.error(line, "item id \"\(Field.text(f[0]))\" is not an integer")
            }
            var mask: UInt32 = 0
            for token in Field.text(f[classColumn]).split(separator: " ") {
                guard let g = genres.firstIndex(of: String(token)) else {
                    throw file.error(line, "unknown genre \"\(token)\"")
                }
                mask |= 1 << UInt32(g)
            }
            out[id] = mask
        }
        return out
    }
}
