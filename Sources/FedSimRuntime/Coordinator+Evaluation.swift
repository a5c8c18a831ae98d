import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels
import FedSimSecAgg
import FedSimWire

/// Evaluation rounds: devices score themselves, the coordinator sums what comes back into
/// ranking, beyond-accuracy, negative-transfer and cohort tables.
extension Coordinator {
    /// The devices each process scores at round r's evaluation (all, or a seeded sample of
    /// `evaluation.devices`; never a cold-start protocol's new users). Validation asks the same.
    func evaluationRequests(round r: Int) -> [ConnectionID: Set<UInt32>] {
        let alive = peers.sorted { $0.key < $1.key }
        var requested: [ConnectionID: Set<UInt32>] = [:]
        let n = scenario.evaluation.devices
        if n == 0 {
            for (_, peer) in alive { requested[peer.connection] = Set(peer.range.map { UInt32($0) }) }
        } else {
            let available = alive.flatMap { Array($0.value.range) }
            var rng = Seeds.rng(scenario.seed, "evaluation.sample", UInt64(r))
            for i in rng.sampleWithoutReplacement(min(n, available.count), from: available.count) {
                let d = available[i]
                let p = Sharding.process(of: d, processes: processCount, devices: population.devices)
                requested[peers[p]!.connection, default: []].insert(UInt32(d))
            }
        }
        if !newUsers.isEmpty {
            // New users have no warm data: they are scored by the cold-start protocol only.
            for c in requested.keys { requested[c] = requested[c]!.filter { !newUsers[Int($0)] } }
        }
        return requested
    }

    func evaluate(round r: Int) async throws -> EvaluationSummary {
        let requested = evaluationRequests(round: r)
        for (c, devices) in requested.sorted(by: { $0.key < $1.key }) {
            var request = DeviceRequest(round: UInt32(r), devices: devices.sorted(), shared: model)
            request.popular = popularItems
            await send(.evaluate(request), to: c)
        }
        var results: [DeviceEvaluation] = []
        var refused = 0  // reports beyond what an honest device can claim (`ReportBounds`)
        var reported = Set<Int>()
        var recommended = [Double](repeating: 0, count: population.items)
        var rated = [Double](repeating: 0, count: population.items)
        await collectReplies(from: Set(requested.keys), phase: "evaluation of round \(r)") { m in
            if case .evaluation(let rep) = m { return rep.round == UInt32(r) }
            return false
        } consume: { p, c, m in
            guard case .evaluation(let rep) = m else { return }
            let asked = requested[c] ?? []
            for e in rep.entries {
                guard asked.contains(UInt32(truncatingIfNeeded: e.device)), reported.insert(e.device).inserted else {
                    refused += 1
                    log.warning(
                        "evaluation of round \(r): process \(p) reported device \(e.device), which it was not asked for or already reported"
                    )
                    continue
                }
                if let why = reportBounds.refusal(e) {
                    refused += 1
                    log.warning(
                        "evaluation of round \(r): refusing the report of device \(e.device) from process \(p): \(why)"
                    )
                    continue
                }
                results.append(e)
            }
            // Exposure and popularity counts: per-process sums, bounded by what it was asked.
            // Under secure aggregation they come only from the secure sum below.
            guard !scenario.evaluation.exposureThroughSecureSum(scenario.secureAggregation) else { return }
            for (list, target) in [(rep.recommended, 0), (rep.rated, 1)] {
                for (item, count) in list where Int(item) < population.items && Int(count) <= asked.count {
                    if target == 0 {
                        recommended[Int(item)] += Double(count)
                    } else {
                        rated[Int(item)] += Double(count)
                    }
                }
            }
        }
        if scenario.evaluation.exposureThroughSecureSum(scenario.secureAggregation),
            let sums = try await secureExposure(round: r, evaluated: results.map(\.device))
        {
            (recommended, rated) = sums
        }
        if r == scenario.training.rounds || finalEvaluation, let deviceMetricsPath {
            // The final evaluation per device, for the report's distribution chart.
            var csv = "device,ratings,rmse,mae,ranked,hit,ndcg\n"
            for e in results.sorted(by: { $0.device < $1.device }) where e.count > 0 {
                let n = Double(e.count)
                csv +=
                    "\(e.device),\(e.count),\((e.squaredError / n).squareRoot()),\(e.absoluteError / n),\(e.ranked ? 1 : 0),\(e.hit),\(e.ndcg)\n"
            }
            try? RunDirectory.atomicWrite(Array(csv.utf8), path: deviceMetricsPath)
        }
        let summary = EvaluationSummary(results)
        lastEvaluationExtras = beyondAccuracy(summary, recommended: recommended, rated: rated, devices: results.count)
        lastSampledBaselines = SampledBaselines(
            results,
            summary: summary,
            k: scenario.evaluation.k,
            negatives: scenario.evaluation.sampledNegatives
        )
        lastEvaluationExtras?.merge(baselines(results))
        if refused > 0 { lastEvaluationExtras?.add("refused_reports", refused) }
        // The next evaluation's popularity ranking: items by how many devices rated them.
        if rated.contains(where: { $0 > 0 }) {
            popularItems = rated.indices.filter { rated[$0] > 0 }.sorted { (rated[$0], -$0) > (rated[$1], -$1) }.prefix(
                Self.popularListLength
            ).map { UInt32($0) }
        }
        if let nt = negativeTransfer(results) { lastEvaluationExtras?.add("negative_transfer", nt) }
        lastCohorts = scenario.evaluation.cohorts ? cohortTable(results) : nil
        return summary
    }

