/// Raw ids (strings as written) mapped to dense indices 0..<n, the same way on every process
/// and every run: when every id is an integer they are ordered by value (so MovieLens' ids
/// keep their order, as its own loader has them), otherwise by their UTF-8 bytes. Two
/// spellings of one number ("7", "007") stay two ids, ordered by value then bytes.
struct DenseIDs {
    /// Raw id of each index.
    let raw: [String]
    let index: [String: Int]

    init<S: Sequence>(_ ids: S) where S.Element == String {
        let distinct = Array(Set(ids))
        let numbers = distinct.map { Field.int(ArraySlice($0.utf8)) }
        let order: [Int]
        if numbers.allSatisfy({ $0 != nil }) {
            order = distinct.indices.sorted { a, b in
                if numbers[a]! != numbers[b]! { return numbers[a]! < numbers[b]! }
                return distinct[a].utf8.lexicographicallyPrecedes(distinct[b].utf8)
            }
        } else {
            order = distinct.indices.sorted { distinct[$0].utf8.lexicographicallyPrecedes(distinct[$1].utf8) }
        }
        raw = order.map { distinct[$0] }
        var index: [String: Int] = [:]
        index.reserveCapacity(raw.count)
        for (i, id) in raw.enumerated() { index[id] = i }
        self.index = index
    }

    var count: Int { raw.count }
}
