import FedSimConfig
import FedSimCore
import FedSimData
import Testing

/// The validation split is carved from training only: disjoint from test, the test part
/// unchanged by switching it on, and the second-latest interaction under leave-one-out.
@Suite struct ValidationSplitTests {
    func history(_ device: Int, count n: Int) -> Interactions {
        var rng = Seeds.rng(11, "history", UInt64(device))
        var out = Interactions()
        for i in 0..<n {
            out.append(item: Int32(i), rating: Float(1 + rng.nextBounded(5)), timestamp: Int64(rng.nextBounded(6)))
        }
        return out
    }

    func splitter(_ method: SplitConfig.Method, validation: Bool) -> Splitter {
        var c = SplitConfig()
        c.method = method
        c.testFraction = 0.2
        c.validation = validation
        c.validationFraction = 0.25
        return Splitter(c, seed: 42)
    }

    @Test func validationIsDisjointFromTestAndLeavesTestAsItWas() {
        for method in SplitConfig.Method.allCases {
            let with = splitter(method, validation: true)
            let without = splitter(method, validation: false)
            for device in 0..<150 {
                let all = history(device, count: 3 + device % 40)
                let s = with.splitWithValidation(all, device: device)
                let plain = without.split(all, device: device)
                #expect(s.test == plain.test)
                // Items are distinct per device here, so disjointness is about items.
                let (tr, va, te) = (Set(s.train.items), Set(s.validation.items), Set(s.test.items))
                #expect(tr.isDisjoint(with: va) && tr.isDisjoint(with: te) && va.isDisjoint(with: te))
                #expect(tr.union(va).union(te) == Set(all.items))
                #expect(Set(plain.train.items) == tr.union(va))
                // `split` (what training and the directory see) is training without validation.
                #expect(with.split(all, device: device).train == s.train)
                if method == .random {
                    let expected = Int((Double(plain.train.count) * 0.25).rounded())
                    #expect(s.validation.count == max(0, min(expected, plain.train.count - 1)))
                }
            }
        }
    }

    @Test func leaveOneOutValidatesOnTheSecondLatestInteraction() {
        let s = splitter(.leaveOneOut, validation: true)
        for device in 0..<150 {
            let all = history(device, count: 3 + device % 40)
            let (train, validation, test) = s.splitWithValidation(all, device: device)
            #expect(test.count == 1 && validation.count == 1 && train.count == all.count - 2)
            // Nothing in training is later than the validation item, which is no later than the test item.
            #expect(train.timestamps.allSatisfy { $0 <= validation.timestamps[0] })
            #expect(validation.timestamps[0] <= test.timestamps[0])
        }
    }

    @Test func deviceDataScoresTheRequestedPart() {
        let all = history(3, count: 20)
        let s = splitter(.random, validation: true)
        let (train, validation, test) = s.splitWithValidation(all, device: 3)
        var d = DeviceData(device: 3, train: train, test: test, features: [])
        d.validation = validation
        let v = d.scored(on: .validation)
        #expect(v.train == train && v.test == validation)
        // The test evaluation counts the validation items as known history, not as candidates.
        let t = d.scored(on: .test)
        #expect(t.test == test && Set(t.train.items) == Set(train.items + validation.items))
    }
}
