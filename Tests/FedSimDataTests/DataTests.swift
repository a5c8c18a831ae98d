import FedSimConfig
import FedSimCore
import FedSimData
import FedSimTestSupport
import Testing

@Suite struct MovieLensTests {
    func grouplensFixture() -> String {
        let dir = TestSupport.temporaryDirectory()
        TestSupport.write("2\t10\t4\t900\n1\t10\t5\t100\n1\t20\t3\t50\n2\t30\t1\t800\n", to: dir + "/u.data")
        TestSupport.write("1|24|M|technician|85711\n2|53|F|other|94043\n", to: dir + "/u.user")
        let flags = { (set: [Int]) in (0..<19).map { set.contains($0) ? "1" : "0" }.joined(separator: "|") }
        TestSupport.write(
            "10|A (1995)|01-Jan-1995||http://x|\(flags([1, 5]))\n20|B|||u|\(flags([8]))\n30|C|||u|\(flags([0]))\n",
            to: dir + "/u.item"
        )
        return dir
    }

    func recboleFixture() -> String {
        let dir = TestSupport.temporaryDirectory()
        TestSupport.write(
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\n2\t10\t4\t900\n1\t10\t5\t100\n1\t20\t3\t50\n2\t30\t1\t800\n",
            to: dir + "/ml-100k.inter"
        )
        TestSupport.write(
            "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n1\t24\tM\ttechnician\t85711\n2\t53\tF\tother\t94043\n",
            to: dir + "/ml-100k.user"
        )
        TestSupport.write(
            "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n10\tA\t1995\tAction Comedy\n20\tB\t1995\tDrama\n30\tC\t1990\tunknown\n",
            to: dir + "/ml-100k.item"
        )
        return dir
    }

    @Test func bothLayoutsGiveTheSamePopulation() throws {
        let a = try MovieLensPopulation(folder: grouplensFixture())
        let b = try MovieLensPopulation(folder: recboleFixture())
        #expect(a.deviceCount == 2 && a.itemCount == 3 && a.ratingCount == 4)
        for d in 0..<2 {
            #expect(a.interactions(of: d) == b.interactions(of: d))
            #expect(a.userFeatures(of: d) == b.userFeatures(of: d))
        }
        #expect(a.itemGenres == b.itemGenres)
        #expect(a.itemGenres[0] == (1 << 1 | 1 << 5))
        // User 1's ratings sorted by time: item 20 (t=50) then item 10 (t=100).
        #expect(a.interactions(of: 0).items == [1, 0])
        // Age 24 is bucket 1 (18–24); occupations sorted: other = 0, technician = 1.
        #expect(a.userFeatures(of: 0) == [1, 0, 1])
        #expect(a.userFeatures(of: 1) == [5, 1, 0])
    }

    @Test func corruptLinesAreReportedWithFileAndLine() {
        let dir = TestSupport.temporaryDirectory()
        TestSupport.write("1\t10\t4\t900\n1\t11\tfive\t901\n", to: dir + "/u.data")
        do {
            _ = try MovieLensPopulation(folder: dir)
        } catch let e as DataError {
            #expect(e.description == "\(dir)/u.data:2: rating \"five\" is not a number in 1...5")
        } catch { Issue.record("\(error)") }

        TestSupport.write("1\t10\t4\n", to: dir + "/u.data")
        do { _ = try MovieLensPopulation(folder: dir) } catch let e as DataError {
            #expect(e.line == 1 && e.message.contains("expected 4 fields"))
        } catch { Issue.record("\(error)") }

        TestSupport.write("1\t10\t9\t5\n", to: dir + "/u.data")
        do { _ = try MovieLensPopulation(folder: dir) } catch let e as DataError {
            #expect(e.message.contains("not a number in 1...5"))
        } catch { Issue.record("\(error)") }
    }

    @Test func corruptSideFilesAreReportedToo() {
        let dir = grouplensFixture()
        TestSupport.write("1|24|M|technician|85711\n2|old|F|other|94043\n", to: dir + "/u.user")
        do {
            _ = try MovieLensPopulation(folder: dir)
            Issue.record("accepted a bad age")
        } catch let e as DataError {
            #expect(e.file.hasSuffix("u.user") && e.line == 2)
        } catch { Issue.record("\(error)") }
    }

    @Test func missingFolderSaysHowToFetch() {
        do {
            _ = try MovieLensPopulation(folder: "/nonexistent")
            Issue.record("no error")
        } catch let e as DataError {
            #expect(e.message.contains("make data"))
        } catch { Issue.record("\(error)") }
    }
}