    /// Catalogue coverage, Gini of exposure and novelty from the aggregated counts
    /// (docs/metrics.md has the formulas).
    func beyondAccuracy(_ s: EvaluationSummary, recommended: [Double], rated: [Double], devices n: Int) -> JSONObject {
        let k = scenario.evaluation.k
        var o = JSONObject()
        o.add("recall@\(k)", s.recall)
        o.add("mrr@\(k)", s.mrr)
        o.add("auc", s.auc)
        if scenario.evaluation.sampledNegatives > 0 {
            o.add("hr@\(k)_sampled\(scenario.evaluation.sampledNegatives)", s.sampledHit)
            o.add("ndcg@\(k)_sampled\(scenario.evaluation.sampledNegatives)", s.sampledNdcg)
        }
        let exposures = recommended.reduce(0, +)
        guard exposures > 0 else { return o }
        o.add("coverage@\(k)", ExposureMetrics.coverage(recommended))
        o.add("gini_exposure@\(k)", ExposureMetrics.gini(recommended))
        o.add("novelty@\(k)", ExposureMetrics.novelty(recommended: recommended, rated: rated, devices: n))
        o.add("ild_category@\(k)", s.ildCategory)
        o.add("ild_embedding@\(k)", s.ildEmbedding)
        return o
    }

    /// Per device, the personalized model (shared + its personal parameters) against the
    /// global model (personal parameters as a new device starts them) and a local-only model
    /// (trained on the device's data alone): the share of devices each comparison makes
    /// worse, and by how much (RMSE points, mean over those devices).
    func negativeTransfer(_ results: [DeviceEvaluation]) -> JSONObject? {
        // Device order: sums must not depend on which process reported first.
        let rows = results.sorted { $0.device < $1.device }.filter {
            $0.count > 0 && $0.squaredErrorGlobal >= 0 && $0.squaredErrorLocal >= 0
                && $0.squaredErrorGlobal.isFinite && $0.squaredErrorLocal.isFinite
        }
        guard !rows.isEmpty else { return nil }
        func rmse(_ se: Double, _ n: Int) -> Double { (se / Double(n)).squareRoot() }
        var o = JSONObject()
        o.add("devices", rows.count)
        let ratings = Double(rows.reduce(0) { $0 + $1.count })
        o.add("rmse_global_model", (rows.reduce(0.0) { $0 + $1.squaredErrorGlobal } / ratings).squareRoot())
        o.add("rmse_local_only", (rows.reduce(0.0) { $0 + $1.squaredErrorLocal } / ratings).squareRoot())
        for (name, other) in [
            ("personalization_worse_than_global", \DeviceEvaluation.squaredErrorGlobal),
            ("federation_worse_than_local_only", \DeviceEvaluation.squaredErrorLocal),
        ] {
            let gaps = rows.map { rmse($0.squaredError, $0.count) - rmse($0[keyPath: other], $0.count) }.filter {
                $0 > 1e-12
            }
            var c = JSONObject()
            c.add("share", Double(gaps.count) / Double(rows.count))
            c.add("mean_rmse_loss", gaps.isEmpty ? 0 : gaps.reduce(0, +) / Double(gaps.count))
            o.add(name, c)
        }
        return o
    }

