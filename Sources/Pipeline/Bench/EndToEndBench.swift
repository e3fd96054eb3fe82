import Foundation
import Logging

/// "e2e": the whole node as `eddy serve` runs it — HTTP collector → sharded stream (fsync'd acks)
/// → live aggregates, delivery to zstd lake objects, warehouse load — driven at full speed by
/// `eddy loadgen`, measured until `flush()` says every acknowledged event is loaded. The rate is
/// events (and request MB) divided by the time from the first request to the end of that flush,
/// so no stage can hide a backlog. Anchor: the collector alone (HTTP → stream, nothing reading
/// it) in the same run, showing what the downstream stages cost. The closing figure is how many
/// nodes of this machine's size carry 30 TB/day (≈ 347 MB/s).
public struct EndToEndBench: BenchmarkCase {
    public let name = "e2e"
    public init() {}

    /// 30 TB/day in bytes per second.
    public static let thirtyTBPerDay = 30e12 / 86_400

    public func run(quick: Bool, progress: @Sendable (String) -> Void) async throws -> [BenchFigure] {
        let seconds: Double = quick ? 5 : 15
        let runs = quick ? 1 : 3
        let base = NSTemporaryDirectory() + "eddy-e2e-bench-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }

        var full: [Run] = []
        var alone: [Run] = []
        for i in 0..<runs {
            let a = try await collectorOnly(dir: "\(base)/alone-\(i)", seconds: seconds)
            progress("collector alone, run \(i + 1): \(a.summary)")
            alone.append(a)
            let f = try await wholeNode(dir: "\(base)/node-\(i)", seconds: seconds)
            progress("whole node, run \(i + 1): \(f.summary)")
            full.append(f)
        }
        let mbps = BenchSupport.median(full.map(\.mbPerSec))
        let evps = BenchSupport.median(full.map(\.eventsPerSec))
        let nodes = (Self.thirtyTBPerDay / 1e6 / max(mbps, 0.001)).rounded(.up)
        let note = "\(runs) runs of \(Int(seconds)) s load + flush; 4 shards, 4 connections, 500-event batches; " +
            "loaded rows = acked events in every run"
        return [
            BenchFigure(name: "end to end events/s (collector → stream → lake → warehouse, live on)", value: evps, unit: "ev/s",
                        anchorName: "collector alone (HTTP → stream)", anchorValue: BenchSupport.median(alone.map(\.eventsPerSec)),
                        goal: "ratio shows what delivery + warehouse cost", note: note),
            BenchFigure(name: "end to end MB/s of request bodies", value: mbps, unit: "MB/s",
                        anchorName: "collector alone (HTTP → stream)", anchorValue: BenchSupport.median(alone.map(\.mbPerSec))),
            BenchFigure(name: "flush after load (lake + warehouse catch-up)", value: BenchSupport.median(full.map(\.flushSeconds)) * 1000,
                        unit: "ms", higherIsBetter: false, note: "part of the end-to-end time above"),
            BenchFigure(name: "nodes of this size for 30 TB/day (347 MB/s)", value: nodes, unit: "nodes", higherIsBetter: false,
                        note: String(format: "347 MB/s ÷ %.1f MB/s end to end, rounded up; one node = this machine", mbps)),
        ]
    }

    struct Run {
        var events: Int
        var bytes: Int
        var loadSeconds: Double
        var flushSeconds: Double
        var seconds: Double { loadSeconds + flushSeconds }
        var eventsPerSec: Double { Double(events) / max(seconds, 1e-9) }
        var mbPerSec: Double { Double(bytes) / 1e6 / max(seconds, 1e-9) }
        var summary: String {
            String(format: "%d events, %.1f MB in %.1f s load + %.1f s flush → %.0f ev/s, %.1f MB/s",
                   events, Double(bytes) / 1e6, loadSeconds, flushSeconds, eventsPerSec, mbPerSec)
        }
    }

    func keys(_ dir: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var keys = KeyFile()
        let relay = keys.createRelayKey(nowMs: 0).key
        try keys.save(dataDirectory: dir)
        return relay
    }

    func config(_ dir: String) -> CollectorConfig {
        var cfg = CollectorConfig(dataDirectory: dir)
        cfg.port = 0; cfg.shards = 4; cfg.minFreeBytes = 0; cfg.handleSignals = false
        return cfg
    }

    func drive(port: Int, key: String, seconds: Double) async throws -> LoadGenResult {
        var c = LoadGenConfig(host: "127.0.0.1", port: port)
        c.durationSeconds = seconds; c.connections = 4; c.batch = 500; c.key = key; c.fresh = true
        let g = LoadGenerator(config: c)
        let r = try await IngestBench.onThread { try g.run() }
        if !r.errorsByCode.isEmpty { throw BenchError("loadgen saw errors: \(r.errorsByCode)") }
        return r
    }

    var logger: Logger { var l = Logger(label: "eddy.bench"); l.logLevel = .error; return l }

    func collectorOnly(dir: String, seconds: Double) async throws -> Run {
        let key = try keys(dir)
        let server = try CollectorServer(config: config(dir), credentials: Credentials.load(dataDirectory: dir,
                                         environment: ["EDDY_ADMIN_TOKEN": "bench"]), logger: logger)
        let task = Task { try await server.run() }
        let r = try await drive(port: try await server.port(), key: key, seconds: seconds)
        await server.shutdown()
        _ = try? await task.value
        return Run(events: r.events, bytes: r.bytes, loadSeconds: r.seconds, flushSeconds: 0)
    }

    func wholeNode(dir: String, seconds: Double) async throws -> Run {
        let key = try keys(dir)
        var o = EmbeddedNode.Options()
        o.dataDirectory = dir; o.shards = 4; o.simulatorRate = 0; o.mode = "serve"
        o.log = { FileHandle.standardError.write(Data(("  node: " + $0 + "\n").utf8)) }
        let node = try EmbeddedNode(options: o)
        let server = try NodeServer.make(node: node, config: config(dir), logger: logger)
        try node.start()
        let task = Task { try await server.run() }
        let port = try await server.port()
        let r = try await drive(port: port, key: key, seconds: seconds)
        let t0 = BenchSupport.now()
        _ = try await node.flush()
        let flushSeconds = BenchSupport.now() - t0
        // The figure only counts if every acknowledged event reached the warehouse exactly once.
        let q = try await node.query("SELECT count(*) FROM events")
        let loaded: Int64 = if case .integer(let n)? = q.rows.first?.first { n } else { -1 }
        await server.shutdown()
        _ = try? await task.value
        node.stop()
        guard loaded == Int64(r.events) else {
            throw BenchError("warehouse holds \(loaded) events but \(r.events) were acknowledged")
        }
        return Run(events: r.events, bytes: r.bytes, loadSeconds: r.seconds, flushSeconds: flushSeconds)
    }
}
