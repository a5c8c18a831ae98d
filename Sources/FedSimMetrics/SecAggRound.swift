/// A SecAgg+ run's line (a training round's, or an evaluation's secure exposure sum): the
/// protocol's parameters and, per stage in protocol order, who took part and what it cost.
public struct SecAggRound: Codable, Equatable, Sendable {
    public var `protocol`: String
    /// Neighbours per device and the Shamir threshold.
    public var k: Int
    public var t: Int
    /// Bits of the modular ring the sum lives in.
    public var bits: Int
    public var stages: [Stage]
    /// Why the protocol gave no sum this round (the model is unchanged).
    public var abandoned: String?
    /// Elements of the unmasked mean beyond what honest devices send, clipped.
    public var boundedAtCoordinator: Int?

    /// One stage (advertise, share, masked, unmask): devices that answered, bytes, seconds.
    public struct Stage: Equatable, Sendable {
        public var name: String
        public var devices: Int
        public var bytesUp: Int
        public var bytesDown: Int
        public var seconds: Double

        public init(name: String, devices: Int, bytesUp: Int, bytesDown: Int, seconds: Double) {
            self.name = name
            self.devices = devices
            self.bytesUp = bytesUp
            self.bytesDown = bytesDown
            self.seconds = seconds
        }
    }

    public init(protocol p: String, k: Int, t: Int, bits: Int, stages: [Stage] = []) {
        self.protocol = p
        self.k = k
        self.t = t
        self.bits = bits
        self.stages = stages
    }

    /// The stage named `name`, if it ran.
    public func stage(_ name: String) -> Stage? { stages.first { $0.name == name } }

    enum CodingKeys: String, CodingKey {
        case `protocol`, k, t, bits, stages, abandoned
        case boundedAtCoordinator = "bounded_at_coordinator"
    }

    enum StageKeys: String, CodingKey {
        case devices
        case bytesUp = "bytes_up"
        case bytesDown = "bytes_down"
        case seconds
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.protocol = try c.decode(String.self, forKey: .protocol)
        k = try c.decode(Int.self, forKey: .k)
        t = try c.decode(Int.self, forKey: .t)
        bits = try c.decode(Int.self, forKey: .bits)
        let s = try c.nestedContainer(keyedBy: MetricKey.self, forKey: .stages)
        stages = try s.allKeys.map { key in
            let o = try s.nestedContainer(keyedBy: StageKeys.self, forKey: key)
            return Stage(
                name: key.stringValue,
                devices: try o.decode(Int.self, forKey: .devices),
                bytesUp: try o.decode(Int.self, forKey: .bytesUp),
                bytesDown: try o.decode(Int.self, forKey: .bytesDown),
                seconds: try o.decode(Double.self, forKey: .seconds)
            )
        }
        abandoned = try c.decodeIfPresent(String.self, forKey: .abandoned)
        boundedAtCoordinator = try c.decodeIfPresent(Int.self, forKey: .boundedAtCoordinator)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(self.protocol, forKey: .protocol)
        try c.encode(k, forKey: .k)
        try c.encode(t, forKey: .t)
        try c.encode(bits, forKey: .bits)
        var s = c.nestedContainer(keyedBy: MetricKey.self, forKey: .stages)
        for stage in stages {
            var o = s.nestedContainer(keyedBy: StageKeys.self, forKey: MetricKey(stage.name))
            try o.encode(stage.devices, forKey: .devices)
            try o.encode(stage.bytesUp, forKey: .bytesUp)
            try o.encode(stage.bytesDown, forKey: .bytesDown)
            try o.encode(stage.seconds, forKey: .seconds)
        }
        try c.encodeIfPresent(abandoned, forKey: .abandoned)
        try c.encodeIfPresent(boundedAtCoordinator, forKey: .boundedAtCoordinator)
    }
}
