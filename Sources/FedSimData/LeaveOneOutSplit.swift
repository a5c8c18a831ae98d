import FedSimCore

/// Leave-latest-one-out, the split of the federated-recommendation literature (NCF, FedMF,
/// FedNCF, PFedRec): each device's single latest interaction by timestamp is its test item, and
/// everything before it trains.
///
/// MovieLens stamps many of a user's ratings with the same second, so "latest" is often a tie.
/// File order would make the test item an artefact of how the file was written; instead ties are
/// broken by a key drawn from `(seed, device)`, which every process draws identically. A device
/// with fewer than `minTrain + 1` interactions keeps all of them for training (nothing to test).
public enum LeaveOneOutSplit {
    public static func split(
        _ all: Interactions,
        device: Int,
        minTrain: Int,
        seed: UInt64
    ) -> (train: Interactions, test: Interactions) {
        let n = all.count
        guard n > minTrain else { return (all, Interactions()) }
        var rng = Seeds.rng(seed, "split.leave_one_out", UInt64(device))
        let tieBreak = (0..<n).map { _ in rng.next() }
        // The latest interaction, ties going to the one with the largest seeded key.
        var latest = 0
        for i in 1..<n where (all.timestamps[i], tieBreak[i]) > (all.timestamps[latest], tieBreak[latest]) {
            latest = i
        }
        // Training keeps file order, so models see the same sequence as with any other split.
        return (all.subset((0..<n).filter { $0 != latest }), all.subset([latest]))
    }
}
