import Foundation
import Metrics

/// Everything `eddy serve` (or `eddy demo`) decides about the collector. Validated as a whole by
/// `problems()`, which lists every issue rather than the first.
public struct CollectorConfig: Sendable {
    public var dataDirectory: String
    public var host: String = "127.0.0.1"
    /// 0 picks a free port (tests); `CollectorServer.port()` tells which.
    public var port: Int = 4567
    public var shards: Int = 4
    public var streamName: String = "clickstream"
    /// Refuse writes (503) when the data directory's file system has less free space than this.
    public var minFreeBytes: Int64 = 256 << 20
    /// Peers whose X-Forwarded-For is believed (exact IP strings).
    public var trustedProxies: Set<String> = []
    /// Native and pixel bodies; also the cap on a gzip body once inflated.
    public var maxBodyBytes: Int = 5 << 20
    /// Kinesis/Firehose bodies: 5 MiB of data grows by a third in base64.
    public var maxAWSBodyBytes: Int = 8 << 20
    /// A request whose body has not fully arrived by then gets 408 and its connection closed.
    public var bodyReadTimeout: Duration = .seconds(10)
    /// Idle keep-alive connections are closed after this.
    public var idleTimeout: Duration = .seconds(60)
    /// Retry-After (seconds) on 503 and 429.
    public var retryAfterSeconds: Int = 1
    /// Per-shard write limits (Kinesis's 1 MiB/s, 1000 rec/s) when set; none by default.
    public var shardWriteLimits: ShardWriteLimits? = nil
    public var fsync: FsyncPolicy = .default
    /// Install SIGTERM/SIGINT handlers (off for tests and embedding that handles signals itself).
    public var handleSignals: Bool = true

    public init(dataDirectory: String) { self.dataDirectory = dataDirectory }

    public func problems() -> [String] {
        var p: [String] = []
        if dataDirectory.isEmpty { p.append("data directory is empty") }
        if !(0...65535).contains(port) { p.append("port \(port) is outside 0…65535") }
        if shards < 1 { p.append("--shards must be at least 1 (got \(shards))") }
        if minFreeBytes < 0 { p.append("--min-free-mb must not be negative") }
        if maxBodyBytes < 1024 { p.append("maximum body size \(maxBodyBytes) is too small") }
        return p
    }

    /// Parses `HOST:PORT` (IPv6 as `[::1]:4567`).
    public static func parseListen(_ s: String) -> (host: String, port: Int)? {
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { return nil }
            let host = String(s[s.index(after: s.startIndex)..<close])
            let rest = s[s.index(after: close)...]
            guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()) else { return nil }
            return (host, port)
        }
        guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]) else { return nil }
        let host = String(s[..<colon])
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    var streamConfig: StreamConfig {
        var c = StreamConfig(name: streamName, shardCount: shards, fsync: fsync)
        c.writeLimits = shardWriteLimits
        return c
    }
}

/// The seams `eddy demo` / `eddy serve` fill in: where snapshots, queries and flushes come from.
public struct CollectorHooks: Sendable {
    /// The node's latest snapshot for /v1/stats and /metrics. Nil: the collector serves its own
    /// counters and the stream's shard stats only.
    public var snapshot: (@Sendable () async -> NodeSnapshot?)?
    /// /v1/query: given the request body (`{"sql": "..."}`), returns status and JSON body.
    /// Nil: 501 "warehouse not built yet".
    public var query: (@Sendable (_ body: [UInt8]) async throws -> (status: Int, body: [UInt8]))?
    /// /v1/admin/flush: returns when earlier records are in lake objects and loaded; the string is
    /// a JSON body. Nil: 501.
    public var flush: (@Sendable () async throws -> [UInt8])?
    public init(snapshot: (@Sendable () async -> NodeSnapshot?)? = nil,
                query: (@Sendable (_ body: [UInt8]) async throws -> (status: Int, body: [UInt8]))? = nil,
                flush: (@Sendable () async throws -> [UInt8])? = nil) {
        self.snapshot = snapshot; self.query = query; self.flush = flush
    }
}
