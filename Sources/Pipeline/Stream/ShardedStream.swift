import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One segment file of a shard, as kept in memory. The sparse index is rebuilt by the scan at open.
struct Segment {
    var baseOffset: UInt64
    var nextOffset: UInt64
    var size: Int64
    var firstArrivalMs: Int64
    var lastArrivalMs: Int64
    var index: [IndexEntry]
    var lastIndexedPosition: Int64
    var file: SegmentFile

    var isEmpty: Bool { nextOffset == baseOffset }
}

/// Live state of one shard. Guarded by the stream's lock.
final class Shard {
    var desc: ShardDescriptor
    let dir: String
    var segments: [Segment] = []
    /// Next offset to assign (written, maybe not yet durable).
    var nextOffset: UInt64 = 0
    /// Records below this offset are durable and visible to readers.
    var durableOffset: UInt64 = 0
    var lastArrivalMs: Int64 = 0
    var durableArrivalMs: Int64 = 0

    // scratch of the append in progress
    var touched = false
    var buf: [UInt8] = []
    var pendingIndex: [IndexEntry] = []
    var batchFirstOffset: UInt64 = 0
    var batchPrevArrival: Int64 = 0

    // counters and rates
    var recordsTotal: UInt64 = 0
    var bytesTotal: UInt64 = 0
    var throttles: Int64 = 0
    var tickRecords: UInt64 = 0
    var tickBytes: UInt64 = 0
    var recordsPerSec: Double = 0
    var bytesPerSec: Double = 0
    var hot = false
    /// About 1 in 8 records' hash keys since the last tick (at most 512): where a split balances load.
    var keySample: [HashKey] = []
    var limitWindowSec: Int64 = -1
    var limitRecords = 0
    var limitBytes = 0

    init(desc: ShardDescriptor, dir: String) { self.desc = desc; self.dir = dir }

    var trimHorizon: UInt64 { segments.first?.baseOffset ?? nextOffset }
    var sizeBytes: Int64 { segments.reduce(0) { $0 + $1.size } }
    var isOpen: Bool { desc.state == .open }
}

/// What recovery at open removed from a torn or corrupted segment.
public struct RecoveryReport: Sendable, Equatable, CustomStringConvertible {
    public var shardId: String
    public var segment: String
    public var reason: String
    public var droppedBytes: Int64
    public var droppedRecords: UInt64
    public var keptRecords: UInt64
    public var description: String {
        "\(shardId): truncated \(segment) — \(reason); dropped \(droppedBytes) bytes, \(droppedRecords) record(s); kept \(keptRecords)"
    }
}

/// The sharded durable stream (Kinesis Data Streams analogue). One instance owns
/// `<data>/stream/<name>/` and `<data>/consumers/`. See Stream/README.md for the design.
public final class ShardedStream: @unchecked Sendable {
    public let config: StreamConfig
    public let dataDirectory: String
    public let root: String
    let consumersRoot: String
    let clock: any StreamClock

    /// Guards everything below; the committer thread waits on it.
    let cond = NSCondition()
    var map: ShardMap
    var shards: [Shard] = []
    var routing: [(start: HashKey, end: HashKey, shard: Int)] = []
    var writeEpoch: UInt64 = 0
    var durableEpoch: UInt64 = 0
    /// Highest write epoch some commit (finished or in flight) has taken a snapshot of.
    var snapshotEpoch: UInt64 = 0
    var waiters: [(ticket: UInt64, cont: CheckedContinuation<Void, any Error>)] = []
    var failure: StreamError?
    var stopping = false
    var committersRunning = 0
    /// Test seam: called before every group-commit fsync with the segment path; a throw is
    /// treated as that fsync failing.
    var fsyncFaultInjector: (@Sendable (String) throws -> Void)?

    func setFsyncFaultInjector(_ f: (@Sendable (String) throws -> Void)?) {
        cond.lock(); fsyncFaultInjector = f; cond.unlock()
    }
    var consumers: [String: ConsumerState] = [:]
    var scaler = AutoScaler()
    var lastTickMs: Int64
    public private(set) var recoveryReports: [RecoveryReport] = []
    var splitsTotal: Int64 = 0
    var mergesTotal: Int64 = 0
    var retentionDeletedSegments: Int64 = 0

