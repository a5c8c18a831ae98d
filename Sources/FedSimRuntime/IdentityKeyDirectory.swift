/// The enrolled devices' identity public keys (Ed25519, 32 bytes), kept by the coordinator for
/// the whole run: one contiguous slot per device and a bit for "enrolled".
///
/// Why not a dictionary of arrays: at 10,000,000 devices a `[UInt32: [UInt8]]` costs about
/// 130 bytes a device (a heap array per key, the table's slack), 1.3 GB; this costs 32 bytes
/// and one bit a device, 320 MB (docs/cluster.md).
public struct IdentityKeyDirectory: Sendable {
    static let keyBytes = 32
    /// The population's size: the first enrolment allocates every slot at once (no growth
    /// by doubling, which would hold up to twice the memory).
    public let devices: Int
    private var keys: [UInt8] = []
    private var enrolled: [UInt64] = []

    public init(devices: Int) { self.devices = devices }

    /// The key of `device`, nil if it never enrolled.
    public subscript(device: UInt32) -> [UInt8]? {
        let d = Int(device)
        guard d / 64 < enrolled.count, enrolled[d / 64] & (1 << UInt64(d % 64)) != 0 else { return nil }
        return Array(keys[d * Self.keyBytes..<(d + 1) * Self.keyBytes])
    }

    /// Whether `device` enrolled a different key than `key` before.
    public func conflicts(_ device: UInt32, _ key: [UInt8]) -> Bool {
        guard let old = self[device] else { return false }
        return old != key
    }

    /// Records `key` (32 bytes, checked by the enrollment decoder) for `device`.
    public mutating func set(_ device: UInt32, _ key: [UInt8]) {
        precondition(key.count == Self.keyBytes, "identity keys are \(Self.keyBytes) bytes")
        let d = Int(device)
        precondition(d < devices, "device \(d) is outside the population of \(devices)")
        if keys.isEmpty {
            keys = [UInt8](repeating: 0, count: devices * Self.keyBytes)
            enrolled = [UInt64](repeating: 0, count: (devices + 63) / 64)
        }
        keys.replaceSubrange(d * Self.keyBytes..<(d + 1) * Self.keyBytes, with: key)
        enrolled[d / 64] |= 1 << UInt64(d % 64)
    }
}
