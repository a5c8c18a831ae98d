import FedSimConfig

extension RawLog {
    /// Applies `data.duplicates` to a (user, item) pair logged more than once, as the
    /// MovieLens loader does: `error` (the default) refuses the log with both places, since the
    /// pair could land in train and test; `first` / `last` keep one by log order; `mean`
    /// averages the ratings and keeps the latest timestamp. Returns the rows to keep, in log
    /// order, each with the rating and timestamp it keeps.
    func resolvingDuplicates(
        _ policy: DataConfig.Duplicates,
        user: [Int],
        item: [Int]
    ) throws -> [(row: Int, rating: Float, timestamp: Int64)] {
        var first: [Int64: Int] = [:]
        first.reserveCapacity(count)
        var repeats: [Int: [Int]] = [:]
        for i in 0..<count {
            let key = Int64(user[i]) << 32 | Int64(item[i])
            guard let f = first[key] else {
                first[key] = i
                continue
            }
            if policy == .error {
                let (file, line) = location(i)
                let (firstFile, firstLine) = location(f)
                let at = firstFile == file ? "line \(firstLine)" : "\(firstFile):\(firstLine)"
                throw DataError(
                    file: file,
                    line: line,
                    message:
                        "user \"\(users[i])\" and item \"\(items[i])\" again (first at \(at)); the pair could land in both train and test. Set data.duplicates to first, last or mean to keep one"
                )
            }
            repeats[f, default: []].append(i)
        }
        let dropped = Set(repeats.values.joined())
        return (0..<count).filter { !dropped.contains($0) }.map { i in
            guard let again = repeats[i] else { return (i, ratings[i], timestamps[i]) }
            switch policy {
            case .error, .first: return (i, ratings[i], timestamps[i])
            case .last: return (i, ratings[again.last!], timestamps[again.last!])
            case .mean:
                let all = [i] + again
                let mean = all.map { Double(ratings[$0]) }.reduce(0, +) / Double(all.count)
                return (i, Float(mean), all.map { timestamps[$0] }.max()!)
            }
        }
    }
}