@Suite struct SplitterTests {
    let all = Interactions(
        items: Array(0..<10),
        ratings: Array(repeating: 3, count: 10),
        timestamps: [5, 3, 9, 1, 7, 2, 8, 4, 6, 0]
    )

    @Test func randomSplitHoldsOutTheFractionDeterministically() {
        let s = Splitter(method: .random, testFraction: 0.3, seed: 1)
        let (tr, te) = s.split(all, device: 4)
        #expect(tr.count == 7 && te.count == 3)
        #expect(Set(tr.items).isDisjoint(with: te.items))
        #expect(s.split(all, device: 4) == (tr, te))
        #expect(s.split(all, device: 5).test != te || s.split(all, device: 6).test != te)
    }

    @Test func latestSplitHoldsOutTheNewest() {
        let s = Splitter(method: .latest, testFraction: 0.3, seed: 1)
        let (tr, te) = s.split(all, device: 0)
        #expect(Set(te.timestamps) == [7, 8, 9])
        #expect(tr.timestamps.max()! < te.timestamps.min()!)
    }

    @Test func smallDevicesKeepTheirMinimumTraining() {
        let s = Splitter(method: .random, testFraction: 0.5, minTrain: 2, seed: 1)
        let two = Interactions(items: [1, 2], ratings: [3, 4], timestamps: [1, 2])
        #expect(s.split(two, device: 0).test.isEmpty)
    }
}

@Suite struct SyntheticPopulationTests {
    var config: SyntheticConfig {
        var c = SyntheticConfig()
        c.devices = 100_000
        c.itemsPerDomain = 200
        return c
    }

    @Test func devicesAreGeneratedOnDemandAndReproducibly() {
        let p = SyntheticPopulation(config, seed: 1)
        let q = SyntheticPopulation(config, seed: 1)
        for d in [0, 1, 99_999] {
            #expect(p.interactions(of: d) == q.interactions(of: d))
            #expect(p.userFeatures(of: d) == q.userFeatures(of: d))
        }
        #expect(p.interactions(of: 5) != SyntheticPopulation(config, seed: 2).interactions(of: 5))
    }

    @Test func activityFollowsThePowerLawWithinBounds() {
        let p = SyntheticPopulation(config, seed: 3)
        let counts = (0..<2_000).map { p.interactions(of: $0).count }
        #expect(counts.allSatisfy { $0 >= config.minRatings && $0 <= config.maxRatings })
        let sorted = counts.sorted()
        let median = sorted[1_000]
        let p99 = sorted[1_980]
        #expect(median < 30 && p99 > 4 * median, "median \(median), p99 \(p99)")  // heavy tail
    }

    @Test func ratingsAreOnScaleDistinctAndMostlyInTheHomeDomain() {
        let p = SyntheticPopulation(config, seed: 4)
        var home = 0
        var total = 0
        for d in 0..<300 {
            let x = p.interactions(of: d)
            #expect(Set(x.items).count == x.count)
            #expect(x.ratings.allSatisfy { $0 >= 1 && $0 <= 5 && $0 == $0.rounded() })
            #expect(zip(x.timestamps, x.timestamps.dropFirst()).allSatisfy { $0 < $1 })
            // Heavy users exhaust their home domain's popular items (duplicates are redrawn),
            // so the configured share is measured on light users.
            guard x.count <= 30 else { continue }
            let h = p.userFeatures(of: d)[0]
            home += x.items.filter { p.itemDomains[Int($0)] == h }.count
            total += x.count
        }
        let share = Double(home) / Double(total)
        #expect(abs(share - config.homeDomainShare) < 0.05, "home share \(share)")
    }
}

@Suite struct DriftTests {
    func population(
        turnover: Double = 0.5,
        delay: Int = 0,
        topics: DriftConfig.Topics = .global,
        hotShare: Double = 0.6
    ) -> SyntheticPopulation {
        var c = SyntheticConfig()
        c.devices = 200
        c.domains = ["a", "b"]
        c.itemsPerDomain = 200
        c.minRatings = 40
        c.maxRatings = 120
        c.drift.periods = 6
        c.drift.hotTopics = 2
        c.drift.turnover = turnover
        c.drift.hotShare = hotShare
        c.drift.hotBoost = 1.5
        c.drift.externalDelayPeriods = delay
        c.drift.topics = topics
        return SyntheticPopulation(c, seed: 11)
    }

