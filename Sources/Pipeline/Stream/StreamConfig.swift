import Foundation

/// When an append's bytes reach the disk before its ack.
public enum FsyncPolicy: Sendable, Equatable, CustomStringConvertible {
    /// One fsync shared by every append that arrived while the previous one ran, after waiting up
    /// to `windowMs` for company. Acks only after the fsync (the default).
    case group(windowMs: Int)
    /// Each append call fsyncs the files it wrote before it returns.
    case always
    /// Never fsync: acks once the bytes are in the page cache. Readers see records at once.
    case never

    /// Window 0: natural batching (appends arriving during one fsync form the next group) measured
    /// best on this class of disk; a window only pays off where an fsync is nearly free.
    public static let `default` = FsyncPolicy.group(windowMs: 0)

    public var description: String {
        switch self {
        case .group(let w): return "group(\(w)ms)"
        case .always: return "always"
        case .never: return "never"
        }
    }
}

/// AWS-style provisioned per-shard write limits; exceeding them fails the record with
/// `.throughputExceeded` (ProvisionedThroughputExceededException).
public struct ShardWriteLimits: Sendable, Equatable {
    public var recordsPerSec: Int
    public var bytesPerSec: Int
    public init(recordsPerSec: Int = 1000, bytesPerSec: Int = 1 << 20) {
        self.recordsPerSec = recordsPerSec; self.bytesPerSec = bytesPerSec
    }
}

/// On-demand scaling. A shard whose write rate stays above `splitBytesPerSec` (or
/// `splitRecordsPerSec`) for `sustainTicks` consecutive ticks is split at the middle of its hash
/// range; two adjacent shards whose combined rate stays below `mergeBytesPerSec` for `coldTicks`
/// ticks are merged. After any change a shard rests `cooldownTicks` ticks. The gap between the
/// split and merge thresholds plus the tick counts is the hysteresis that stops flapping.
public struct AutoScaleConfig: Sendable, Equatable {
    public var splitBytesPerSec: Double
    public var splitRecordsPerSec: Double
    public var mergeBytesPerSec: Double
    public var sustainTicks: Int
    public var coldTicks: Int
    public var cooldownTicks: Int
    public var minShards: Int
    public var maxShards: Int
    public init(splitBytesPerSec: Double = 500_000, splitRecordsPerSec: Double = .infinity,
                mergeBytesPerSec: Double = 50_000, sustainTicks: Int = 3, coldTicks: Int = 30,
                cooldownTicks: Int = 10, minShards: Int = 1, maxShards: Int = 64) {
        self.splitBytesPerSec = splitBytesPerSec; self.splitRecordsPerSec = splitRecordsPerSec
        self.mergeBytesPerSec = mergeBytesPerSec; self.sustainTicks = sustainTicks; self.coldTicks = coldTicks
        self.cooldownTicks = cooldownTicks; self.minShards = minShards; self.maxShards = maxShards
    }
}

public struct StreamConfig: Sendable {
    public var name: String
    /// Shards of a new stream; an existing stream keeps its shard map.
    public var shardCount: Int
    public var fsync: FsyncPolicy
    /// A segment rolls once it holds at least this many bytes.
    public var segmentBytes: Int64
    /// One sparse-index entry per this many bytes of frames.
    public var indexIntervalBytes: Int
    public var retentionMs: Int64
    /// Total bytes across all shards' segments; nil = no size limit.
    public var retentionBytes: Int64?
    public var writeLimits: ShardWriteLimits?
    public var autoScale: AutoScaleConfig?
    /// Where recovery and resharding log what they did (stderr by default).
    public var log: @Sendable (String) -> Void

    public init(name: String = "clickstream", shardCount: Int = 4, fsync: FsyncPolicy = .default,
                segmentBytes: Int64 = 64 << 20, indexIntervalBytes: Int = 16 << 10,
                retentionMs: Int64 = 24 * 3600 * 1000, retentionBytes: Int64? = nil,
                writeLimits: ShardWriteLimits? = nil, autoScale: AutoScaleConfig? = nil,
                log: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(("eddy stream: " + $0 + "\n").utf8)) }) {
        self.name = name; self.shardCount = shardCount; self.fsync = fsync; self.segmentBytes = segmentBytes
        self.indexIntervalBytes = indexIntervalBytes; self.retentionMs = retentionMs
        self.retentionBytes = retentionBytes; self.writeLimits = writeLimits; self.autoScale = autoScale
        self.log = log
    }

    /// Every problem with the configuration, together.
    public func problems() -> [String] {
        var p: [String] = []
        if name.isEmpty || name.count > 128 || !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }) {
            p.append("stream name '\(name)' must be 1–128 characters of [a-zA-Z0-9_.-]")
        }
        if shardCount < 1 || shardCount > 10_000 { p.append("shard count \(shardCount) must be 1…10000") }
        if segmentBytes < 4096 { p.append("segment size \(segmentBytes) must be at least 4096 bytes") }
        if indexIntervalBytes < 1 { p.append("index interval must be positive") }
        if retentionMs < 1 { p.append("retention must be positive") }
        if case .group(let w) = fsync, w < 0 || w > 10_000 { p.append("group commit window \(w) ms must be 0…10000") }
        return p
    }
}

/// Where "now" comes from, so tests drive retention, rates and iterator expiry by hand.
public protocol StreamClock: Sendable {
    func nowMs() -> Int64
}

public struct SystemClock: StreamClock {
    public init() {}
    public func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

public final class ManualClock: StreamClock, @unchecked Sendable {
    private let lock = NSLock()
    private var ms: Int64
    public init(nowMs: Int64 = 1_700_000_000_000) { self.ms = nowMs }
    public func nowMs() -> Int64 { lock.lock(); defer { lock.unlock() }; return ms }
    public func advance(byMs d: Int64) { lock.lock(); ms += d; lock.unlock() }
    public func set(_ v: Int64) { lock.lock(); ms = v; lock.unlock() }
}
