import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimWire

/// The cold-start protocol after the last round: devices adapt on their support sets and
/// score their queries on the device; the coordinator only sums what comes back, per slot.
extension Coordinator {
    /// Per slot (a support size k, or a period): rating-weighted RMSE and MAE, and HR@K,
    /// NDCG@K and AUC averaged over devices with a relevant query item.
    func runColdStart(round r: Int) async throws -> [JSONObject] {
        let config = scenario.evaluation.coldStart
        guard config.enabled else { return [] }
        var requested: [ConnectionID: [UInt32]] = [:]
        for (_, peer) in peers.sorted(by: { $0.key < $1.key }) {
            let devices = peer.range.filter { config.protocol != .newUsers || newUsers[$0] }.map { UInt32($0) }
            if !devices.isEmpty { requested[peer.connection] = devices }
        }
        for (c, devices) in requested.sorted(by: { $0.key < $1.key }) {
            await send(.coldStart(DeviceRequest(round: UInt32(r), devices: devices, shared: model)), to: c)
        }
        let slots = config.protocol == .temporal ? config.periods : config.k.count
        // Click models predict no ratings: their entries count query interactions only.
        let ratings = recommender.task == .rating
        var entries: [ColdStartEntry] = []
        var seen = Set<UInt64>()  // (device, slot) pairs already counted
        await collectReplies(from: Set(requested.keys), phase: "the cold-start evaluation") { m in
            if case .coldStartReport(let rep) = m { return rep.round == UInt32(r) }
            return false
        } consume: { p, c, m in
            guard case .coldStartReport(let rep) = m else { return }
            let asked = Set(requested[c] ?? [])
            for e in rep.entries {
                guard Self.acceptable(e, asked: asked, slots: slots),
                    seen.insert(UInt64(e.device) << 16 | UInt64(e.slot)).inserted
                else {
                    log.warning(
                        "process \(p): discarding an invalid or repeated cold-start entry for device \(e.device)"
                    )
                    continue
                }
                if let why = reportBounds.refusal(e) {
                    log.warning(
                        "cold-start evaluation: refusing the report of device \(e.device) from process \(p): \(why)"
                    )
                    continue
                }
                entries.append(e)
            }
        }
        if config.protocol == .temporal {
            coldStartThirds = Self.thirds(entries, periods: config.periods, k: scenario.evaluation.k, ratings: ratings)
        }
        return Self.coldStartTable(entries, config: config, k: scenario.evaluation.k, ratings: ratings)
    }

    /// The temporal protocol's periods pooled into early, middle and late thirds (LSTTM's
    /// Table 2): period i (0-based) of P falls in third ⌊3i/P⌋.
    static func thirds(_ unordered: [ColdStartEntry], periods: Int, k: Int, ratings: Bool = true) -> [JSONObject] {
        let entries = unordered.sorted { ($0.slot, $0.device) < ($1.slot, $1.device) }
        return ["early", "middle", "late"].enumerated().map { third, name in
            let slots = (0..<periods).filter { 3 * $0 / periods == third }
            let mine = entries.filter { slots.contains(Int($0.slot)) && $0.count > 0 }
            var o = JSONObject()
            o.add("third", name)
            o.add("periods", slots.map { $0 + 1 })
            let n = mine.reduce(0) { $0 + Int($1.count) }
            o.add(ratings ? "ratings" : "interactions", n)
            o.add(
                "rmse",
                n > 0 && ratings ? (mine.reduce(0.0) { $0 + $1.squaredError } / Double(n)).squareRoot() : .nan
            )
            let ranked = mine.filter(\.ranked)
            let rn = Double(ranked.count)
            o.add("auc", rn > 0 ? ranked.reduce(0.0) { $0 + $1.auc } / rn : .nan)
            o.add("ndcg@\(k)", rn > 0 ? ranked.reduce(0.0) { $0 + $1.ndcg } / rn : .nan)
            return o
        }
    }

    /// Whether a cold-start entry may count: a device the process was asked about, a slot of
    /// the protocol, finite non-negative sums, metrics in [0, 1]. (Repeats of a device and
    /// slot are dropped by the caller.)
    public static func acceptable(_ e: ColdStartEntry, asked: Set<UInt32>, slots: Int) -> Bool {
        let unit = 0.0...1.0
        return asked.contains(e.device) && Int(e.slot) < slots && e.squaredError.isFinite && e.squaredError >= 0
            && e.absoluteError.isFinite && e.absoluteError >= 0 && unit.contains(e.ndcg) && unit.contains(e.hit)
            && unit.contains(e.auc)
    }

    /// Aggregates entries per slot, in device order (sums do not depend on arrival order).
    public static func coldStartTable(
        _ unordered: [ColdStartEntry],
        config: ColdStartConfig,
        k: Int,
        ratings: Bool = true
    ) -> [JSONObject] {
        let entries = unordered.sorted { ($0.slot, $0.device) < ($1.slot, $1.device) }
        let slots = config.protocol == .temporal ? config.periods : config.k.count
        var out: [JSONObject] = []
        for s in 0..<slots {
            let mine = entries.filter { Int($0.slot) == s && $0.count > 0 }
            var o = JSONObject()
            if config.protocol == .temporal { o.add("period", s + 1) } else { o.add("k", config.k[s]) }
            let n = mine.reduce(0) { $0 + Int($1.count) }
            o.add("devices", mine.count)
            o.add(ratings ? "ratings" : "interactions", n)
            let se = mine.reduce(0.0) { $0 + $1.squaredError }
            let ae = mine.reduce(0.0) { $0 + $1.absoluteError }
            o.add("rmse", n > 0 && ratings ? (se / Double(n)).squareRoot() : .nan)
            o.add("mae", n > 0 && ratings ? ae / Double(n) : .nan)
            let ranked = mine.filter(\.ranked)
            let rn = Double(ranked.count)
            o.add("ranked_devices", ranked.count)
            o.add("hr@\(k)", rn > 0 ? ranked.reduce(0.0) { $0 + $1.hit } / rn : .nan)
            o.add("ndcg@\(k)", rn > 0 ? ranked.reduce(0.0) { $0 + $1.ndcg } / rn : .nan)
            o.add("auc", rn > 0 ? ranked.reduce(0.0) { $0 + $1.auc } / rn : .nan)
            out.append(o)
        }
        return out
    }
}