    /// Mean AUC, over devices and periods 3–5, of two rankings of a device's unseen home-domain
    /// items: by popularity in periods 0–2, and by the device's category counts in the previous
    /// period (what a short-term model can learn).
    func heuristicAUCs(_ pop: SyntheticPopulation) -> (popularity: Double, previous: Double) {
        let len = Int64(7 * 86_400)
        let start = SyntheticPopulation.epoch
        var count = [Double](repeating: 0, count: pop.itemCount)
        for d in 0..<pop.deviceCount {
            let x = pop.interactions(of: d)
            for j in 0..<x.count where x.timestamps[j] < start + 3 * len { count[Int(x.items[j])] += 1 }
        }
        var popularity = 0.0
        var previous = 0.0
        var n = 0.0
        for d in 0..<pop.deviceCount {
            let x = pop.interactions(of: d)
            let home = pop.userFeatures(of: d)[0]
            for p in 3..<6 {
                let begin = start + Int64(p) * len
                var seen = Set<Int32>()
                var query = Set<Int32>()
                var recent = [Double](repeating: 0, count: 8)
                for j in 0..<x.count {
                    let t = x.timestamps[j]
                    let it = x.items[j]
                    let inHome = pop.itemDomains[Int(it)] == home
                    if t < begin { seen.insert(it) }
                    if inHome && t >= begin - len && t < begin { recent[Int(pop.itemCategories[Int(it)])] += 1 }
                    if inHome && t >= begin && t < begin + len { query.insert(it) }
                }
                let candidates = (0..<pop.itemCount).filter { pop.itemDomains[$0] == home && !seen.contains(Int32($0)) }
                guard !query.isEmpty, candidates.count > query.count else { continue }
                func auc(_ score: (Int) -> Double) -> Double {
                    let pos = candidates.filter { query.contains(Int32($0)) }.map(score)
                    let neg = candidates.filter { !query.contains(Int32($0)) }.map(score)
                    var s = 0.0
                    for a in pos { for b in neg { s += a > b ? 1 : (a == b ? 0.5 : 0) } }
                    return s / Double(pos.count * neg.count)
                }
                popularity += auc { count[$0] }
                previous += auc { recent[Int(pop.itemCategories[$0])] }
                n += 1
            }
        }
        return (popularity / n, previous / n)
    }

    /// Personal topics (the LSTTM experiments' population): a device's previous period
    /// predicts its next far better than training popularity does. With global topics,
    /// training popularity follows the training weeks' topics instead.
    /// (`swift test --filter DriftTests` prints the figures docs/results.md quotes.)
    @Test func personalTopicsMakeRecentHistoryPredictiveAndPopularityNot() {
        let personal = heuristicAUCs(population(turnover: 0.3, topics: .personal, hotShare: 0.7))
        let global = heuristicAUCs(population(turnover: 0.3, topics: .global, hotShare: 0.7))
        print(
            "drift heuristics, AUC over periods 3–5: personal topics: popularity \(personal.popularity), previous period \(personal.previous); "
                + "global topics: popularity \(global.popularity), previous period \(global.previous)"
        )
        #expect(personal.previous > personal.popularity + 0.03)
        #expect(global.popularity < personal.popularity - 0.03)
    }

    @Test func hotTopicsAreOverRepresentedAndRatedHigherInTheirPeriod() {
        let pop = population()
        let len = Int64(7 * 86_400)
        var hotShare = 0.0
        var n = 0.0
        var hotRatings: [Double] = []
        var coldRatings: [Double] = []
        var periodsSeen = Set<Int>()
        for dev in 0..<200 {
            let x = pop.interactions(of: dev)
            #expect(x.count >= 40)
            for j in 0..<x.count {
                let p = Int((x.timestamps[j] - SyntheticPopulation.epoch) / len)
                #expect(p >= 0 && p < 6)
                periodsSeen.insert(p)
                let hot = pop.hotTopics[p].contains(pop.itemCategories[Int(x.items[j])])
                hotShare += hot ? 1 : 0
                n += 1
                (hot ? { hotRatings.append(Double(x.ratings[j])) } : { coldRatings.append(Double(x.ratings[j])) })()
            }
        }
        #expect(periodsSeen == Set(0..<6))
        // 2 of 8 categories are hot: a quarter of items by chance, far more with hot_share 0.6.
        #expect(hotShare / n > 0.55, "hot share \(hotShare / n)")
        let mean = { (v: [Double]) in v.reduce(0, +) / Double(v.count) }
        #expect(mean(hotRatings) > mean(coldRatings) + 0.3, "hot \(mean(hotRatings)) vs other \(mean(coldRatings))")
    }

