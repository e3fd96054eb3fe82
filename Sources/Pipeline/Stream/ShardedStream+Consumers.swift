import Foundation

/// Where a consumer application starts on shards it has no checkpoint for.
public enum InitialPosition: String, Sendable, Codable { case trimHorizon = "TRIM_HORIZON", latest = "LATEST" }

/// Per-application read state. Guarded by the stream's lock.
final class ConsumerState {
    let app: String
    /// Next offset to read, per shard index (in memory).
    var position: [Int: UInt64] = [:]
    /// Next offset to read as last persisted, per shard index.
    var checkpoint: [Int: UInt64] = [:]
    var checkpointSeq: [Int: String] = [:]
    var lastReadArrival: [Int: Int64] = [:]
    /// Records removed by size retention before this application read them.
    var lost: [Int: UInt64] = [:]
    init(app: String) { self.app = app }
}

/// The on-disk checkpoint, `consumers/<app>/<shardId>.ckpt` (JSON, replaced atomically).
struct CheckpointFile: Codable {
    var app: String
    var shardId: String
    /// Next offset to read.
    var nextOffset: UInt64
    /// Last processed record's sequence number, or "TRIM_HORIZON" / "SHARD_END".
    var checkpoint: String
    var updatedAtMs: Int64
}

/// A named consumer application's handle: reads every shard in lineage order (a CLOSED parent
/// to its end before its children) and keeps a checkpoint per shard.
public final class StreamConsumer: @unchecked Sendable {
    public let app: String
    let stream: ShardedStream

    init(app: String, stream: ShardedStream) { self.app = app; self.stream = stream }

    /// Reads up to the limits from every shard this application may read now, in shard order.
    /// Advances the in-memory positions (not the checkpoints). Empty shards are left out.
    public func poll(maxRecordsPerShard: Int = 10_000, maxBytesPerShard: Int = 10 << 20) throws -> [ReadBatch] {
        var out: [ReadBatch] = []
        let count = stream.shardCountIncludingClosed
        for idx in 0..<count {
            guard let from = stream.readablePosition(app: app, shardIndex: idx) else { continue }
            let b = try read(shardIndex: idx, from: from, maxRecords: maxRecordsPerShard, maxBytes: maxBytesPerShard)
            if !b.records.isEmpty || b.skippedByRetention > 0 { out.append(b) }
        }
        return out
    }

    /// The shards this application may read now (a CLOSED parent before its children) and the
    /// offset it reads each from: for callers that read shards on several threads at once.
    public func readableShards() -> [(index: Int, from: UInt64)] {
        (0..<stream.shardCountIncludingClosed).compactMap { idx in stream.readablePosition(app: app, shardIndex: idx).map { (idx, $0) } }
    }

    /// Reads one shard from `from` and advances this application's position past what it returns.
    /// Safe to call for different shards at once. `reusing`: a batch this caller is done with,
    /// whose memory the new one reads into (a poll loop then touches no fresh pages per read).
    public func read(shardIndex idx: Int, from: UInt64, maxRecords: Int, maxBytes: Int, reusing old: consuming ReadBatch? = nil) throws -> ReadBatch {
        let b = try stream.read(shardIndex: idx, from: from, maxRecords: maxRecords, maxBytes: maxBytes, reusing: consume old)
        stream.advance(app: app, shardIndex: idx, batch: b)
        return b
    }

    /// Persists "read up to and including `sequenceNumber`" for its shard.
    public func checkpoint(_ sequenceNumber: SequenceNumber) throws {
        guard sequenceNumber.offset < UInt64.max else {
            throw StreamError(.invalidArgument, "sequence number \(sequenceNumber) is out of range")
        }
        try stream.writeCheckpoint(app: app, shardIndex: sequenceNumber.shardIndex, nextOffset: sequenceNumber.offset + 1)
    }

    /// Persists the in-memory position of every shard (what `poll` has handed out).
    public func checkpointAll() throws {
        for (idx, off) in stream.positions(app: app) { try stream.writeCheckpoint(app: app, shardIndex: idx, nextOffset: off) }
    }

    /// Next offset this application reads on a shard.
    public func position(shardId: String) throws -> UInt64 {
        let idx = try stream.shardIndex(shardId)
        return stream.resolvedPosition(app: app, shardIndex: idx)
    }

    public func checkpointedOffset(shardId: String) throws -> UInt64? {
        let idx = try stream.shardIndex(shardId)
        stream.cond.lock(); defer { stream.cond.unlock() }
        return stream.consumers[app]?.checkpoint[idx]
    }

    /// Records size retention removed before this application read them, per shard id.
    public var lostRecords: [String: UInt64] {
        stream.cond.lock(); defer { stream.cond.unlock() }
        var out: [String: UInt64] = [:]
        for (i, n) in stream.consumers[app]?.lost ?? [:] { out[ShardID.make(i)] = n }
        return out
    }
}

