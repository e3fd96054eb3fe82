import Foundation

/// How lake objects are compressed. The file extension follows (`.ndjson.zst`, `.ndjson.gz`, `.ndjson`).
public enum LakeCompression: Sendable, Equatable {
    case zstd(level: Int32)
    case gzip(level: Int32)
    case none

    public var fileExtension: String {
        switch self {
        case .zstd: return ".ndjson.zst"
        case .gzip: return ".ndjson.gz"
        case .none: return ".ndjson"
        }
    }
    public var name: String {
        switch self {
        case .zstd(let l): return "zstd-\(l)"
        case .gzip(let l): return "gzip-\(l)"
        case .none: return "none"
        }
    }
}

/// The external transform (Firehose's Lambda stage): a command kept running as a child process,
/// speaking NDJSON over stdin/stdout (see docs/LAKE.md, "External transform").
public struct ExternalTransformConfig: Sendable, Equatable {
    /// argv; argv[0] is looked up in PATH.
    public var command: [String]
    /// Time the child has to answer every record of one batch.
    public var timeoutMs: Int
    /// Extra attempts after the first, each after a restart of the child.
    public var retries: Int
    /// Records per request batch.
    public var batchRecords: Int
    public init(command: [String], timeoutMs: Int = 5_000, retries: Int = 2, batchRecords: Int = 500) {
        self.command = command; self.timeoutMs = timeoutMs; self.retries = retries; self.batchRecords = batchRecords
    }
}

/// What a full memory budget does.
/// - `flushLargest` (default): write the largest buffers early, down to half the budget, and keep
///   reading. Objects come out smaller than the size hint under pressure, but delivery keeps up.
/// - `stopReading`: hold the consumer until a buffer reaches its size or age. Throughput is then
///   capped at budget ÷ interval (256 MB ÷ 60 s ≈ 4 MB/s: the soak's consumer fell behind at 15k
///   events/s this way), so it suits only small hints.
public enum WhenBuffersFull: String, Sendable { case flushLargest, stopReading }

/// One delivery stream: which stream it reads, where in the lake it writes, and how it buffers.
public struct DeliveryConfig: Sendable {
    /// Delivery name; also the consumer application (`lake-<name>`) and the object name prefix.
    public var name: String = "events"
    public var streamName: String = "clickstream"
    /// Lake prefix objects go under (no slashes at either end).
    public var prefix: String = "events"
    /// Firehose `SizeInMBs`: an object (one partition's records from one shard) is written once it
    /// holds this many uncompressed bytes.
    public var sizeHintBytes: Int = 5 << 20
    /// Firehose `IntervalInSeconds`: a buffer is written once its first record is this old.
    public var intervalMs: Int64 = 300_000
    public var compression: LakeCompression = .zstd(level: 1)
    /// At most this many partitions (sites) buffered at once; records for more go to
    /// `errors/partition-limit-exceeded/`.
    public var maxActivePartitions: Int = 500
    /// Total bytes all buffers of this delivery may hold; what happens at the bound is `whenFull`.
    public var maxBufferedBytes: Int = 256 << 20
    public var whenFull: WhenBuffersFull = .flushLargest
    /// Records read per shard per poll.
    public var pollRecordsPerShard: Int = 10_000
    public var pollBytesPerShard: Int = 8 << 20
    public var transform: ExternalTransformConfig? = nil
    /// Path to a MaxMind GeoIP2/GeoLite2 Country (or City) database, read with libmaxminddb: then
    /// geo_country comes from the client IP (before truncation), falling back to the event's own
    /// country when the database has no answer. Without one, geo_country is the event's country.
    public var geoDatabasePath: String? = nil
    /// Threads that parse + enrich shard batches and compress objects in parallel; 0 = one per
    /// core, at most 4. 1 keeps every CPU step on the delivery thread (object fsyncs still overlap).
    public var workers: Int = 0
    /// Idle sleep of the run loop when a poll returned nothing.
    public var idleSleepMs: Int = 50

    public init(name: String = "events", streamName: String = "clickstream", prefix: String? = nil) {
        self.name = name; self.streamName = streamName; self.prefix = prefix ?? name
    }