    @Test func topicsPersistWithoutTurnoverAndChangeWithIt() {
        #expect(Set(population(turnover: 0).hotTopics.map { $0.sorted() }).count == 1)
        let drifting = population(turnover: 1).hotTopics
        for p in 1..<drifting.count { #expect(Set(drifting[p]).isDisjoint(with: drifting[p - 1])) }
        // Same seed, same population.
        #expect(population().interactions(of: 7) == population().interactions(of: 7))
    }

    @Test func externalBehavioursArriveLate() {
        let on = population(delay: 2)
        let off = population(delay: 0)
        let len = Int64(7 * 86_400)
        let a = on.interactions(of: 3)
        let b = off.interactions(of: 3)
        #expect(a.items == b.items)
        let home = on.userFeatures(of: 3)[0]
        for j in 0..<a.count {
            let external = on.itemDomains[Int(a.items[j])] != home
            #expect(a.timestamps[j] - b.timestamps[j] == (external ? 2 * len : 0))
        }
    }
}

@Suite struct ColdStartSplitTests {
    @Test func newUsersAreExactlyTheFractionAndFollowTheSplitSeed() throws {
        var c = ColdStartConfig()
        c.protocol = .newUsers
        c.fraction = 0.2
        let a = ColdStartSplit.newUsers(c, devices: 943, seed: 1)
        let b = ColdStartSplit.newUsers(c, devices: 943, seed: 2)
        #expect(a.filter { $0 }.count == 189 && b.filter { $0 }.count == 189)
        #expect(a != b)
        c.splitSeed = 7
        #expect(ColdStartSplit.newUsers(c, devices: 943, seed: 1) == ColdStartSplit.newUsers(c, devices: 943, seed: 2))
        c.protocol = .temporal
        #expect(ColdStartSplit.newUsers(c, devices: 943, seed: 1).isEmpty)
    }

    /// Every k is scored on the same query (the interactions after the first max(k)), and the
    /// support of k is the first k in time order.
    @Test func tasksShareOneQueryAndTakeSupportsInTimeOrder() throws {
        var c = ColdStartConfig()
        c.protocol = .newUsers
        c.fraction = 1
        c.k = [0, 2, 3]
        let split = try ColdStartSplit(config: c, devices: 1, seed: 1)
        let all = Interactions(
            items: [10, 11, 12, 13, 14, 15],
            ratings: [1, 2, 3, 4, 5, 1],
            timestamps: [50, 10, 40, 20, 30, 60]
        )
        let tasks = split.tasks(all, device: 0, itemDomains: [Int32](repeating: 0, count: 20))
        #expect(tasks.map(\.support.items) == [[], [11, 13], [11, 13, 14]])
        #expect(tasks.allSatisfy { $0.query.items == [12, 10, 15] })
        #expect(tasks.allSatisfy { $0.known == [11, 13, 14] })
    }

    /// Temporal: task p ranks every item except those seen before period p, the previous
    /// period's (its support) included, the rule LSTTM's own tasks use; the query is period p.
    @Test func temporalTaskExcludesEverythingBeforeItsPeriod() throws {
        var c = ColdStartConfig()
        c.protocol = .temporal
        c.trainFraction = 0.5
        c.periods = 3
        // Cut-off 30, periods of 10: [30, 40), [40, 50), [50, 60); 25 is period −1.
        let split = try ColdStartSplit(config: c, devices: 1, seed: 1, timeRange: 0...60)
        let cutoff = try #require(split.cutoff)
        #expect(cutoff == 30 && split.periodLength == 10)
        let all = Interactions(
            items: [1, 2, 3, 4, 5, 3, 6],
            ratings: [1, 2, 3, 4, 5, 1, 2],
            timestamps: [5, 25, 32, 35, 42, 45, 52]
        )
        let tasks = split.tasks(all, device: 0, itemDomains: [Int32](repeating: 0, count: 10))
        #expect(tasks.map(\.slot) == [0, 1, 2])
        #expect(tasks.map(\.support.items) == [[2], [3, 4], [5, 3]])
        #expect(tasks.map(\.query.items) == [[3, 4], [5, 3], [6]])
        #expect(tasks.map { Set($0.known) } == [[1, 2], [1, 2, 3, 4], [1, 2, 3, 4, 5]])
        for task in tasks {
            let begin = cutoff + Int64(task.slot) * split.periodLength
            let seen = all.items.indices.filter { all.timestamps[$0] < begin }.map { all.items[$0] }
            #expect(Set(task.known) == Set(seen))
        }
    }
}
