// swift-tools-version:6.0
// FedSim: a federated-learning simulator for recommender systems.
//
// One target per seam, dependencies pointing one way (see docs/architecture.md):
//   FedSimCore  <- FedSimConfig, FedSimData, FedSimModels, FedSimAggregation, FedSimWire
//   FedSimRuntime ties them together; the three executables are thin `@main` files.
import PackageDescription

// Plain -O in release: preconditions guard buffer lengths handed to libsodium, so they must
// never be compiled out (-Ounchecked would remove them).
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v5),
]

let package = Package(
    name: "FedSim",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "fedsim", targets: ["fedsim"]),
        .executable(name: "fedsim-coordinator", targets: ["fedsim-coordinator"]),
        .executable(name: "fedsim-client", targets: ["fedsim-client"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // libsodium from Debian's libsodium-dev (`make setup` installs it).
        .systemLibrary(
            name: "CSodium",
            path: "Sources/CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .target(name: "FedSimCore", dependencies: ["CSodium"], swiftSettings: swiftSettings),
        .target(
            name: "FedSimConfig",
            dependencies: ["FedSimCore", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        .target(name: "FedSimData", dependencies: ["FedSimCore", "FedSimConfig"], swiftSettings: swiftSettings),
        .target(name: "FedSimModels", dependencies: ["FedSimCore", "FedSimConfig", "FedSimData"], swiftSettings: swiftSettings),
        .target(name: "FedSimAggregation", dependencies: ["FedSimCore", "FedSimConfig"], swiftSettings: swiftSettings),
        // Differential-privacy accounting (RDP of the Poisson-subsampled Gaussian).
        .target(name: "FedSimPrivacy", dependencies: ["FedSimCore", "CSodium"], swiftSettings: swiftSettings),
        // SecAgg+ (Bell et al. 2020) on libsodium: crypto, Shamir, graph, device and server state machines.
        // ChaCha20 with AVX-512 for mask expansion (the same keystream as libsodium's, which it
        // falls back to on other CPUs).
        .target(name: "CFedSimChaCha", path: "Sources/CFedSimChaCha"),
        // X25519 eight at a time with AVX-512 IFMA for SecAgg+'s key agreements (the same
        // function as libsodium's crypto_scalarmult, which it falls back to on other CPUs).
        .target(name: "CFedSimX25519", path: "Sources/CFedSimX25519"),
        // AES-128-CTR for SecAgg+ masks (`secure_aggregation.prg: aes128ctr`): VAES-512 or
        // AES-NI where the CPU has them, constant-time portable C elsewhere (the same words).
        .target(name: "CFedSimAES", path: "Sources/CFedSimAES"),
        .target(
            name: "FedSimSecAgg",
            dependencies: ["FedSimCore", "CSodium", "CFedSimChaCha", "CFedSimX25519", "CFedSimAES"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FedSimWire",
            dependencies: [
                "FedSimCore", "CSodium",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // prctl(PR_SET_PDEATHSIG), which Swift cannot call (variadic): the coordinator stops
        // gracefully when its launcher dies.
        .target(name: "CFedSimSystem", path: "Sources/CFedSimSystem"),
        .target(
            name: "FedSimRuntime",
            dependencies: [
                "FedSimCore", "FedSimConfig", "FedSimData", "FedSimModels", "FedSimAggregation", "FedSimWire", "FedSimSecAgg",
                "FedSimPrivacy", "CFedSimSystem", "FedSimMetrics",
            ],
            swiftSettings: swiftSettings
        ),
        // The seeded mutation fuzzer of every decoder (`make fuzz`, and a smoke test).
        .target(
            name: "FedSimFuzz",
            dependencies: ["FedSimWire", "FedSimSecAgg", "FedSimConfig", "FedSimData", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "fedsim-fuzz", dependencies: ["FedSimFuzz", "FedSimCore"], swiftSettings: swiftSettings),
        // The metrics schema (metrics.jsonl lines): Codable types the runtime writes and the
        // reports read, with their JSON encoder and decoder. No dependencies, so both sides share it.
        .target(name: "FedSimMetrics", swiftSettings: swiftSettings),
        // Run reports (HTML with SVG charts), comparisons and their terminal tables.
        .target(name: "FedSimReports", dependencies: ["FedSimMetrics"], swiftSettings: swiftSettings),
        .target(
            name: "FedSimCLI",
            dependencies: [
                "FedSimRuntime", "FedSimConfig", "FedSimCore", "FedSimData", "FedSimModels", "FedSimPrivacy", "FedSimReports",
                "FedSimMetrics", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "fedsim", dependencies: ["FedSimCLI"], swiftSettings: swiftSettings),
        .executableTarget(name: "fedsim-coordinator", dependencies: ["FedSimRuntime"], swiftSettings: swiftSettings),
        .executableTarget(name: "fedsim-client", dependencies: ["FedSimRuntime", "FedSimCore"], swiftSettings: swiftSettings),
        // `make bench`: figures printed beside baselines measured in the same run.
        .executableTarget(
            name: "fedsim-bench",
            dependencies: [
                "FedSimRuntime", "FedSimWire", "FedSimAggregation", "FedSimModels", "FedSimData", "FedSimConfig", "FedSimSecAgg",
                "FedSimPrivacy", "CSodium", "CFedSimChaCha", "CFedSimX25519", "CFedSimAES", "FedSimReports", "FedSimMetrics",
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FedSimTestSupport",
            dependencies: [
                "FedSimCore", "FedSimConfig", "FedSimData", "FedSimModels", "FedSimRuntime", "FedSimWire", "FedSimSecAgg",
                "FedSimMetrics", .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "FedSimCoreTests", dependencies: ["FedSimCore", "FedSimTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "FedSimConfigTests", dependencies: ["FedSimConfig", "FedSimTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "FedSimDataTests", dependencies: ["FedSimData", "FedSimTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "FedSimModelsTests", dependencies: ["FedSimModels", "FedSimTestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "FedSimAggregationTests", dependencies: ["FedSimAggregation", "FedSimTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FedSimPrivacyTests", dependencies: ["FedSimPrivacy"], exclude: ["dp_accounting_vectors.json"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "FedSimSecAggTests", dependencies: ["FedSimSecAgg", "FedSimTestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "FedSimWireTests",
            dependencies: [
                "FedSimWire", "FedSimTestSupport", "FedSimCore", .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FedSimIntegrationTests",
            dependencies: ["FedSimRuntime", "FedSimTestSupport", "FedSimSecAgg", "FedSimAggregation", "FedSimModels", "FedSimPrivacy",
                           "FedSimReports", "FedSimFuzz", "FedSimMetrics"],
            swiftSettings: swiftSettings
        ),
    ]
)