extension ShardedStream {
    /// The consumer application `app`, resuming from its checkpoints. Shards it has no checkpoint
    /// for start at `initialPosition` when they exist now, at TRIM_HORIZON when created later.
    public func consumer(_ app: String, initialPosition: InitialPosition = .trimHorizon) throws -> StreamConsumer {
        guard !app.isEmpty, app.count <= 128, app.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }) else {
            throw StreamError(.invalidArgument, "consumer name '\(app)' must be 1–128 characters of [a-zA-Z0-9_.-]")
        }
        cond.lock()
        let st = consumers[app] ?? ConsumerState(app: app)
        consumers[app] = st
        for s in shards where st.checkpoint[s.desc.index] == nil && st.position[s.desc.index] == nil {
            st.position[s.desc.index] = initialPosition == .latest ? s.durableOffset : s.trimHorizon
        }
        cond.unlock()
        return StreamConsumer(app: app, stream: self)
    }

    /// Names of every known consumer application (from disk and this process).
    public var consumerApps: [String] { cond.lock(); defer { cond.unlock() }; return consumers.keys.sorted() }

    func loadConsumers() throws {
        for app in FileIO.listDirectory(consumersRoot).sorted() {
            let dir = consumersRoot + "/" + app
            let st = ConsumerState(app: app)
            for f in FileIO.listDirectory(dir) where f.hasSuffix(".ckpt") {
                let path = dir + "/" + f
                let c: CheckpointFile
                do { c = try JSONDecoder().decode(CheckpointFile.self, from: Data(try FileIO.readWholeFile(path))) } catch {
                    throw StreamError(.corrupt, "checkpoint is not readable: \(error)", path: path)
                }
                guard let idx = ShardID.index(of: c.shardId), idx < shards.count else {
                    config.log("checkpoint names unknown shard \(c.shardId); ignored (\(path))"); continue
                }
                st.checkpoint[idx] = c.nextOffset
                st.checkpointSeq[idx] = c.checkpoint
            }
            consumers[app] = st
        }
    }

    /// Under the lock: where `app` reads shard `idx` next.
    func positionLocked(_ st: ConsumerState, _ idx: Int) -> UInt64 {
        st.position[idx] ?? st.checkpoint[idx] ?? shards[idx].trimHorizon
    }

    func resolvedPosition(app: String, shardIndex idx: Int) -> UInt64 {
        cond.lock(); defer { cond.unlock() }
        guard let st = consumers[app] else { return shards[idx].trimHorizon }
        return positionLocked(st, idx)
    }

    /// A shard is finished for an application once it is CLOSED and read to its end.
    func finishedLocked(_ st: ConsumerState, _ idx: Int) -> Bool {
        let s = shards[idx]
        return !s.isOpen && positionLocked(st, idx) >= s.nextOffset && s.durableOffset >= s.nextOffset
    }

    /// nil while a parent is unfinished (children wait) or the shard is finished.
    func readablePosition(app: String, shardIndex idx: Int) -> UInt64? {
        cond.lock(); defer { cond.unlock() }
        guard let st = consumers[app] else { return nil }
        for p in shards[idx].desc.parents {
            guard let pi = ShardID.index(of: p), pi < shards.count else { continue }
            if !finishedLocked(st, pi) { return nil }
        }
        if finishedLocked(st, idx) { return nil }
        return positionLocked(st, idx)
    }

    func advance(app: String, shardIndex idx: Int, batch: ReadBatch) {
        cond.lock(); defer { cond.unlock() }
        guard let st = consumers[app] else { return }
        if batch.nextOffset > positionLocked(st, idx) || st.position[idx] == nil { st.position[idx] = batch.nextOffset }
        if let last = batch.records.last { st.lastReadArrival[idx] = last.arrivalMs }
    }

    func positions(app: String) -> [(Int, UInt64)] {
        cond.lock(); defer { cond.unlock() }
        guard let st = consumers[app] else { return [] }
        return st.position.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    func writeCheckpoint(app: String, shardIndex idx: Int, nextOffset: UInt64) throws {
        guard idx >= 0 && idx < shardCountIncludingClosed else {
            throw StreamError(.resourceNotFound, "shard \(ShardID.make(idx)) not found in stream \(config.name)")
        }
        cond.lock()
        let s = shards[idx]
        let end = s.durableOffset
        let closed = !s.isOpen
        cond.unlock()
        guard nextOffset <= end else {
            throw StreamError(.invalidArgument, "cannot checkpoint \(app) on \(ShardID.make(idx)) past its last durable record (offset \(nextOffset) > \(end))")
        }
        let label: String
        if closed && nextOffset >= end { label = "SHARD_END" }
        else if nextOffset == 0 { label = "TRIM_HORIZON" }
        else { label = SequenceNumber(shardIndex: idx, offset: nextOffset - 1).description }
        let file = CheckpointFile(app: app, shardId: ShardID.make(idx), nextOffset: nextOffset, checkpoint: label, updatedAtMs: clock.nowMs())
        let dir = consumersRoot + "/" + app
        try FileIO.makeDirectory(dir)
        let bytes: [UInt8]
        do { bytes = Array(try JSONEncoder().encode(file)) } catch { throw StreamError(.io, "cannot encode checkpoint: \(error)") }
        try FileIO.atomicReplace(dir + "/" + ShardID.make(idx) + ".ckpt", with: bytes)
        cond.lock()
        let st = consumers[app] ?? ConsumerState(app: app)
        consumers[app] = st
        st.checkpoint[idx] = nextOffset
        st.checkpointSeq[idx] = label
        if (st.position[idx] ?? 0) < nextOffset { st.position[idx] = nextOffset }
        cond.unlock()
    }
}

/// What a consuming stage (delivery, live aggregates) needs from a stream: batches in lineage
/// order and checkpoints. `StreamConsumer` is the embedded log's; a Kinesis-endpoint reader can
/// conform later without the stages changing.
public protocol ConsumerSource: AnyObject, Sendable {
    var app: String { get }
    /// One poller per application: positions advance in memory, checkpoints persist them.
    func poll(maxRecordsPerShard: Int, maxBytesPerShard: Int) throws -> [ReadBatch]
    func checkpoint(_ sequenceNumber: SequenceNumber) throws
    func checkpointAll() throws
}

extension StreamConsumer: ConsumerSource {}
