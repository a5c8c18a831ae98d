import FedSimConfig
import FedSimModels

extension Coordinator {
    /// Applies round r's aggregated update through the server optimizer. A model's delayed
    /// slice (`RecommenderModel.delayedUpdate`: lsttm's long-term module with
    /// `long_term_delay` D) is held back and arrives with round r + D's update (its federation
    /// runs asynchronously to the rest): what a device trains against in between is that
    /// slice as it was D rounds earlier.
    func step(_ update: [Float], round r: Int) {
        guard let delayed = recommender.delayedUpdate else {
            optimizer.apply(update, to: &model)
            return
        }
        let range = delayed.range
        var now = update
        delayedLongTerm[r + delayed.delay] = Array(update[range])
        let arriving = delayedLongTerm.removeValue(forKey: r)
        for i in range { now[i] = arriving?[i - range.lowerBound] ?? 0 }
        optimizer.apply(now, to: &model)
    }
}
