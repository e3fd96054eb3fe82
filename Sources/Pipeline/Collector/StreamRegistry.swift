import Foundation

/// The streams a node serves, by name: the node's own stream plus any made by Kinesis
/// CreateStream, each a `ShardedStream` under `<data>/stream/<name>/`.
public final class StreamRegistry: @unchecked Sendable {
    public let dataDirectory: String
    public let defaultStreamName: String
    private let baseConfig: StreamConfig
    private let lock = NSLock()
    private var streams: [String: ShardedStream] = [:]
    private var createdAtMs: [String: Int64] = [:]

    /// Opens the default stream (created with `baseConfig.shardCount` shards when new) and every
    /// other stream found on disk.
    public init(dataDirectory: String, baseConfig: StreamConfig) throws {
        self.dataDirectory = dataDirectory
        self.defaultStreamName = baseConfig.name
        self.baseConfig = baseConfig
        let s = try ShardedStream(dataDirectory: dataDirectory, config: baseConfig)
        streams[baseConfig.name] = s
        let root = dataDirectory + "/stream"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where name != baseConfig.name {
            guard FileManager.default.fileExists(atPath: root + "/" + name + "/shards.json") else { continue }
            var c = baseConfig; c.name = name
            streams[name] = try ShardedStream(dataDirectory: dataDirectory, config: c)
        }
    }

    /// Wraps an already open stream (e.g. the one `eddy demo` built) as the default.
    public init(defaultStream: ShardedStream) {
        self.dataDirectory = defaultStream.dataDirectory
        self.defaultStreamName = defaultStream.name
        self.baseConfig = defaultStream.config
        streams[defaultStream.name] = defaultStream
    }

    public var defaultStream: ShardedStream { stream(named: defaultStreamName)! }

    public func stream(named name: String) -> ShardedStream? { lock.lock(); defer { lock.unlock() }; return streams[name] }

    public var names: [String] { lock.lock(); defer { lock.unlock() }; return streams.keys.sorted() }

    public func creationMs(_ name: String) -> Int64 {
        guard let s = stream(named: name) else { return 0 }
        return s.shardMap().shards.map(\.createdAtMs).min() ?? 0
    }

    /// CreateStream. Throws `.resourceInUse` when the name exists.
    @discardableResult
    public func create(name: String, shardCount: Int) throws -> ShardedStream {
        lock.lock(); defer { lock.unlock() }
        if streams[name] != nil || FileManager.default.fileExists(atPath: dataDirectory + "/stream/" + name + "/shards.json") {
            throw StreamError(.resourceInUse, "Stream \(name) under account 000000000000 already exists.")
        }
        var c = baseConfig; c.name = name; c.shardCount = shardCount; c.autoScale = nil
        let s = try ShardedStream(dataDirectory: dataDirectory, config: c)
        streams[name] = s
        return s
    }

    public func closeAll() {
        lock.lock(); let all = Array(streams.values); lock.unlock()
        for s in all { s.close() }
    }
}

/// Free space on the data directory's file system against the configured reserve. `statvfs` runs
/// at most every 250 ms (requests read the cached figure), so a busy collector pays one syscall
/// per quarter second, not one per request; falling below the reserve and recovering are both
/// seen within that time.
final class DiskGuard: @unchecked Sendable {
    let path: String
    let reserveBytes: Int64
    static let checkInterval = 0.25
    private let lock = NSLock()
    private var lastCheck: Double = -.infinity
    private var lastFree: Int64 = .max
    private var probe: @Sendable (String) -> Int64? = DiskGuard.statvfsFree

    /// Test seam: replaces `statvfs` (returns free bytes, or nil when the probe fails).
    func setProbe(_ p: @escaping @Sendable (String) -> Int64?) { lock.lock(); probe = p; lastCheck = -.infinity; lock.unlock() }

    init(path: String, reserveBytes: Int64) { self.path = path; self.reserveBytes = reserveBytes }

    static func statvfsFree(_ path: String) -> Int64? {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return nil }
        return Int64(st.f_bavail) * Int64(st.f_frsize)
    }

    var freeBytes: Int64 {
        lock.lock(); defer { lock.unlock() }
        let now = ProcessInfo.processInfo.systemUptime
        if now - lastCheck >= Self.checkInterval {
            // A failed probe keeps the last figure rather than refusing writes on a guess.
            if let f = probe(path) { lastFree = f }
            lastCheck = now
        }
        return lastFree
    }

    var aboveReserve: Bool { reserveBytes <= 0 || freeBytes >= reserveBytes }
}
