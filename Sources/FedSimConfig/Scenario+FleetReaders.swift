import Foundation
import Yams

// How the population, fleet and compression sections are read.

extension PartitionConfig {
    init(reading r: ConfigReader) {
        self.init()
        method = r.choice("method", default: method)
        devices = r.int("devices", default: devices, range: 0...50_000_000)
        label = r.choice("label", default: label)
        alpha = r.double("alpha", default: alpha, min: 0, max: 1e6, exclusiveMin: true)
        shardsPerDevice = r.int("shards_per_device", default: shardsPerDevice, range: 1...10_000)
        sizes = r.choice("sizes", default: sizes)
        sizeSigma = r.double("size_sigma", default: sizeSigma, min: 0, max: 10)
        sizeExponent = r.double("size_exponent", default: sizeExponent, min: 1, max: 10, exclusiveMin: true)
        minPerDevice = r.int("min_per_device", default: minPerDevice, range: 1...1_000_000)
        r.finish()
    }
}

extension FleetConfig {
    init(reading r: ConfigReader) {
        self.init()
        availability = AvailabilityConfig(reading: r.section("availability"))
        let c = r.section("compute")
        compute.examplesPerSecond = c.double(
            "examples_per_second",
            default: compute.examplesPerSecond,
            min: 0,
            max: 1e12,
            exclusiveMin: true
        )
        compute.sigma = c.double("sigma", default: compute.sigma, min: 0, max: 5)
        c.finish()
        let n = r.section("network")
        network.downloadMbps = n.double(
            "download_mbps",
            default: network.downloadMbps,
            min: 0,
            max: 1e6,
            exclusiveMin: true
        )
        network.uploadMbps = n.double("upload_mbps", default: network.uploadMbps, min: 0, max: 1e6, exclusiveMin: true)
        network.bandwidthSigma = n.double("bandwidth_sigma", default: network.bandwidthSigma, min: 0, max: 5)
        network.latencyMs = n.double("latency_ms", default: network.latencyMs, min: 0, max: 1e6)
        network.latencySigma = n.double("latency_sigma", default: network.latencySigma, min: 0, max: 5)
        n.finish()
        deadlineSeconds = r.double("deadline_seconds", default: deadlineSeconds, min: 0, max: 1e7)
        overSelection = r.double("over_selection", default: overSelection, min: 1, max: 10)
        r.finish()
    }
}

extension AvailabilityConfig {
    init(reading r: ConfigReader) {
        self.init()
        model = r.choice("model", default: model)
        timezones = r.doubleList("timezones", default: timezones)
        if timezones.isEmpty || timezones.contains(where: { $0 < -12 || $0 > 14 }) {
            r.fail("timezones", "expected a non-empty list of UTC offsets in -12...14 hours")
        }
        chargingStartHour = r.double("charging_start_hour", default: chargingStartHour, min: 0, max: 24)
        chargingStartSpread = r.double("charging_start_spread", default: chargingStartSpread, min: 0, max: 12)
        chargingHours = r.double("charging_hours", default: chargingHours, min: 0, max: 24)
        chargingHoursSpread = r.double("charging_hours_spread", default: chargingHoursSpread, min: 0, max: 12)
        wifiShare = r.double("wifi_share", default: wifiShare, min: 0, max: 1)
        wifiStartHour = r.double("wifi_start_hour", default: wifiStartHour, min: 0, max: 24)
        wifiStartSpread = r.double("wifi_start_spread", default: wifiStartSpread, min: 0, max: 12)
        wifiHours = r.double("wifi_hours", default: wifiHours, min: 0, max: 24)
        reachable = r.double("reachable", default: reachable, min: 0, max: 1)
        startHourUTC = r.double("start_hour_utc", default: startHourUTC, min: 0, max: 24)
        roundIntervalSeconds = r.double("round_interval_seconds", default: roundIntervalSeconds, min: 0, max: 1e7)
        r.finish()
    }
}

extension CompressionConfig {
    init(reading r: ConfigReader) {
        self.init()
        let names = r.stringList("stages", default: stages.map(\.rawValue))
        var parsed: [Stage] = []
        for n in names {
            guard let st = Stage(rawValue: n) else {
                r.fail(
                    "stages",
                    "unknown stage \"\(n)\"; expected \(Stage.allCases.map(\.rawValue).joined(separator: ", "))"
                )
                continue
            }
            parsed.append(st)
        }
        stages = parsed
        if !Self.validStacks.contains(stages) {
            r.fail(
                "stages",
                "[\(names.joined(separator: ", "))] is not a stack the coordinator decodes; valid: "
                    + Self.validStacks.dropFirst().map { "[" + $0.map(\.rawValue).joined(separator: ", ") + "]" }
                    .joined(separator: " ")
            )
        }
        bits = r.int("bits", default: bits, range: 1...16)
        fraction = r.double("fraction", default: fraction, min: 0, max: 1, exclusiveMin: true)
        errorFeedback = r.bool("error_feedback", default: errorFeedback)
        blockSize = r.int("block_size", default: blockSize, range: 16...65_536)
        if stages.contains(.rotate) && blockSize & (blockSize - 1) != 0 {
            r.fail("block_size", "rotation needs a power of two")
        }
        r.finish()
    }
}

extension DriftConfig {
    init(reading r: ConfigReader) {
        self.init()
        periods = r.int("periods", default: periods, range: 0...10_000)
        periodDays = r.double("period_days", default: periodDays, min: 0, max: 3_650, exclusiveMin: true)
        hotTopics = r.int("hot_topics", default: hotTopics, range: 1...8)
        turnover = r.double("turnover", default: turnover, min: 0, max: 1)
        topics = r.choice("topics", default: topics)
        hotShare = r.double("hot_share", default: hotShare, min: 0, max: 1)
        hotBoost = r.double("hot_boost", default: hotBoost, min: 0, max: 4)
        externalDelayPeriods = r.int("external_delay_periods", default: externalDelayPeriods, range: 0...10_000)
        r.finish()
    }
}
