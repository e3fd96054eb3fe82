import ArgumentParser
import Foundation
import Logging
import Metrics
import Pipeline

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a headless node: HTTP collector, stream, delivery, warehouse, live aggregates.",
        discussion: """
        Listens on loopback unless told otherwise. Write keys (`eddy keys`) guard /v1/events; SigV4 access
        keys guard the Kinesis and Firehose APIs; the admin token (EDDY_ADMIN_TOKEN or <data>/admin-token)
        guards /v1/stats, /v1/query and /v1/admin/flush. SIGTERM/SIGINT stop it gracefully: stop accepting,
        finish in-flight requests, flush nothing half-written, checkpoint, close.
        """)
    @Option(help: "Data directory.") var data: String = "./eddy-data"
    @Option(help: "Address to listen on (HOST:PORT; port 0 picks a free one).") var listen: String = "127.0.0.1:4567"
    @Option(help: "Shards of a new stream.") var shards: Int = 4
    @Option(name: .customLong("min-free-mb"), help: "Free disk to keep, MiB: below it writes get 503 insufficient_storage and /readyz 503 (checked every 250 ms; 0 = off).") var minFreeMB: Int = 256
    @Option(name: .customLong("trusted-proxy"), help: "Peer IP whose X-Forwarded-For is believed (repeatable).") var trustedProxies: [String] = []
    @Option(name: .customLong("read-timeout"), help: "Seconds a client has to send a request body.") var readTimeout: Int = 10
    @Option(name: .customLong("port-file"), help: "Write the listening port here once bound (scripts).") var portFile: String?
    @Option(help: "Configuration file (TOML).") var config: String?
    @Option(help: "Also feed the node from the built-in simulator at this many events/s (through the HTTP ingest path).") var simulate: Int?
    @Option(name: .customLong("buffer-mb"), help: "Delivery size hint per object (a partition's records from one shard), MiB (Firehose SizeInMBs).") var bufferMB: Int = 5
    @Option(name: .customLong("buffer-seconds"), help: "Delivery buffer interval hint, seconds (Firehose IntervalInSeconds).") var bufferSeconds: Int = 60
    @Option(name: .customLong("geoip"), help: "MaxMind .mmdb database for IP → country in the lake (default: the event's own country).") var geoip: String?
    @Flag(inversion: .prefixedNo, help: "Split hot shards and merge cold ones automatically.") var autoscale = true
    @Option(name: .customLong("live-sessions"), help: "Open sessions the live aggregates track at most (the least recently active beyond it close early); their table is reserved at start, 64 bytes per session.") var liveSessions: Int = 2_000_000

    func run() async throws {
        ProcessMemory.configureForLongRun()
        if config != nil { throw ValidationError("--config is not supported yet; use the flags") }
        guard let (host, port) = CollectorConfig.parseListen(listen) else { throw ValidationError("--listen must be HOST:PORT, got '\(listen)'") }
        guard (1_000...100_000_000).contains(liveSessions) else { throw ValidationError("--live-sessions must be 1000…100000000") }
        guard (1...128).contains(bufferMB), (0...900).contains(bufferSeconds) else {
            throw ValidationError("--buffer-mb must be 1…128 and --buffer-seconds 0…900 (Firehose's ranges)")
        }
        var cfg = CollectorConfig(dataDirectory: data)
        cfg.host = host; cfg.port = port; cfg.shards = shards
        cfg.minFreeBytes = Int64(minFreeMB) << 20
        cfg.trustedProxies = Set(trustedProxies)
        cfg.bodyReadTimeout = .seconds(readTimeout)
        let problems = cfg.problems()
        if !problems.isEmpty { throw ValidationError(problems.joined(separator: "\n")) }
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)

        var logger = Logger(label: "eddy")
        logger.logLevel = .info
        let log = logger
        var o = EmbeddedNode.Options()
        o.dataDirectory = data
        o.shards = shards
        o.simulatorRate = 0
        o.mode = "serve"
        o.live.maxSessions = liveSessions
        o.live.reserveSessions = true
        o.delivery?.sizeHintBytes = bufferMB << 20
        o.delivery?.intervalMs = Int64(bufferSeconds) * 1000
        if let geoip { o.delivery?.geoDatabasePath = geoip }
        if autoscale { o.autoScale = .demo(minShards: shards) }
        o.log = { log.warning("\($0)") }
        let node = try EmbeddedNode(options: o)
        let server = try NodeServer.make(node: node, config: cfg, logger: logger)
        try node.start()
        defer { node.stop() }
        let pf = portFile
        let sim = simulate
        try await withThrowingTaskGroup(of: Void.self) { g in
            g.addTask { try await server.run() }
            g.addTask {
                let p = try await server.port()
                log.info("eddy serve: listening on \(host):\(p), data in \(data)")
                if let pf { try "\(p)\n".write(toFile: pf, atomically: true, encoding: .utf8) }
                if let rate = sim, rate > 0 { await server.simulate(rate: rate) }
            }
            // The port task ends early; the server task ends at SIGTERM/SIGINT; the simulator stops with it.
            try await g.waitForAll()
        }
        log.info("eddy serve: stopping the node (checkpoints, delivery, warehouse)")
    }
}

extension AutoScaleConfig {
    /// Thresholds for eddy's own nodes: split a shard above 3 MB/s sustained for 5 s, merge
    /// neighbours below 0.3 MB/s, never fewer than the configured shards nor more than 16.
    static func demo(minShards: Int) -> AutoScaleConfig {
        AutoScaleConfig(splitBytesPerSec: 3_000_000, mergeBytesPerSec: 300_000, sustainTicks: 5,
                        coldTicks: 30, cooldownTicks: 20, minShards: minShards, maxShards: max(minShards, 16))
    }
}
