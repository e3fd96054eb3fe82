// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for eddy's byte-level decoders. A separate package so the main build is
// untouched. It does not depend on the main package: building Hummingbird/SwiftNIO with
// -sanitize=fuzzer,address is slow and none of it is under test. Instead `PipelineCore`
// compiles, through symlinks, just the Sources/Pipeline files the decoders need (Events/,
// Stream/, and the Kinesis/ingest files of Collector/ — nothing that imports the HTTP server).
// The fuzz targets see its internal API (Frame, SegmentScanner, KinesisAPI's field decoders),
// exactly the code the server runs. See scripts/fuzz.sh.
let package = Package(
    name: "eddy-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        .target(name: "CEddy", path: "Sources/CEddy", cSettings: [.unsafeFlags(["-O2"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib"),
        .target(name: "Metrics", dependencies: [
            "CEddy",
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ], path: "Sources/Metrics"),
        // -enable-testing: the targets `@testable import` it to reach internal decoders.
        .target(name: "PipelineCore", dependencies: ["Metrics", "CEddy", "CZlib"],
                path: "Sources/PipelineCore", swiftSettings: [.unsafeFlags(["-enable-testing"])]),
        .executableTarget(name: "fuzz-events", dependencies: ["PipelineCore"], path: "Sources/fuzz-events"),
        .executableTarget(name: "fuzz-kinesis", dependencies: ["PipelineCore"], path: "Sources/fuzz-kinesis"),
        .executableTarget(name: "fuzz-frame", dependencies: ["PipelineCore"], path: "Sources/fuzz-frame"),
    ],
    swiftLanguageModes: [.v6]
)