    /// Opens (or creates) the stream under `dataDirectory`, recovering every shard's log.
    public init(dataDirectory: String, config: StreamConfig = StreamConfig(), clock: any StreamClock = SystemClock()) throws {
        let problems = config.problems()
        if !problems.isEmpty { throw StreamError(.invalidArgument, "invalid stream configuration: " + problems.joined(separator: "; ")) }
        self.config = config
        self.dataDirectory = dataDirectory
        self.root = dataDirectory + "/stream/" + config.name
        self.consumersRoot = dataDirectory + "/consumers"
        self.clock = clock
        self.lastTickMs = clock.nowMs()
        try FileIO.makeDirectory(root)
        let mapPath = root + "/shards.json"
        if FileIO.exists(mapPath) {
            map = try ShardMap.load(path: mapPath)
        } else {
            map = ShardMap.create(name: config.name, shardCount: config.shardCount, nowMs: clock.nowMs())
            try FileIO.atomicReplace(mapPath, with: try map.encoded())
        }
        let mp = map.problems()
        if !mp.isEmpty { throw StreamError(.corrupt, "shard map is inconsistent: " + mp.joined(separator: "; "), path: mapPath) }
        for d in map.shards.sorted(by: { $0.index < $1.index }) {
            guard d.index == shards.count else {
                throw StreamError(.corrupt, "shard map skips index \(shards.count)", path: mapPath)
            }
            shards.append(try openShard(d))
        }
        rebuildRouting()
        try loadConsumers()
        if case .group = config.fsync { startCommitter() }
    }

    deinit {}

    /// Stops the committer after syncing what was written. Appends after close fail with `.closed`.
    public func close() {
        cond.lock()
        if failure == nil { failure = StreamError(.closed, "stream \(config.name) is closed") }
        stopping = true
        cond.broadcast()
        while committersRunning > 0 { cond.wait() }
        for s in shards where s.isOpen { if let f = s.segments.last?.file { _ = try? FileIO.fdatasyncOrThrow(f.fd, path: f.path) } }
        let left = waiters; waiters = []
        cond.unlock()
        for w in left { w.cont.resume(throwing: StreamError(.closed, "stream closed before the append was durable")) }
    }

    // MARK: open and recovery

    static func segmentName(_ base: UInt64) -> String {
        let s = String(base)
        return String(repeating: "0", count: 20 - s.count) + s + ".log"
    }

    private func openShard(_ d: ShardDescriptor) throws -> Shard {
        let dir = root + "/" + d.shardId
        try FileIO.makeDirectory(dir)
        let s = Shard(desc: d, dir: dir)
        var bases: [UInt64] = []
        for name in FileIO.listDirectory(dir) where name.hasSuffix(".log") && name.count == 24 {
            if let b = UInt64(name.prefix(20)) { bases.append(b) }
        }
        bases.sort()
        var expected: UInt64? = nil
        var cut = false
        for b in bases {
            let path = dir + "/" + Self.segmentName(b)
            if cut {
                // Everything after a truncation point is unreachable: drop it, and say so.
                let bytes = (try? FileIO.readWholeFile(path)) ?? []
                let sc = SegmentScanner.scan(bytes, baseOffset: b, verify: true, indexInterval: config.indexIntervalBytes)
                unlink(path)
                unlink(SegmentIndexFile.path(forSegment: path))
                let r = RecoveryReport(shardId: d.shardId, segment: path, reason: "follows a truncated segment",
                                       droppedBytes: Int64(bytes.count), droppedRecords: sc.records + sc.trailingFrames, keptRecords: 0)
                recoveryReports.append(r); config.log("recovery: " + r.description)
                continue
            }
            if let e = expected, e != b {
                throw StreamError(.corrupt, "\(d.shardId): segment \(Self.segmentName(b)) starts at \(b) but the previous one ends at \(e); a segment file is missing", path: path)
            }
            let fd = try FileIO.openFile(path, create: false)
            let file = SegmentFile(fd: fd, path: path)
            // Sealed segments (all but the last) may be described by their index file; the last
            // one, where a crash can tear a frame, is always scanned.
            let isLast = b == bases.last
            let sc: SegmentScan
            if !isLast, let cached = SegmentIndexFile.read(segmentPath: path, baseOffset: b,
                                                            fileSize: try FileIO.fileSize(fd, path: path)) {
                sc = cached
            } else {
                let bytes = try FileIO.readWholeFile(path)
                sc = SegmentScanner.scan(bytes, baseOffset: b, verify: true, indexInterval: config.indexIntervalBytes)
                if !isLast && sc.problem == nil {
                    SegmentIndexFile.write(Segment(baseOffset: b, nextOffset: b + sc.records, size: sc.validBytes,
                                                   firstArrivalMs: sc.firstArrivalMs, lastArrivalMs: sc.lastArrivalMs,
                                                   index: sc.index, lastIndexedPosition: 0, file: file))
                }
            }
            if let problem = sc.problem {
                unlink(SegmentIndexFile.path(forSegment: path))
                try FileIO.truncate(fd, to: sc.validBytes, path: path)
                try FileIO.fdatasyncOrThrow(fd, path: path)
                let r = RecoveryReport(shardId: d.shardId, segment: path, reason: problem, droppedBytes: sc.droppedBytes,
                                       droppedRecords: sc.trailingFrames, keptRecords: sc.records)
                recoveryReports.append(r); config.log("recovery: " + r.description)
                cut = true
            }
            // Only the last segment keeps its descriptor: it is the one appends go to.
            s.segments.append(Segment(baseOffset: b, nextOffset: b + sc.records, size: sc.validBytes,
                                      firstArrivalMs: sc.firstArrivalMs, lastArrivalMs: sc.lastArrivalMs, index: sc.index,
                                      lastIndexedPosition: sc.index.last?.position ?? -Int64(config.indexIntervalBytes),
                                      file: isLast ? file : SegmentFile(sealedAt: path)))
            expected = b + sc.records
            if sc.records > 0 { s.lastArrivalMs = sc.lastArrivalMs }
        }
        if let last = s.segments.last, !last.file.isOpen {
            // The file scanned as last was dropped (it followed a torn segment): the new last
            // segment is where appends go, so it needs its descriptor back.
            let fd = try FileIO.openFile(last.file.path, create: false)
            s.segments[s.segments.count - 1].file = SegmentFile(fd: fd, path: last.file.path)
        }
        if let last = s.segments.last {
            s.nextOffset = last.nextOffset
        } else {
            // No files: a new shard, or a closed one whose data retention removed entirely.
            s.nextOffset = d.endingOffset ?? 0
            if d.state == .open { try createSegment(s, base: s.nextOffset) }
        }
        s.durableOffset = s.nextOffset
        s.durableArrivalMs = s.lastArrivalMs
        if let end = d.endingOffset, s.nextOffset != end {
            config.log("\(d.shardId) is CLOSED at offset \(end) but its log holds \(s.nextOffset) records; reading stops at \(s.nextOffset)")
        }
        return s
    }

