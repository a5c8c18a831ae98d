import FedSimConfig

extension MovieLensPopulation {
    /// Applies `data.duplicates` to ratings of one (user, item) pair that occur more than once:
    /// such a pair could land in both train and test, so by default the file is refused with
    /// the two lines. `first` / `last` keep one by file order; `mean` averages the ratings and
    /// keeps the latest timestamp. Ratings stay in file order otherwise.
    static func resolveDuplicates(_ raw: [Rating], policy: DataConfig.Duplicates, file: String) throws -> [Rating] {
        var firstIndex: [Pair: Int] = [:]
        firstIndex.reserveCapacity(raw.count)
        var groups: [Int: [Int]] = [:]  // index of a pair's first rating → indices of its repeats
        for (i, r) in raw.enumerated() {
            let key = Pair(user: r.user, item: r.item)
            guard let first = firstIndex[key] else {
                firstIndex[key] = i
                continue
            }
            if policy == .error {
                throw DataError(
                    file: file,
                    line: r.line,
                    message:
                        "user \(r.user) rated item \(r.item) again (first at line \(raw[first].line)); the pair could land in both train and test. Set data.duplicates to first, last or mean to keep one"
                )
            }
            groups[first, default: []].append(i)
        }
        guard !groups.isEmpty else { return raw }
        var dropped = Set<Int>()
        var out = raw
        for (first, repeats) in groups {
            dropped.formUnion(repeats)
            switch policy {
            case .error, .first: break
            case .last: out[first] = raw[repeats.last!]
            case .mean:
                let all = [first] + repeats
                out[first].rating = Float(all.map { Double(raw[$0].rating) }.reduce(0, +) / Double(all.count))
                out[first].ts = all.map { raw[$0].ts }.max()!
            }
        }
        return out.enumerated().filter { !dropped.contains($0.offset) }.map(\.element)
    }

    struct Pair: Hashable {
        var user: Int64
        var item: Int64
    }
}
