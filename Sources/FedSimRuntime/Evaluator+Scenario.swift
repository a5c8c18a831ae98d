import FedSimConfig
import FedSimCore
import FedSimData
import FedSimModels

extension Evaluator {
    /// The run's evaluator as its scenario configures it. The devices, the centralized runner and
    /// the in-run baselines all build it here, so models and baselines are scored alike.
    /// `categories`: with the items' categories (diversity metrics); `sampled`: with the
    /// sampled-negatives protocol and its seed.
    static func of(_ scenario: Scenario, population: any Population, categories: Bool, sampled: Bool) -> Evaluator {
        Evaluator(
            k: scenario.evaluation.k,
            relevanceThreshold: Float(
                scenario.evaluation.implicit ? -.infinity : scenario.evaluation.relevanceThreshold
            ),
            ranking: scenario.evaluation.ranking,
            scale: population.ratingScale,
            categories: categories ? population.itemCategories : [],
            sampledNegatives: sampled ? scenario.evaluation.sampledNegatives : 0,
            seed: sampled ? Seeds.derive(scenario.seed, "evaluation") : 0
        )
    }
}
