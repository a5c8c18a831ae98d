import FedSimAggregation
import FedSimCore
import FedSimWire

extension Coordinator {
    /// Refused: what a device claimed that no honest device could (a sentence naming it).
    struct Refusal: Error, CustomStringConvertible {
        var description: String
    }

    /// Checks one device's update (plain or decoded from a compressed one) against what an
    /// honest device can send, before any aggregation rule or the coordinator's own scaling
    /// sees it: its statistics (`ReportBounds`) and its weights against its weighted delta
    /// (`UpdateBounds`). Returns the weighted delta with each element's Δ clipped to the bound,
    /// and how many elements were clipped; throws a `Refusal` saying what the device claimed.
    /// The delta stays sparse: only the entries the device sent are checked and clipped.
    func admit(_ u: DeviceUpdate, from process: Int) throws -> (weightedDelta: SparseFloats, bounded: Int) {
        let device = Int(u.device)
        if let why = reportBounds.refusal(device: device, examples: Int(u.examples), trainLoss: u.trainLoss) {
            throw Refusal(description: why)
        }
        var delta = u.sparseDelta
        do {
            let bounded = try updateBounds.enforce(
                weightedDelta: &delta,
                weights: u.sparseWeights,
                trainingExamples: reportBounds.trainingSize(of: device)
            )
            if bounded > 0 {
                log.warning(
                    "device \(device) of process \(process): \(bounded) elements of its update imply |Δ| > \(updateBounds.maxDelta); clipped at the coordinator"
                )
            }
            return (delta, bounded)
        } catch let v as UpdateBounds.Violation {
            throw Refusal(description: v.description)
        }
    }
}
