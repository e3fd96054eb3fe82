import ArgumentParser
import Foundation
import Logging
import Metrics
import Pipeline
import TUI

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an embedded node fed by the site simulator and open the dashboard (the default command).",
        discussion: """
        Starts a node in --data (stream with group-committed shards, live aggregates), feeds it from a
        simulator of --sites global sites at --rate events/s, and opens the terminal dashboard on it.
        The node's log goes to <data>/eddy.log while the dashboard owns the terminal. Press ? for keys, q to quit.
        """)
    @Option(help: "Data directory.") var data: String = "./eddy-data"
    @Option(help: "Number of simulated sites.") var sites: Int = 320
    @Option(help: "Simulated events per second.") var rate: Int = 20000
    @Option(help: "Number of stream shards (a new stream; an existing one keeps its shard map).") var shards: Int = 4
    @Option(help: "Theme name from themes/ (default, nord, solarized-16, mono).") var theme: String = "default"
    @Option(help: "Simulator seed (same seed, same traffic).") var seed: UInt64 = 1
    @Option(help: "Dashboard refresh interval in milliseconds.") var refresh: Int = 1000
    @Flag(help: "Draw with ASCII only.") var ascii = false
    @Flag(inversion: .prefixedNo, help: "Let the stream split hot shards (> 3 MB/s) and merge cold ones on its own.") var autoscale = true
    @Option(help: "Also serve the node's HTTP API here (write keys, /v1/stats for `eddy dash`); 'off' to skip.") var listen: String = "127.0.0.1:4567"
    @Option(name: .customLong("buffer-seconds"), help: "Delivery buffer interval: how often lake objects are written.") var bufferSeconds: Int = 15
    @Option(name: .customLong("geoip"), help: "MaxMind .mmdb database for IP → country in the lake (default: the event's own country).") var geoip: String?

    func validate() throws {
        if sites < 1 || sites > 100_000 { throw ValidationError("--sites must be 1…100000") }
        if rate < 0 || rate > 5_000_000 { throw ValidationError("--rate must be 0…5000000 events/s") }
        if shards < 1 || shards > 1024 { throw ValidationError("--shards must be 1…1024") }
        if refresh < 100 { throw ValidationError("--refresh must be at least 100 ms") }
    }

    func run() async throws {
        ProcessMemory.configureForLongRun()
        guard isatty(0) == 1, isatty(1) == 1 else {
            throw CLIError("eddy demo draws a dashboard and needs a terminal; for a headless node use `eddy serve --simulate RATE`")
        }
        let (node, log) = try startNode()
        defer { node.stop() }
        let server = try startServer(node: node, log: log)
        defer { if let server { Task { await server.shutdown() } } }
        try await Dashboard.run(
            source: SnapshotSourceFunction { node.publisher.latest },
            query: QueryServiceFunction { sql in
                let r = try await node.query(sql, rowLimit: 5_000)
                return QueryResult(columns: r.columns, rows: r.stringRows, elapsedMs: r.elapsedMs,
                                   bytesScanned: r.bytesScanned, priceUSD: r.priceUSD)
            },
            theme: theme,
            options: DashboardOptions(ascii: ascii, refreshMs: refresh, namedQueries: Self.dashboardQueries))
    }

    /// The HTTP API beside the dashboard, so `curl`, `eddy dash` and `eddy query --connect` work too.
    /// A port already in use is logged, not fatal: the dashboard does not need it.
    func startServer(node: EmbeddedNode, log: NodeLog) throws -> CollectorServer? {
        guard listen != "off", let (host, port) = CollectorConfig.parseListen(listen) else { return nil }
        var cfg = CollectorConfig(dataDirectory: data)
        cfg.host = host; cfg.port = port; cfg.handleSignals = false
        var logger = Logger(label: "eddy.demo") { _ in LogToFile(log: log) }
        logger.logLevel = .notice
        let server = try NodeServer.make(node: node, config: cfg, logger: logger)
        Task {
            do { try await server.run() } catch { log.write("demo: HTTP API not started on \(listen): \(error)") }
        }
        Task {
            if let p = try? await server.port() { log.write("demo: HTTP API on http://\(host):\(p) (admin token in \(data)/admin-token)") }
        }
        return server
    }

    /// One key away in the query pane: cross-site questions answered from rollups, plus a lake scan.
    static let dashboardQueries: [TUI.NamedQuery] = [
        TUI.NamedQuery(name: "top sites", sql: "SELECT site_id, sum(events) AS events, sum(pageviews) AS pageviews,\n       sum(purchases) AS purchases, round(sum(revenue), 2) AS revenue\nFROM rollup_minute\nGROUP BY site_id ORDER BY events DESC LIMIT 20"),
        TUI.NamedQuery(name: "channels", sql: "SELECT channel, sum(sessions) AS sessions,\n       round(100.0 * sum(bounces) / nullif(sum(sessions), 0), 1) AS bounce_pct\nFROM rollup_channel_day\nGROUP BY channel ORDER BY sessions DESC"),
        TUI.NamedQuery(name: "top pages", sql: "SELECT site_id, url_path, sum(pageviews) AS pageviews\nFROM rollup_page_hour\nGROUP BY site_id, url_path ORDER BY pageviews DESC LIMIT 20"),
        TUI.NamedQuery(name: "events by type", sql: "SELECT type, count(*) AS events\nFROM events\nGROUP BY type ORDER BY events DESC"),
        TUI.NamedQuery(name: "lake scan", sql: "SELECT site_id, count(*) AS events\nFROM lake_events\nGROUP BY site_id ORDER BY events DESC LIMIT 20"),
    ]

    func startNode() throws -> (EmbeddedNode, NodeLog) {
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let log = try NodeLog(path: data + "/eddy.log")
        var o = EmbeddedNode.Options()
        o.live.reserveSessions = true
        o.dataDirectory = data
        o.shards = shards
        o.simulatorRate = rate
        o.sites = sites
        o.seed = seed
        o.log = { log.write($0) }
        o.delivery?.intervalMs = Int64(bufferSeconds) * 1000
        if let geoip { o.delivery?.geoDatabasePath = geoip }
        if autoscale { o.autoScale = .demo(minShards: shards) }
        let node = try EmbeddedNode(options: o)
        try node.start()
        log.write("demo node started in \(data): \(sites) sites at \(rate) events/s, \(shards) shards")
        return (node, log)
    }
}

/// swift-log into the node's log file (the dashboard owns the terminal).
struct LogToFile: LogHandler {
    let log: NodeLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .notice
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        log.write("[\(level)] \(message)")
    }
}

/// A user-facing command error: printed as is, non-zero exit.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Appends timestamped lines to a log file (the node's log while the dashboard owns the terminal).
final class NodeLog: @unchecked Sendable {
    let handle: FileHandle
    let lock = NSLock()
    init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: path) else { throw CLIError("cannot open log file \(path)") }
        h.seekToEndOfFile()
        handle = h
    }
    func write(_ line: String) {
        let ts = ISO8601DateFormatter.string(from: Date(), timeZone: .gmt, formatOptions: [.withInternetDateTime])
        lock.lock(); handle.write(Data("\(ts) \(line)\n".utf8)); lock.unlock()
    }
}
