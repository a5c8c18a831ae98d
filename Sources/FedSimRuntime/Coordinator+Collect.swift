import FedSimWire

extension Coordinator {
    /// The collection of a plain round (`label` "round 3") or FedBuff step ("async step 3"),
    /// checked against the live processes' device ranges.
    func trainingCollection(
        _ r: Int,
        label: String,
        phase: String,
        assignments: [ConnectionID: [UInt32]]
    ) -> TrainingCollection {
        TrainingCollection(
            round: r,
            label: label,
            phase: phase,
            assignments: assignments,
            hosted: peers.mapValues(\.range),
            compression: scenario.compression.enabled,
            deadlineSeconds: scenario.runtime.roundDeadlineSeconds
        )
    }

    /// Collects a plain round's updates through `collection` (one synchronous round, or one
    /// FedBuff step). `admit` checks an update and adds it to the round's aggregate; if it
    /// throws, the update is refused and its device counts as failed. Compressed updates are
    /// decoded through the run's stages first. Returns the compressed bodies' bytes.
    func collectUpdates(
        _ collection: inout TrainingCollection,
        admitting admit: (DeviceUpdate, Int) throws -> Void
    ) async throws -> Int {
        var compressedBytes = 0
        let label = collection.label
        try await drive(&collection, deadline: armDeadline(seconds: scenario.runtime.roundDeadlineSeconds)) {
            effect,
            collection in
            switch effect {
            case .admit(let u, let p, let c):
                do {
                    try admit(u, p)
                    collection.finish(u.device, from: c)
                } catch {
                    log.warning("\(label): refusing update of device \(u.device) from process \(p): \(error)")
                    collection.refuse(u.device, from: c)
                }
                return nil
            case .decode(let cu, let p, let c):
                do {
                    let u = try decompress(cu)
                    compressedBytes += cu.body.count
                    return .message(process: p, connection: c, .update(u))
                } catch {
                    log.warning(
                        "\(label): refusing the compressed update of device \(cu.device) from process \(p): \(error)"
                    )
                    collection.refuse(cu.device, from: c)
                    return nil
                }
            }
        }
        return compressedBytes
    }
}
