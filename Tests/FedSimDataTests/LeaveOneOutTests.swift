import FedSimConfig
import FedSimCore
import FedSimData
import Testing

@Suite struct LeaveOneOutTests {
    /// A device's history with many timestamp ties, as MovieLens has (ratings entered in bursts).
    func history(_ device: Int, count n: Int) -> Interactions {
        var rng = Seeds.rng(7, "history", UInt64(device))
        var out = Interactions()
        for i in 0..<n {
            out.append(
                item: Int32(i * 3 + device % 3),
                rating: Float(1 + rng.nextBounded(5)),
                timestamp: Int64(rng.nextBounded(4))
            )
        }
        return out
    }

    func splitter(seed: UInt64, minTrain: Int = 1) -> Splitter {
        Splitter(method: .leaveOneOut, testFraction: 0.2, minTrain: minTrain, seed: seed)
    }

    @Test func exactlyTheLatestInteractionIsHeldOutForEveryDevice() {
        let s = splitter(seed: 42)
        for device in 0..<200 {
            let all = history(device, count: 2 + device % 30)
            let (train, test) = s.split(all, device: device)
            #expect(test.count == 1)
            #expect(train.count == all.count - 1)
            #expect(test.timestamps[0] == all.timestamps.max())
            // Nothing lost or duplicated: train ∪ test is the device's history.
            #expect((train.items + test.items).sorted() == all.items.sorted())
            // Training keeps the file order.
            #expect(train.items == all.items.filter { $0 != test.items[0] })
        }
    }

    @Test func tiesAreBrokenBySeedDeterministically() {
        // Every interaction at the same second: the seed alone picks the test item.
        let all = Interactions(
            items: Array(0..<20),
            ratings: [Float](repeating: 4, count: 20),
            timestamps: [Int64](repeating: 9, count: 20)
        )
        let a = (0..<50).map { splitter(seed: 1).split(all, device: $0).test.items[0] }
        let again = (0..<50).map { splitter(seed: 1).split(all, device: $0).test.items[0] }
        let b = (0..<50).map { splitter(seed: 2).split(all, device: $0).test.items[0] }
        #expect(a == again)
        #expect(a != b)
        // Not simply the last in file order, as a stable sort would give.
        #expect(Set(a).count > 5)
    }

    @Test func devicesTooSmallToSplitKeepEverythingForTraining() {
        let all = history(3, count: 2)
        let (train, test) = splitter(seed: 1, minTrain: 2).split(all, device: 3)
        #expect(test.isEmpty && train == all)
        #expect(splitter(seed: 1).split(all, device: 3).test.count == 1)
    }

    @Test func scenarioSelectsItByName() throws {
        let s = try Scenario.load(
            yaml: "data: {split: {method: leave_one_out}}\nevaluation: {implicit: true, sampled_negatives: 99}"
        )
        #expect(s.data.split.method == .leaveOneOut)
        #expect(s.evaluation.implicit && s.evaluation.sampledNegatives == 99)
        #expect(Scenario().evaluation.implicit == false)
    }
}
