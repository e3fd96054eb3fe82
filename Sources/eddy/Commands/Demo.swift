import ArgumentParser
import Foundation
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

    func validate() throws {
        if sites < 1 || sites > 100_000 { throw ValidationError("--sites must be 1…100000") }
        if rate < 0 || rate > 5_000_000 { throw ValidationError("--rate must be 0…5000000 events/s") }
        if shards < 1 || shards > 1024 { throw ValidationError("--shards must be 1…1024") }
        if refresh < 100 { throw ValidationError("--refresh must be at least 100 ms") }
    }

    func run() async throws {
        guard isatty(0) == 1, isatty(1) == 1 else {
            throw CLIError("eddy demo draws a dashboard and needs a terminal; for a headless node use `eddy serve --simulate RATE`")
        }
        let node = try startNode()
        defer { node.stop() }
        try await Dashboard.run(
            source: SnapshotSourceFunction { node.publisher.latest },
            query: nil, theme: theme,
            options: DashboardOptions(ascii: ascii, refreshMs: refresh))
    }

    func startNode() throws -> EmbeddedNode {
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let log = try NodeLog(path: data + "/eddy.log")
        var o = EmbeddedNode.Options()
        o.dataDirectory = data
        o.shards = shards
        o.simulatorRate = rate
        o.sites = sites
        o.seed = seed
        o.log = { log.write($0) }
        if autoscale {
            o.autoScale = AutoScaleConfig(splitBytesPerSec: 3_000_000, mergeBytesPerSec: 300_000, sustainTicks: 5,
                                          coldTicks: 30, cooldownTicks: 20, minShards: shards, maxShards: max(shards, 16))
        }
        let node = try EmbeddedNode(options: o)
        try node.start()
        log.write("demo node started in \(data): \(sites) sites at \(rate) events/s, \(shards) shards")
        return node
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