    public var consumerName: String { "lake-" + name }

    /// Every problem with this configuration, together.
    public func problems() -> [String] {
        var p: [String] = []
        func okName(_ s: String) -> Bool {
            !s.isEmpty && s.count <= 64 && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }
                && !s.hasPrefix(".")
        }
        if !okName(name) { p.append("delivery name '\(name)' must be 1–64 characters of [a-zA-Z0-9_.-], not starting with '.'") }
        if !okName(streamName) { p.append("delivery '\(name)': stream name '\(streamName)' must be 1–64 characters of [a-zA-Z0-9_.-]") }
        if let why = LakeKey.problem(prefix) { p.append("delivery '\(name)': prefix '\(prefix)' is not a valid lake key: \(why)") }
        else if prefix == "errors" || prefix.hasPrefix("errors/") || prefix.hasPrefix("_manifests") {
            p.append("delivery '\(name)': prefix '\(prefix)' is reserved (errors/, _manifests/)")
        }
        if sizeHintBytes < 1 << 20 || sizeHintBytes > 128 << 20 {
            p.append("delivery '\(name)': size hint \(sizeHintBytes) bytes must be 1–128 MiB (Firehose SizeInMBs)")
        }
        if intervalMs < 0 || intervalMs > 900_000 {
            p.append("delivery '\(name)': interval \(intervalMs) ms must be 0–900 s (Firehose IntervalInSeconds)")
        }
        switch compression {
        case .zstd(let l) where l < 1 || l > 19: p.append("delivery '\(name)': zstd level \(l) must be 1–19")
        case .gzip(let l) where l < 1 || l > 9: p.append("delivery '\(name)': gzip level \(l) must be 1–9")
        default: break
        }
        if workers < 0 || workers > 64 { p.append("delivery '\(name)': workers must be 0 (one per core) to 64") }
        if maxActivePartitions < 1 { p.append("delivery '\(name)': max active partitions must be at least 1") }
        if maxBufferedBytes < sizeHintBytes {
            p.append("delivery '\(name)': memory bound \(maxBufferedBytes) bytes is below the size hint \(sizeHintBytes)")
        }
        if pollRecordsPerShard < 1 || pollBytesPerShard < 4096 { p.append("delivery '\(name)': poll limits must be positive (bytes ≥ 4096)") }
        if let t = transform {
            if t.command.isEmpty || t.command[0].isEmpty { p.append("delivery '\(name)': transform command is empty") }
            if t.timeoutMs < 1 { p.append("delivery '\(name)': transform time limit must be positive") }
            if t.retries < 0 { p.append("delivery '\(name)': transform retries must be ≥ 0") }
            if t.batchRecords < 1 { p.append("delivery '\(name)': transform batch size must be ≥ 1") }
        }
        if let g = geoDatabasePath, !g.isEmpty, !FileManager.default.isReadableFile(atPath: g) {
            p.append("delivery '\(name)': geo database '\(g)' is not a readable file (a MaxMind .mmdb); leave it unset to use the event's country")
        }
        return p
    }
}

/// A configuration that `problems()` found wrong, with every problem listed.
public struct DeliveryConfigError: Error, CustomStringConvertible, Sendable {
    public var problems: [String]
    public var description: String { "invalid delivery configuration:\n  - " + problems.joined(separator: "\n  - ") }
}

/// Checks every delivery and the set as a whole (unique names and prefixes); throws all problems at once.
public func validateDeliveries(_ configs: [DeliveryConfig]) throws {
    var p = configs.flatMap { $0.problems() }
    var names = Set<String>(), prefixes = Set<String>()
    for c in configs {
        if !names.insert(c.name).inserted { p.append("delivery name '\(c.name)' is used twice") }
        if !prefixes.insert(c.prefix).inserted { p.append("lake prefix '\(c.prefix)' is used by two deliveries") }
    }
    if configs.isEmpty { p.append("no delivery configured") }
    if !p.isEmpty { throw DeliveryConfigError(problems: p) }
}
