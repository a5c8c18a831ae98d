import FedSimCore

/// FedBuff's devices in flight on the simulated clock, as a value: `concurrency` devices are
/// always training, each on the model version it fetched when it started, and arrive at
/// start + their simulated round time. Popping arrivals fills the next buffer; each arrival
/// launches a replacement at once. Seeded per launch, so a run's flights are its seed's.
struct FlightSchedule {
    struct Flight {
        var device: Int
        var version: Int
        var start: Double
        var finish: Double
        /// It would leave its availability window before finishing: it never arrives.
        var lost: Bool
    }

    /// Whether device d can start at time t, and if so its round time and how long it stays
    /// available: (seconds, window). The caller's fleet model and live processes decide.
    typealias Timing = (_ device: Int, _ at: Double) -> (seconds: Double, window: Double)?

    let seed: UInt64
    let devices: Int
    private(set) var flights: [Flight] = []
    private(set) var inFlight = Set<Int>()
    /// Devices whose update waits in the buffer being filled: a device trains one model
    /// version at a time, so it is not launched again until the buffer is aggregated (else a
    /// fast device could arrive twice in one buffer).
    private(set) var buffered = Set<Int>()
    private(set) var launches = 0

    init(seed: UInt64, devices: Int) {
        self.seed = seed
        self.devices = devices
    }

    /// Starts one device that is neither in flight nor buffered and can start at `t`, on
    /// model `version`. Gives up after 64 + 4n draws (nobody available: the flight count
    /// shrinks until devices come back).
    mutating func launch(at t: Double, version: Int, timing: Timing) {
        var rng = Seeds.rng(seed, "async.launch", UInt64(launches))
        launches += 1
        for _ in 0..<(64 + 4 * devices) {
            let d = rng.nextBounded(devices)
            guard !inFlight.contains(d), !buffered.contains(d), let (seconds, window) = timing(d, t) else { continue }
            flights.append(Flight(device: d, version: version, start: t, finish: t + seconds, lost: seconds > window))
            inFlight.insert(d)
            return
        }
    }

    /// The next buffer: arrivals in (finish time, device) order until `size` usable ones are
    /// in, each replaced at once. An arrival that was lost, or more than `maxStaleness`
    /// versions behind `version` (0: no limit), counts in `lost`. `clock` is the last
    /// arrival's time (nil if none arrived).
    mutating func fillBuffer(
        size: Int,
        version: Int,
        maxStaleness: Int,
        timing: Timing
    ) -> (buffer: [Flight], lost: Int, clock: Double?) {
        var buffer: [Flight] = []
        var lost = 0
        var clock: Double?
        buffered.removeAll()
        while buffer.count < size, !flights.isEmpty {
            let i = flights.indices.min {
                (flights[$0].finish, flights[$0].device) < (flights[$1].finish, flights[$1].device)
            }!
            let f = flights.remove(at: i)
            inFlight.remove(f.device)
            clock = f.finish
            if f.lost || (maxStaleness > 0 && version - f.version > maxStaleness) {
                lost += 1
            } else {
                buffer.append(f)
                buffered.insert(f.device)
            }
            launch(at: f.finish, version: version, timing: timing)
        }
        return (buffer, lost, clock)
    }
}
