// swift-tools-version:6.0
import PackageDescription

// Module map (who imports whom) is in docs/ARCHITECTURE.md:
// Metrics stands alone; Pipeline imports Metrics; TUI imports Metrics and, only through protocols,
// Pipeline; the `eddy` executable wires everything together.
let package = Package(
    name: "eddy",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "eddy", targets: ["eddy"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // Collector HTTP server (Hummingbird 2 on SwiftNIO) and its logging.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // System-library shims. `make setup` installs the Debian -dev packages they need.
        .systemLibrary(name: "CNcurses", path: "Sources/CNcurses", pkgConfig: "ncursesw",
                       providers: [.apt(["libncursesw5-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMaxMind", path: "Sources/CMaxMind", pkgConfig: "libmaxminddb",
                       providers: [.apt(["libmaxminddb-dev"])]),
        // Small C kernels for the hot path (CRC32C, MD5) where Swift cannot reach the hardware.
        .target(name: "CEddy", path: "Sources/CEddy",
                cSettings: [.unsafeFlags(["-O3"])]),

        .target(name: "Metrics", dependencies: [
            "CEddy",
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ], path: "Sources/Metrics"),
        .target(name: "Pipeline", dependencies: [
            "Metrics", "CEddy", "CSQLite", "CZstd", "CZlib", "CMaxMind",
            .product(name: "Hummingbird", package: "hummingbird", moduleAliases: ["Metrics": "SwiftMetrics"]),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], path: "Sources/Pipeline",
                exclude: ["Stream/README.md", "Collector/README.md"]),
        .target(name: "TUI", dependencies: ["Metrics", "CNcurses"], path: "Sources/TUI"),
        .executableTarget(name: "eddy", dependencies: [
            "Metrics", "Pipeline", "TUI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/eddy"),

        .testTarget(name: "MetricsTests", dependencies: ["Metrics"], path: "Tests/MetricsTests"),
        .testTarget(name: "PipelineTests", dependencies: [
            "Pipeline", "Metrics",
            .product(name: "Hummingbird", package: "hummingbird", moduleAliases: ["Metrics": "SwiftMetrics"]),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/PipelineTests"),
        .testTarget(name: "TUITests", dependencies: ["TUI", "Metrics"], path: "Tests/TUITests",
                    exclude: ["Golden", "e2e-tmux.sh"]),
    ],
    swiftLanguageModes: [.v6]
)