    /// Creates an empty segment file named by `base` and makes its directory entry durable.
    func createSegment(_ s: Shard, base: UInt64) throws {
        let path = s.dir + "/" + Self.segmentName(base)
        let fd = try FileIO.openFile(path, create: true)
        let file = SegmentFile(fd: fd, path: path)
        let existing = try FileIO.fileSize(fd, path: path)
        if existing != 0 { try FileIO.truncate(fd, to: 0, path: path) }
        try FileIO.fsyncDirectory(s.dir)
        s.segments.append(Segment(baseOffset: base, nextOffset: base, size: 0, firstArrivalMs: 0, lastArrivalMs: 0,
                                  index: [], lastIndexedPosition: -Int64(config.indexIntervalBytes), file: file))
    }

    func rebuildRouting() {
        routing = shards.filter { $0.isOpen }
            .map { (start: $0.desc.startingHashKey, end: $0.desc.endingHashKey, shard: $0.desc.index) }
            .sorted { $0.start < $1.start }
    }

    @inline(__always)
    func route(_ k: HashKey) -> Int {
        var lo = 0, hi = routing.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if routing[mid].start <= k { lo = mid } else { hi = mid - 1 }
        }
        return routing[lo].shard
    }

    // MARK: public queries

    public var name: String { config.name }

    public func shardMap() -> ShardMap { cond.lock(); defer { cond.unlock() }; return map }

    /// The shard a partition key (or explicit hash key) goes to now.
    public func shardId(forPartitionKey key: String, explicitHashKey: HashKey? = nil) -> String {
        let k = explicitHashKey ?? HashKey.md5(of: key)
        cond.lock(); defer { cond.unlock() }
        return ShardID.make(route(k))
    }

    func shardIndex(_ id: String) throws -> Int {
        guard let i = ShardID.index(of: id), i >= 0, i < shards.count else {
            throw StreamError(.resourceNotFound, "shard \(id) not found in stream \(config.name)")
        }
        return i
    }

    /// Records durable and visible in a shard: [trimHorizon, end).
    public func bounds(shardId: String) throws -> (trimHorizon: UInt64, end: UInt64) {
        let i = try shardIndex(shardId)
        cond.lock(); defer { cond.unlock() }
        return (shards[i].trimHorizon, shards[i].durableOffset)
    }
}
