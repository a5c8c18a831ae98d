import FedSimConfig
import FedSimCore

/// Who and what a cold-start protocol keeps out of training, and the support/query tasks it
/// scores afterwards (`evaluation.cold_start`). Deterministic from (scenario seed, population),
/// so the coordinator and every client process derive the same split on their own.
public struct ColdStartSplit: Sendable {
    public let config: ColdStartConfig
    /// new_users: the devices that never train (exactly round(fraction · N), seeded).
    public let newUsers: [Bool]
    /// new_domain: the withheld domain's index.
    public let heldOutDomain: Int32?
    /// temporal: training sees interactions before `cutoff`; periods of `periodLength` follow.
    public let cutoff: Int64?
    public let timeStart: Int64
    public let periodLength: Int64

    /// - Parameters:
    ///   - timeRange: the population's first and last timestamps (temporal protocol and tasks only).
    public init(
        config: ColdStartConfig,
        devices: Int,
        seed: UInt64,
        domainNames: [String] = [],
        timeRange: ClosedRange<Int64>? = nil
    ) throws {
        self.config = config
        newUsers = Self.newUsers(config, devices: devices, seed: seed)
        if config.protocol == .newDomain {
            guard let d = domainNames.firstIndex(of: config.domain) else {
                throw DataError(
                    file: "scenario",
                    message:
                        "evaluation.cold_start.domain: \"\(config.domain)\" is not a domain of this population (domains: \(domainNames.joined(separator: ", ")))"
                )
            }
            heldOutDomain = Int32(d)
        } else {
            heldOutDomain = nil
        }
        if config.protocol == .temporal {
            guard let r = timeRange, r.upperBound > r.lowerBound else {
                throw DataError(
                    file: "scenario",
                    message: "evaluation.cold_start.protocol temporal: the population's timestamps span no time"
                )
            }
            let span = Double(r.upperBound - r.lowerBound)
            let cut = r.lowerBound + Int64(span * config.trainFraction)
            cutoff = cut
            timeStart = r.lowerBound
            periodLength = max(1, Int64((Double(r.upperBound - cut) / Double(config.periods)).rounded(.up)))
        } else {
            cutoff = nil
            timeStart = timeRange?.lowerBound ?? 0
            periodLength = 1
        }
    }

    /// Which devices never train under `new_users` (exactly round(fraction · N), seeded);
    /// empty for the other protocols. All the coordinator needs of a cold-start split.
    public static func newUsers(_ config: ColdStartConfig, devices: Int, seed: UInt64) -> [Bool] {
        guard config.protocol == .newUsers else { return [] }
        var flags = [Bool](repeating: false, count: devices)
        var rng = Seeds.rng(config.splitSeed != 0 ? config.splitSeed : seed, "cold-start.new-users")
        let count = min(devices, Int((Double(devices) * config.fraction).rounded()))
        for i in rng.sampleWithoutReplacement(count, from: devices) { flags[i] = true }
        return flags
    }

    public func isNewUser(_ device: Int) -> Bool { device < newUsers.count && newUsers[device] }

    /// What a device may train and be evaluated on as a warm user: nothing for new users, no
    /// interactions with the withheld domain, no interactions after the temporal cut-off.
    public func warmPart(_ all: Interactions, device: Int, itemDomains: [Int32]) -> Interactions {
        if isNewUser(device) { return Interactions() }
        if let dom = heldOutDomain {
            return all.subset((0..<all.count).filter { itemDomains[Int(all.items[$0])] != dom })
        }
        if let cutoff { return all.subset((0..<all.count).filter { all.timestamps[$0] < cutoff }) }
        return all
    }

    /// One scoring task: adapt on `support`, score `query`, ranking every item except `known`
    /// (the support window's items, and for new_domain every item outside the domain).
    public struct Task: Sendable {
        public var slot: Int
        public var support: Interactions
        public var query: Interactions
        public var known: [Int32]
        public init(slot: Int, support: Interactions, query: Interactions, known: [Int32]) {
            self.slot = slot
            self.support = support
            self.query = query
            self.known = known
        }
    }

