import FedSimAggregation
import FedSimConfig
import FedSimCore
import FedSimData
import FedSimMetrics
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
        var exposureOmitted: String?
        if scenario.evaluation.exposureThroughSecureSum(scenario.secureAggregation) {
            switch try await secureExposure(round: r, evaluated: results.map(\.device)) {
            case .summed(let rec, let rat): (recommended, rated) = (rec, rat)
            case .omitted(let why): exposureOmitted = why
            }
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
        var metrics = Self.metrics(summary, k: scenario.evaluation.k)
        beyondAccuracy(summary, recommended: recommended, rated: rated, devices: results.count, into: &metrics)
        lastSampledBaselines = SampledBaselines(
            results,
            summary: summary,
            k: scenario.evaluation.k,
            negatives: scenario.evaluation.sampledNegatives
        )
        (metrics.serendipity, metrics.baselines) = baselines(results)
        if refused > 0 { metrics.refusedReports = refused }
        metrics.exposureOmitted = exposureOmitted
        // The next evaluation's popularity ranking: items by how many devices rated them.
        if rated.contains(where: { $0 > 0 }) {
            popularItems = rated.indices.filter { rated[$0] > 0 }.sorted { (rated[$0], -$0) > (rated[$1], -$1) }.prefix(
                Self.popularListLength
            ).map { UInt32($0) }
        }
        metrics.negativeTransfer = negativeTransfer(results)
        metrics.cohorts = scenario.evaluation.cohorts ? cohortTable(results) : nil
        lastEvaluationMetrics = metrics
        return summary
    }

    /// Catalogue coverage, Gini of exposure and novelty from the aggregated counts
    /// (docs/metrics.md has the formulas).
    func beyondAccuracy(
        _ s: EvaluationSummary,
        recommended: [Double],
        rated: [Double],
        devices n: Int,
        into o: inout EvaluationMetrics
    ) {
        o.recall = s.recall
        o.mrr = s.mrr
        o.auc = s.auc
        addSampled(s, to: &o)
        let exposures = recommended.reduce(0, +)
        guard exposures > 0 else { return }
        o.coverage = ExposureMetrics.coverage(recommended)
        o.giniExposure = ExposureMetrics.gini(recommended)
        o.novelty = ExposureMetrics.novelty(recommended: recommended, rated: rated, devices: n)
        o.ildCategory = s.ildCategory
        o.ildEmbedding = s.ildEmbedding
    }

    /// The sampled-negatives protocol's HR and NDCG, when the run uses it.
    func addSampled(_ s: EvaluationSummary, to o: inout EvaluationMetrics) {
        guard scenario.evaluation.sampledNegatives > 0 else { return }
        o.sampledNegatives = scenario.evaluation.sampledNegatives
        o.sampledHitRate = s.sampledHit
        o.sampledNdcg = s.sampledNdcg
    }

    /// Per device, the personalized model (shared + its personal parameters) against the
    /// global model (personal parameters as a new device starts them) and a local-only model
    /// (trained on the device's data alone): the share of devices each comparison makes
    /// worse, and by how much (RMSE points, mean over those devices).
    func negativeTransfer(_ results: [DeviceEvaluation]) -> NegativeTransfer? {
        // Device order: sums must not depend on which process reported first.
        let rows = results.sorted { $0.device < $1.device }.filter {
            $0.count > 0 && $0.squaredErrorGlobal >= 0 && $0.squaredErrorLocal >= 0
                && $0.squaredErrorGlobal.isFinite && $0.squaredErrorLocal.isFinite
        }
        guard !rows.isEmpty else { return nil }
        func rmse(_ se: Double, _ n: Int) -> Double { (se / Double(n)).squareRoot() }
        let ratings = Double(rows.reduce(0) { $0 + $1.count })
        func gap(_ other: KeyPath<DeviceEvaluation, Double>) -> NegativeTransfer.Gap {
            let gaps = rows.map { rmse($0.squaredError, $0.count) - rmse($0[keyPath: other], $0.count) }.filter {
                $0 > 1e-12
            }
            return NegativeTransfer.Gap(
                share: Double(gaps.count) / Double(rows.count),
                meanRMSELoss: gaps.isEmpty ? 0 : gaps.reduce(0, +) / Double(gaps.count)
            )
        }
        return NegativeTransfer(
            devices: rows.count,
            rmseGlobalModel: (rows.reduce(0.0) { $0 + $1.squaredErrorGlobal } / ratings).squareRoot(),
            rmseLocalOnly: (rows.reduce(0.0) { $0 + $1.squaredErrorLocal } / ratings).squareRoot(),
            personalizationWorseThanGlobal: gap(\.squaredErrorGlobal),
            federationWorseThanLocalOnly: gap(\.squaredErrorLocal)
        )
    }

    /// Every metric per cohort: activity quartiles of training-set size, main domain, and
    /// devices that never trained against those that did. The worst cohort by RMSE is named.
    func cohortTable(_ results: [DeviceEvaluation]) -> CohortTable? {
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
        var worst: CohortTable.Worst?
        var byKind: [String: [Cohort]] = [:]
        for (kind, name, members) in groups where !members.isEmpty {
            let s = EvaluationSummary(members)
            byKind[kind, default: []].append(
                Cohort(
                    k: k,
                    name: name,
                    devices: s.devices,
                    rmse: s.rmse,
                    hitRate: s.hitRate,
                    ndcg: s.ndcg,
                    deviceRMSE: s.deviceRMSE
                )
            )
            if s.rmse.isFinite, worst == nil || s.rmse > worst!.rmse {
                worst = CohortTable.Worst(cohort: "\(kind): \(name)", rmse: s.rmse)
            }
        }
        let kinds = EvaluationConfig.allCohortKinds.filter { byKind[$0] != nil }
        return CohortTable(groups: kinds.map { CohortTable.Group(kind: $0, cohorts: byKind[$0]!) }, worstByRMSE: worst)
    }

    /// An evaluation's base metrics (accuracy and ranking at `k`), as `eval`, `validation` and
    /// summary.json's `final` start.
    static func metrics(_ s: EvaluationSummary, k: Int) -> EvaluationMetrics {
        EvaluationMetrics(
            k: k,
            rmse: s.rmse,
            mae: s.mae,
            hitRate: s.hitRate,
            ndcg: s.ndcg,
            devices: s.devices,
            ratings: s.ratings,
            rankedDevices: s.rankedDevices,
            deviceRMSE: s.deviceRMSE
        )
    }
}
