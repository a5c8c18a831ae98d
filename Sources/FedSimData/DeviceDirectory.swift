import FedSimCore
import Foundation

/// What the coordinator may know about each device without its data: the size of its
/// training set and its main domain. Samplers (size-weighted, stratified) and the fleet's
/// timing model read it. 6 bytes per device, so 100,000 devices cost 600 kB.
///
/// `fedsim run` builds it once and stores it in the run directory (`directory.bin`); the
/// coordinator loads it instead of touching the data. Size-weighted sampling and stratifying
/// by activity reveal sizes to the server: the simulation's convenience, a leak in production.
public struct DeviceDirectory: Sendable, Equatable {
    /// Training examples per device (after the train/test split).
    public var trainSizes: [UInt32]
    /// Domain holding most of the device's training examples (ties: lowest index).
    public var mainDomains: [UInt16]

    public init(trainSizes: [UInt32], mainDomains: [UInt16]) {
        precondition(trainSizes.count == mainDomains.count)
        self.trainSizes = trainSizes
        self.mainDomains = mainDomains
    }

    public var count: Int { trainSizes.count }

    /// One pass over the population (each device generated or read once), split over
    /// `workers` threads by contiguous device ranges.
    /// `progress` is called now and then with how many devices are done (from worker threads).
    public static func build(
        _ population: any Population,
        splitter: Splitter,
        workers: Int = 1,
        progress: (@Sendable (Int) -> Void)? = nil
    ) -> DeviceDirectory {
        let n = population.deviceCount
        var sizes = [UInt32](repeating: 0, count: n)
        var domains = [UInt16](repeating: 0, count: n)
        let nd = max(1, population.domainNames.count)
        let itemDomains = population.itemDomains
        let w = max(1, min(workers, n / 1_000 + 1))
        let done = DoneCounter()
        sizes.withUnsafeMutableBufferPointer { sp in
            domains.withUnsafeMutableBufferPointer { dp in
                nonisolated(unsafe) let sp = sp
                nonisolated(unsafe) let dp = dp
                DispatchQueue.concurrentPerform(iterations: w) { part in
                    var counts = [Int](repeating: 0, count: nd)
                    for d in (part * n / w)..<((part + 1) * n / w) {
                        if let progress, (d + 1) % 50_000 == 0 { progress(done.add(50_000)) }
                        let data = population.deviceData(d, split: splitter)
                        sp[d] = UInt32(data.train.count)
                        guard nd > 1 else { continue }
                        for i in counts.indices { counts[i] = 0 }
                        for item in data.train.items { counts[Int(itemDomains[Int(item)])] += 1 }
                        var best = 0
                        for i in 1..<nd where counts[i] > counts[best] { best = i }
                        dp[d] = UInt16(best)
                    }
                }
            }
        }
        progress?(n)
        return DeviceDirectory(trainSizes: sizes, mainDomains: domains)
    }

    /// Devices done over all workers (progress only).
    final class DoneCounter: @unchecked Sendable {
        let lock = NSLock()
        var value = 0
        func add(_ k: Int) -> Int {
            lock.lock()
            defer { lock.unlock() }
            value += k
            return value
        }
    }

    static let magic: [UInt8] = Array("FSDIR001".utf8)

    /// Little-endian: magic, count (u64), sizes (u32 each), domains (u16 each).
    public func encoded() -> [UInt8] {
        var out = Self.magic
        out.reserveCapacity(16 + 6 * count)
        var n = UInt64(count).littleEndian
        withUnsafeBytes(of: &n) { out += $0 }
        trainSizes.withUnsafeBytes { out += $0 }
        mainDomains.withUnsafeBytes { out += $0 }
        return out
    }

    public struct Corrupt: Error, CustomStringConvertible {
        public var description: String
    }

    public static func decode(_ bytes: [UInt8]) throws -> DeviceDirectory {
        guard bytes.count >= 16, Array(bytes[0..<8]) == magic else {
            throw Corrupt(description: "not a device directory")
        }
        var n: UInt64 = 0
        withUnsafeMutableBytes(of: &n) { $0.copyBytes(from: bytes[8..<16]) }
        let declared = UInt64(littleEndian: n)
        // Compare in UInt64 first: a hostile count above Int.max must not trap on conversion.
        guard declared <= UInt64((bytes.count - 16) / 6), bytes.count == 16 + 6 * Int(declared) else {
            throw Corrupt(description: "device directory of \(declared) devices has \(bytes.count) bytes")
        }
        let count = Int(declared)
        var sizes = [UInt32](repeating: 0, count: count)
        var domains = [UInt16](repeating: 0, count: count)
        sizes.withUnsafeMutableBytes { $0.copyBytes(from: bytes[16..<(16 + 4 * count)]) }
        domains.withUnsafeMutableBytes { $0.copyBytes(from: bytes[(16 + 4 * count)...]) }
        return DeviceDirectory(trainSizes: sizes, mainDomains: domains)
    }
}