    /// Every metric per cohort: activity quartiles of training-set size, main domain, and
    /// devices that never trained against those that did. The worst cohort by RMSE is named.
    func cohortTable(_ results: [DeviceEvaluation]) -> JSONObject? {
        guard let directory else { return nil }
        let k = scenario.evaluation.k
        var groups: [(String, String, [DeviceEvaluation])] = []
        let sizes = results.map { directory.trainSizes[$0.device] }.sorted()
        if !sizes.isEmpty {
            let cuts = [0.25, 0.5, 0.75].map { sizes[min(sizes.count - 1, Int($0 * Double(sizes.count)))] }
            for q in 0..<4 {
                let lo: UInt32 = q == 0 ? 0 : cuts[q - 1]
                let hi: UInt32 = q == 3 ? .max : cuts[q]
                let members = results.filter {
                    let t = directory.trainSizes[$0.device]
                    return t >= lo && (q == 3 || t < hi)
                }
                groups.append(("activity", "Q\(q + 1) (\(lo)–\(q == 3 ? "" : String(hi - 1)) ratings)", members))
            }
        }
        let domains = Set(results.map { directory.mainDomains[$0.device] })
        if domains.count > 1 {
            for d in domains.sorted() {
                groups.append(("domain", "domain \(d)", results.filter { directory.mainDomains[$0.device] == d }))
            }
        }
        groups += demographicGroups(results)
        groups += availabilityGroups(results)
        groups.append(("participation", "never trained", results.filter { participation.finished[$0.device] == 0 }))
        groups.append(("participation", "trained", results.filter { participation.finished[$0.device] > 0 }))
        groups = groups.filter { scenario.evaluation.cohortKinds.contains($0.0) }
        var o = JSONObject()
        var worst: (String, Double)?
        var byKind: [String: [String]] = [:]
        for (kind, name, members) in groups where !members.isEmpty {
            let s = EvaluationSummary(members)
            var c = JSONObject()
            c.add("name", name)
            c.add("devices", s.devices)
            c.add("rmse", s.rmse)
            c.add("hr@\(k)", s.hitRate)
            c.add("ndcg@\(k)", s.ndcg)
            c.add("device_rmse_p10_p50_p90", s.deviceRMSE)
            byKind[kind, default: []].append(c.text)
            if s.rmse.isFinite, worst == nil || s.rmse > worst!.1 { worst = ("\(kind): \(name)", s.rmse) }
        }
        for kind in EvaluationConfig.allCohortKinds where byKind[kind] != nil {
            o.add(kind, raw: "[" + byKind[kind]!.joined(separator: ",") + "]")
        }
        if let worst {
            var w = JSONObject()
            w.add("cohort", worst.0)
            w.add("rmse", worst.1)
            o.add("worst_by_rmse", w)
        }
        return o
    }

    static func json(_ s: EvaluationSummary, k: Int) -> JSONObject {
        var o = JSONObject()
        o.add("rmse", s.rmse)
        o.add("mae", s.mae)
        o.add("hr@\(k)", s.hitRate)
        o.add("ndcg@\(k)", s.ndcg)
        o.add("devices", s.devices)
        o.add("ratings", s.ratings)
        o.add("ranked_devices", s.rankedDevices)
        o.add("device_rmse_p10_p50_p90", s.deviceRMSE)
        return o
    }
}