    /// The device's cold-start tasks (none when it has too little data for the protocol).
    /// new_users / new_domain: slot i is support size k[i] (the first k interactions in time
    /// order); every k is scored on the same query, the interactions after the first max(k).
    /// temporal: slot p is period p after the cut-off, support = period p − 1, known =
    /// every item before period p (the support's included).
    public func tasks(_ all: Interactions, device: Int, itemDomains: [Int32]) -> [Task] {
        switch config.protocol {
        case .none: return []
        case .newUsers, .newDomain:
            if config.protocol == .newUsers && !isNewUser(device) { return [] }
            var idx = Array(0..<all.count)
            if let dom = heldOutDomain { idx = idx.filter { itemDomains[Int(all.items[$0])] == dom } }
            idx.sort { (all.timestamps[$0], $0) < (all.timestamps[$1], $1) }
            let w = config.window
            guard idx.count > w else { return [] }
            var q = Array(idx[w...])
            if config.maxQuery > 0 && q.count > config.maxQuery { q = Array(q.prefix(config.maxQuery)) }
            let query = all.subset(q)
            var known = idx.prefix(w).map { all.items[$0] }
            if let dom = heldOutDomain {
                // The new domain's ranking is over the new domain's items only.
                known += itemDomains.indices.filter { itemDomains[$0] != dom }.map { Int32($0) }
            }
            return config.k.enumerated().map {
                Task(slot: $0.offset, support: all.subset(Array(idx.prefix($0.element))), query: query, known: known)
            }
        case .temporal:
            guard let cutoff else { return [] }
            var byPeriod: [Int: [Int]] = [:]
            for j in 0..<all.count {
                let t = all.timestamps[j]
                let p = t < cutoff ? (t >= cutoff - periodLength ? -1 : -2) : Int((t - cutoff) / periodLength)
                if p >= -1 && p < config.periods { byPeriod[p, default: []].append(j) }
            }
            var out: [Task] = []
            var known: [Int32] = all.items.indices.filter { all.timestamps[$0] < cutoff }.map { all.items[$0] }
            for p in 0..<config.periods {
                // Everything before period p is known at its start, the support (period
                // p − 1) included, as in LSTTM's tasks: otherwise the previous period's items
                // stay candidates in p's ranking (mostly as negatives).
                let support = all.subset(byPeriod[p - 1] ?? [])
                if p > 0 { known += support.items }
                if let q = byPeriod[p], !q.isEmpty {
                    out.append(Task(slot: p, support: support, query: all.subset(q), known: known))
                }
            }
            return out
        }
    }

    /// Meta-learning's temporal tasks cut the training span [start, cut-off) into `periods`.
    public func trainingPeriod(periods: Int) -> (@Sendable (Int64) -> Int)? {
        guard let clock = trainingClock(periods: periods) else { return nil }
        return { t in clock.period(of: t) }
    }

    /// The training span [start, cut-off) cut into `periods` equal periods.
    public func trainingClock(periods: Int) -> PeriodClock? {
        guard let cutoff else { return nil }
        return PeriodClock(start: timeStart, length: max(1, (cutoff - timeStart + Int64(periods) - 1) / Int64(periods)))
    }

    /// The evaluation periods after the cut-off (period 0 starts at the cut-off).
    public var evaluationClock: PeriodClock? { cutoff.map { PeriodClock(start: $0, length: periodLength) } }
}

/// Equal periods of time from `start`: which period a timestamp falls in, and where one begins.
public struct PeriodClock: Sendable, Equatable {
    public var start: Int64
    public var length: Int64
    public init(start: Int64, length: Int64) {
        self.start = start
        self.length = max(1, length)
    }
    public func period(of t: Int64) -> Int {
        Int((t - start) >= 0 ? (t - start) / length : -((start - t + length - 1) / length))
    }
    public func begin(_ p: Int) -> Int64 { start + Int64(p) * length }
}

extension Population {
    /// The first and last timestamp over every device (one pass over the population; the
    /// temporal protocol needs it once per process).
    public func timeRange() -> ClosedRange<Int64>? {
        var lo = Int64.max
        var hi = Int64.min
        for d in 0..<deviceCount {
            for t in interactions(of: d).timestamps {
                lo = min(lo, t)
                hi = max(hi, t)
            }
        }
        return lo <= hi ? lo...hi : nil
    }
}
