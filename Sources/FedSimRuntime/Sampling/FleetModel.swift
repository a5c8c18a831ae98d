import FedSimConfig
import FedSimCore

/// The simulated device fleet: each device's diurnal availability and its compute and
/// network speed, all regenerated from (seed, device) on demand, so the coordinator holds no
/// per-device state for them and asks only about the devices a round touches.
///
/// Time is simulated seconds since round 1 began; the clock shows `start_hour_utc` then.
public struct FleetModel: Sendable {
    public let config: FleetConfig
    public let seed: UInt64

    public init(config: FleetConfig, seed: UInt64) {
        self.config = config
        self.seed = seed
    }

    /// One device's traits.
    public struct Device: Sendable, Equatable {
        public var utcOffsetHours: Double
        public var chargingStart: Double, chargingHours: Double
        public var hasWifi: Bool
        public var wifiStart: Double, wifiHours: Double
        /// Examples per second; bits per second down and up; one-way latency in seconds.
        public var speed: Double
        public var downBps: Double, upBps: Double
        public var latency: Double
    }

    public func device(_ d: Int) -> Device {
        var rng = Seeds.rng(seed, "fleet.device", UInt64(d))
        let a = config.availability
        let tz = a.timezones[rng.nextBounded(a.timezones.count)]
        let cs = positiveMod(a.chargingStartHour + a.chargingStartSpread * rng.nextGaussian(), 24)
        let cl = min(24, max(0.5, a.chargingHours + a.chargingHoursSpread * rng.nextGaussian()))
        let wifi = rng.nextUnitDouble() < a.wifiShare
        let ws = positiveMod(a.wifiStartHour + a.wifiStartSpread * rng.nextGaussian(), 24)
        let wl = min(24, max(0.5, a.wifiHours + 1.5 * rng.nextGaussian()))
        let c = config.compute
        let n = config.network
        return Device(
            utcOffsetHours: tz,
            chargingStart: cs,
            chargingHours: cl,
            hasWifi: wifi,
            wifiStart: ws,
            wifiHours: wl,
            speed: c.examplesPerSecond * _exp(c.sigma * rng.nextGaussian()),
            downBps: n.downloadMbps * 1e6 * _exp(n.bandwidthSigma * rng.nextGaussian()),
            upBps: n.uploadMbps * 1e6 * _exp(n.bandwidthSigma * rng.nextGaussian()),
            latency: n.latencyMs / 1000 * _exp(n.latencySigma * rng.nextGaussian())
        )
    }

    /// The device's local hour of day at simulated time t.
    func localHour(_ dev: Device, _ t: Double) -> Double {
        positiveMod(config.availability.startHourUTC + t / 3600 + dev.utcOffsetHours, 24)
    }

    /// Hours left in a daily window [start, start + length) at local hour h, or nil if outside.
    static func hoursLeft(in start: Double, _ length: Double, at h: Double) -> Double? {
        if length >= 24 { return 24 }
        let since = positiveMod(h - start, 24)
        return since < length ? length - since : nil
    }

    /// Whether device d can be selected at simulated time t: charging, on Wi-Fi, and
    /// reachable in this hour (a seeded coin per device and UTC hour).
    public func isAvailable(_ d: Int, at t: Double) -> Bool {
        guard config.availability.model == .diurnal else { return true }
        return availableSeconds(d, at: t) != nil
    }

    /// Seconds until device d leaves its eligibility window, or nil if it is not available.
    public func availableSeconds(_ d: Int, at t: Double) -> Double? {
        guard config.availability.model == .diurnal else { return .infinity }
        let dev = device(d)
        guard dev.hasWifi else { return nil }
        let h = localHour(dev, t)
        guard let charging = Self.hoursLeft(in: dev.chargingStart, dev.chargingHours, at: h),
            let wifi = Self.hoursLeft(in: dev.wifiStart, dev.wifiHours, at: h)
        else { return nil }
        let hour = UInt64(max(0, (config.availability.startHourUTC * 3600 + t) / 3600))
        var coin = Seeds.rng(seed, "fleet.reachable", UInt64(d), hour)
        guard coin.nextUnitDouble() < config.availability.reachable else { return nil }
        return min(charging, wifi) * 3600
    }

    /// Simulated seconds a device needs for one round: fetch the model, train, upload.
    public func roundSeconds(_ d: Int, examples: Int, epochs: Int, bytesDown: Int, bytesUp: Int) -> Double {
        let dev = device(d)
        return 2 * dev.latency + Double(bytesDown) * 8 / dev.downBps + Double(examples * epochs) / dev.speed
            + Double(bytesUp) * 8 / dev.upBps
    }
}

@inlinable func positiveMod(_ x: Double, _ m: Double) -> Double {
    let r = x.truncatingRemainder(dividingBy: m)
    return r < 0 ? r + m : r
}

/// Who of a round's selected devices counts, on the simulated clock.
public struct RoundPlan: Sendable, Equatable {
    /// Devices whose update the coordinator will accept (sorted).
    public var kept: [Int] = []
    /// Finished after the deadline.
    public var missedDeadline: [Int] = []
    /// Left their availability window (unplugged, off Wi-Fi) before finishing.
    public var wentOffline: [Int] = []
    /// Finished in time but after the first `target` (over-selection).
    public var overSelected: [Int] = []
    /// Simulated duration of the round.
    public var seconds = 0.0

    public init() {}

    /// `finish[d]`: simulated finish time; `window[d]`: seconds the device stays available.
    public static func make(
        selected: [Int],
        finish: [Int: Double],
        window: [Int: Double],
        deadline: Double,
        target: Int
    ) -> RoundPlan {
        var p = RoundPlan()
        var inTime: [(Double, Int)] = []
        for d in selected {
            let f = finish[d] ?? 0
            if deadline > 0 && f > deadline {
                p.missedDeadline.append(d)
                continue
            }
            if f > (window[d] ?? .infinity) {
                p.wentOffline.append(d)
                continue
            }
            inTime.append((f, d))
        }
        inTime.sort { $0 < $1 }
        let keep = inTime.prefix(target)
        p.kept = keep.map(\.1).sorted()
        p.overSelected = inTime.dropFirst(target).map(\.1).sorted()
        // The round ends when the target is reached, or else when the deadline passes (if
        // anyone is still out), or when the last kept device reports.
        let lastKept = keep.last?.0 ?? 0
        if keep.count >= target || (p.missedDeadline.isEmpty && p.wentOffline.isEmpty) || deadline <= 0 {
            p.seconds = lastKept
        } else {
            p.seconds = deadline
        }
        return p
    }

    public var discarded: Set<Int> { Set(missedDeadline + wentOffline + overSelected) }
}
