/// Which groups a step may change: inner loops and adaptation name the ones they adapt;
/// the others are left exactly as they were.
public struct GroupMask: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let shared = GroupMask(rawValue: 1)
    public static let domain = GroupMask(rawValue: 2)
    public static let personal = GroupMask(rawValue: 4)
    /// The device's copy of the genre rows its support touches (shared rows, adapted locally).
    public static let categories = GroupMask(rawValue: 8)
    /// The device's copy of its user-feature rows.
    public static let userFeatures = GroupMask(rawValue: 16)
    public static let all: GroupMask = [.shared, .domain, .personal]
}
