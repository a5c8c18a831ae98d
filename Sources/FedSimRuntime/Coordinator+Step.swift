import FedSimConfig
import FedSimModels

extension Coordinator {
    /// The long-term module's slice of the flat model (lsttm), when its updates are delayed.
    var delayedRange: Range<Int>? {
        guard scenario.model.kind == .lsttm, scenario.model.lsttm.longTermDelay > 0 else { return nil }
        let t = LSTTMShape.longTermTensors
        let lo = layout.offsets[t.lowerBound], last = t.upperBound
        return lo..<(layout.offsets[last] + layout.tensors[last].count)
    }

    /// Applies round r's aggregated update through the server optimizer. With lsttm's
    /// `long_term_delay` D, the long-term module's part is held back and arrives with round
    /// r + D's update (its federation runs asynchronously to the click model's): what a
    /// device trains against in between is the long-term module as it was D rounds earlier.
    func step(_ update: [Float], round r: Int) {
        guard let range = delayedRange else {
            optimizer.apply(update, to: &model)
            return
        }
        var now = update
        delayedLongTerm[r + scenario.model.lsttm.longTermDelay] = Array(update[range])
        let arriving = delayedLongTerm.removeValue(forKey: r)
        for i in range { now[i] = arriving?[i - range.lowerBound] ?? 0 }
        optimizer.apply(now, to: &model)
    }
}
