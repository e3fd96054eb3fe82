import Foundation
import Metrics

/// Where a test may stop a flush to play a crash.
public enum DeliveryCrashPoint: Sendable { case afterObjects, afterManifests }
public struct SimulatedCrash: Error {}

/// One Firehose-style delivery stream: reads the stream as consumer `lake-<name>`, transforms and
/// enriches each record, buffers per partition, writes compressed objects, manifests and error
/// objects to the lake, and only then moves its checkpoints.
///
/// All methods are serialised by one lock; `DeliveryService` calls `runOnce()` from its thread
/// while `flush()` and `stats()` may come from anywhere.
public final class DeliveryStream: @unchecked Sendable {
    public let config: DeliveryConfig
    let stream: ShardedStream
    let consumer: StreamConsumer
    let lake: any Lake
    let clock: any StreamClock
    let log: @Sendable (String) -> Void
    private let lock = NSLock()

    /// One per ingest worker (parse + enrich of different shards in parallel).
    private let enrichers: [EnricherBox]
    private let compressor: Compressor
    /// One per flush worker thread.
    private let compressors: [Compressor]
    private var transform: ExternalTransform?

    // The per-record state skips the runtime exclusivity check (it costs a thread-local lookup
    // per access); every access is under `lock`.
    @exclusivity(unchecked) private var buffers: [String: PartitionBuffer] = [:]
    @exclusivity(unchecked) private var linePool = LinePool()
    /// Each shard's last read batch, emptied into by its next read: a step's reads (~5 MB per shard)
    /// would otherwise land in fresh pages, a page fault per 4 KiB. Bounded by `maxRecycledReadBytes`.
    private var recycledReads: [Int: ReadBatch] = [:]
    static let maxRecycledReadBytes = 64 << 20
    /// Chunks that reached the size hint and left their buffer, until their objects are durable.
    private var sealed: [ObjectItem] = []
    /// Flushes forced by the memory budget (`WhenBuffersFull.flushLargest`).
    public private(set) var pressureFlushes = 0
    /// Last offset handed to buffers or error objects, per shard index.
    private var polledThrough: [Int: UInt64] = [:]
    private var checkpointed: [Int: UInt64] = [:]   // last offset covered by a checkpoint
    private var pendingErrors: [ErrorKey: ErrorChunk] = [:]
    /// Recovery ledger: records already in an object listed by a manifest (shard → site → ranges),
    /// built at start by `recover()` (DeliveryStream+Recovery.swift).
    var delivered: [Int: [String: [ClosedRange<UInt64>]]] = [:]
    var deliveredMax: [Int: UInt64] = [:]
    var errorRanges: [Int: [ClosedRange<UInt64>]] = [:]
    private var shardIdBytes: [Int: [UInt8]] = [:]

    // Metrics
    private var objectsWritten: Int64 = 0
    @exclusivity(unchecked) private var bytesIn: Int64 = 0
    private var objectBytesRaw: Int64 = 0
    private var bytesWritten: Int64 = 0
    private var errorsByType: [String: Int64] = [:]
    private var latency = LatencyRecorder(intervalMs: 60_000)
    /// Wall seconds per phase (for the benchmark's breakdown; the phases do not overlap), and the
    /// process's CPU seconds (user+sys, all threads) over the same spans: CPU below twice the wall
    /// time on two workers is a core left idle.
    var phaseSeconds: [String: Double] = [:]
    var phaseCPUSeconds: [String: Double] = [:]
    private func timed<T>(_ phase: String, _ body: () throws -> T) rethrows -> T {
        let start = phaseStart()
        defer { phaseEnd(phase, start) }
        return try body()
    }
    private func phaseStart() -> (wall: Double, cpu: Double) { (BenchSupport.now(), BenchSupport.processCPUSeconds()) }
    private func phaseEnd(_ phase: String, _ start: (wall: Double, cpu: Double)) {
        phaseSeconds[phase, default: 0] += BenchSupport.now() - start.wall
        phaseCPUSeconds[phase, default: 0] += BenchSupport.processCPUSeconds() - start.cpu
    }
    private(set) public var recordsDelivered: Int64 = 0
    private(set) public var recordsDropped: Int64 = 0
    private(set) public var recordsSkippedAsRedelivered: Int64 = 0
    /// True while the memory bound holds the consumer back.
    private(set) public var readingPaused = false
    /// Test hook: throw `SimulatedCrash` at this point of the next flush.
    public var crashPoint: DeliveryCrashPoint?

    struct ErrorKey: Hashable { var type: DeliveryErrorType; var shard: Int }
    struct ErrorChunk { var lines: [UInt8] = []; var first: UInt64; var last: UInt64; var records = 0; var oldestArrivalMs: Int64 }

    public init(config: DeliveryConfig, stream: ShardedStream, lake: any Lake, clock: any StreamClock = SystemClock(),
                geo: (any CountryLookup)? = nil,
                log: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(("eddy delivery: " + $0 + "\n").utf8)) }) throws {
        let problems = config.problems()
        if !problems.isEmpty { throw DeliveryConfigError(problems: problems) }
        self.config = config; self.stream = stream; self.lake = lake; self.clock = clock; self.log = log
        var geo = geo
        if geo == nil, let path = config.geoDatabasePath, !path.isEmpty {
            do { geo = try MaxMindCountryLookup(path: path) } catch {
                throw DeliveryConfigError(problems: ["delivery '\(config.name)': \(error)"])
            }
        }
        self.consumer = try stream.consumer(config.consumerName)
        let workers = config.workers > 0 ? config.workers : max(1, min(4, ProcessInfo.processInfo.activeProcessorCount))
        self.enrichers = (0..<workers).map { _ in EnricherBox(Enricher(geo: geo)) }
        self.compressor = Compressor(config.compression)
        self.compressors = (0..<workers).map { _ in Compressor(config.compression) }
        if let t = config.transform { transform = ExternalTransform(t, log: log) }
        try recover()
    }

    deinit { transform?.stop() }

    public func close() { lock.lock(); transform?.stop(); lock.unlock() }

    // MARK: Run loop step

    /// One step: flush what is due, read one poll's worth (unless the memory bound holds), buffer
    /// it, flush what became due, write error objects, move checkpoints. Returns records read.
    @discardableResult
    public func runOnce() throws -> Int {
        lock.lock(); defer { lock.unlock() }
        return try step(forceFlush: false)
    }

    /// Memory the buffers hold: capacity of every chunk and of the emptied buffers kept for reuse.
    /// The budget bounds this, not the bytes buffered: arrays grow by doubling, and the soak's
    /// heaptrack found 423 MB held by buffers whose bytes were within the 256 MiB budget.
    private func heldBytes() -> Int {
        buffers.values.reduce(linePool.bytes) { $0 + $1.capacityBytes } + sealed.reduce(0) { $0 + $1.chunk.capacityBytes }
    }

    private func step(forceFlush: Bool) throws -> Int {
        var read = 0
        let held = heldBytes()
        if held < config.maxBufferedBytes {
            readingPaused = false
            let room = config.maxBufferedBytes - held
            let shards = max(1, stream.shardCountIncludingClosed)
            let perShard = max(4096, min(config.pollBytesPerShard, room / shards))
            read = try ingestLanes(consumer.readableShards(), maxBytesPerShard: perShard)
        } else {
            readingPaused = true
        }
        try flushDue(force: forceFlush)
        try writeErrors()
        try timed("checkpoints") { try moveCheckpoints() }
        return read
    }

    /// Returns when every record appended to the stream before the call is in a durable lake
    /// object (or an error object) and the checkpoints cover it.
    public func flush() throws {
        lock.lock(); defer { lock.unlock() }
        // Read up to the durable ends as of the call, not "until quiet": under steady load the
        // stream is never quiet.
        let targets = stream.durableEnds()
        func reached() -> Bool {
            targets.allSatisfy { idx, end in end == 0 || ((try? consumer.position(shardId: ShardID.make(idx))) ?? end) >= end }
        }
        while !reached() {
            let n = try step(forceFlush: false)
            if readingPaused { try flushDue(force: true); try moveCheckpoints(); continue }
            if n == 0 { break }
        }
        try flushDue(force: true)
        try writeErrors()
        try moveCheckpoints()
    }

    // MARK: Ingest

    private func shardBytes(_ idx: Int) -> [UInt8] {
        if let b = shardIdBytes[idx] { return b }
        let b = Array(ShardID.make(idx).utf8); shardIdBytes[idx] = b; return b
    }

    /// Read, (transform,) parse, enrich and buffer the readable shards, one lane per shard, on up to
    /// `workers` threads (each lane whole on one worker, in stream order; one thread with an
    /// external transform, whose child process takes one batch at a time); then merge what the
    /// lanes found into the buffers and write the chunks that reached the size hint. Returns
    /// records read.
    private func ingestLanes(_ shards: [(index: Int, from: UInt64)], maxBytesPerShard: Int) throws -> Int {
        let now = clock.nowMs()
        let lanes = shards.map { sh -> ShardLane in
            let s = sh.index
            var open: [String: ShardChunk] = [:]
            open.reserveCapacity(buffers.count)
            for (site, buf) in buffers { if let c = buf.chunks[s] { open[site] = c } }
            let lane = ShardLane(shard: s, shardId: shardBytes(s), from: sh.from, open: open, delivered: delivered[s],
                                 deliveredMax: deliveredMax[s], errorRanges: errorRanges[s])
            lane.recycled = recycledReads.removeValue(forKey: s)
            return lane
        }
        let admission = PartitionAdmission(known: Set(buffers.keys), cap: config.maxActivePartitions, pool: linePool)
        linePool = LinePool()
        let boxes = enrichers
        let hint = config.sizeHintBytes, maxRecords = config.pollRecordsPerShard
        let claims = ClaimQueue(items: lanes)
        let workers = transform == nil ? min(boxes.count, lanes.count) : 1
        let consumer = self.consumer, transform = self.transform
        // Lanes do not throw: a read that fails is kept in its lane, so what the other lanes
        // buffered is merged before the error goes up (their chunks are the buffers' own).
        try timed("read+parse+enrich (lanes)") { try parallelFor(workers, workers: workers) { w in
            while let lane = claims.claim() {
                let recycled = lane.recycled; lane.recycled = nil
                do { lane.batch = try consumer.read(shardIndex: lane.shard, from: lane.from, maxRecords: maxRecords, maxBytes: maxBytesPerShard, reusing: consume recycled) }
                catch { lane.readError = error; continue }
                lane.run(box: boxes[w], admission: admission, transform: transform, sizeHint: hint, now: now)
            }
        } }
        linePool = admission.pool
        let read = timed("merge lanes") { merge(lanes, now: now) }
        recycleReads(lanes)
        if let e = lanes.lazy.compactMap(\.readError).first { throw e }
        if !sealed.isEmpty { try writeSealed() }
        return read
    }

    /// Folds what the lanes found into the delivery's state: counters, error records, sealed
    /// chunks, and new chunks into their partitions' buffers. Returns records read.
    private func merge(_ lanes: [ShardLane], now: Int64) -> Int {
        var read = 0
        for lane in lanes {
            let s = lane.shard
            guard let batch = lane.batch else { continue }
            read += batch.count
            bytesIn += lane.bytesIn
            recordsSkippedAsRedelivered += lane.skippedAsRedelivered
            recordsDropped += lane.dropped
            if let t = lane.through { polledThrough[s] = t }
            for e in lane.errors {
                let r = batch.records[e.index]
                addError(e.type, shard: s, offset: r.offset, arrivalMs: r.arrivalMs, code: e.code, message: e.message,
                         raw: e.raw.map { ArraySlice($0) } ?? batch.data(e.index), attempts: e.attempts, now: now)
            }
            for item in lane.sealed {
                if let b = buffers[item.site], b.chunks[s] === item.chunk { b.chunks[s] = nil }
                sealed.append(item)
            }
            for (site, chunk) in lane.open {
                let b: PartitionBuffer
                if let x = buffers[site] { b = x } else {
                    b = PartitionBuffer(site: site, firstBufferedAtMs: now)
                    buffers[site] = b
                }
                b.chunks[s] = chunk
            }
        }
        // A buffer whose every chunk reached the size hint in this step has none left.
        for (site, b) in buffers where b.chunks.isEmpty { buffers[site] = nil }
        return read
    }

    /// Keeps the lanes' batches (merged, so no longer needed) for the next step's reads.
    private func recycleReads(_ lanes: [ShardLane]) {
        func size(_ b: ReadBatch) -> Int { b.bytes.capacity + b.records.capacity * MemoryLayout<ReadBatch.Record>.stride }
        var kept = recycledReads.values.reduce(0) { $0 + size($1) }
        for lane in lanes {
            guard let b = lane.batch else { continue }
            lane.batch = nil
            if kept + size(b) <= Self.maxRecycledReadBytes { recycledReads[lane.shard] = b; kept += size(b) }
        }
    }

    /// Bytes in the buffers and in sealed chunks not yet written.
    private var bufferedBytes: Int {
        buffers.values.reduce(0) { $0 + $1.bytes } + sealed.reduce(0) { $0 + $1.chunk.lines.count }
    }

    /// The decimal sequence number of the record after the one `out` holds, by adding one to its
    /// last 20 digits in place (lanes read offsets in order, so this skips 20 divisions per record).
    static func nextSequenceBytes(_ out: inout [UInt8]) {
        var k = out.count - 1
        let first = out.count - 20
        while k >= first {
            if out[k] == 0x39 { out[k] = 0x30; k -= 1 } else { out[k] += 1; return }
        }
    }

    /// The decimal sequence number (`SequenceNumber.description`) without going through String.
    static func sequenceBytes(shard: Int, offset: UInt64, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.appendDecimal(Int64(shard + 1))
        // The offset as exactly 20 digits, written in place (no scratch array per record).
        let start = out.count
        for _ in 0..<20 { out.append(0x30) }
        var v = offset, k = start + 19
        while v > 0, k >= start { out[k] = UInt8(48 + v % 10); v /= 10; k -= 1 }
    }

    private func addError(_ type: DeliveryErrorType, shard: Int, offset: UInt64, arrivalMs: Int64, code: String, message: String,
                          raw: ArraySlice<UInt8>, attempts: Int, now: Int64) {
        let key = ErrorKey(type: type, shard: shard)
        var c = pendingErrors[key] ?? ErrorChunk(first: offset, last: offset, oldestArrivalMs: arrivalMs)
        FailureRecord(attemptsMade: attempts, arrivalMs: arrivalMs, errorCode: code, errorMessage: message, endingMs: now, raw: raw).append(to: &c.lines)
        c.last = offset; c.records += 1; c.oldestArrivalMs = min(c.oldestArrivalMs, arrivalMs)
        pendingErrors[key] = c
        errorsByType[type.rawValue, default: 0] += 1
    }

    // MARK: Flush

    private func flushDue(force: Bool) throws {
        if !sealed.isEmpty { try writeSealed() }   // written at the end of their step, unless that failed
        let now = clock.nowMs()
        // Size is not checked here: a chunk reaching the size hint is written in the step that fills it.
        var due = buffers.filter { force || now - $0.value.firstBufferedAtMs >= config.intervalMs }.map(\.key)
        if !force, config.whenFull == .flushLargest, case let held = heldBytes(), held >= config.maxBufferedBytes {
            // Memory pressure: write the largest buffers early, down to half the budget, so the
            // consumer keeps reading instead of waiting out the interval. (What a flushed buffer
            // held may stay in the reuse pool, up to a quarter of the budget.)
            let dueSet = Set(due)
            var left = held - due.reduce(0) { $0 + (buffers[$1]?.capacityBytes ?? 0) }
            for (site, b) in buffers.filter({ !dueSet.contains($0.key) }).map({ ($0.key, $0.value.capacityBytes) }).sorted(by: { $0.1 > $1.1 }) {
                if left < config.maxBufferedBytes / 2 { break }
                due.append(site); left -= b
            }
            pressureFlushes += 1
        }
        if !due.isEmpty { try flushPartitions(largestFirst(due)) }
    }

    /// Partitions by bytes buffered, largest first (ties by name): the compression workers take a
    /// partition's objects at a time in this order, so the big ones start first and the last to
    /// finish are small. In name order, one worker was left compressing a large partition alone
    /// at the end of a memory-pressure flush: 18 of the flush's 60 ms with a core idle.
    private func largestFirst(_ sites: [String]) -> [String] {
        sites.map { ($0, buffers[$0]?.bytes ?? 0) }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.map(\.0)
    }

    /// Writes one object per partition of the given partitions, holding its chunks of every shard
    /// (Firehose's buffer is per partition too). Per (partition, shard), a quick bench lake's
    /// objects had a median of 31 KiB: zstd compresses such small inputs slower and worse than
    /// large ones, and every object costs a file, a directory entry and its share of the sync.
    private func flushPartitions(_ sites: [String]) throws {
        var objects: [[ObjectItem]] = []
        for site in sites {
            guard let b = buffers[site], !b.chunks.isEmpty else { continue }
            objects.append(b.chunks.sorted(by: { $0.key < $1.key }).map { ObjectItem(site: site, shard: $0.key, chunk: $0.value) })
        }
        try writeObjects(objects)
    }

    /// Writes the chunks that reached the size hint in the last step (kept until they are durable),
    /// an object each.
    private func writeSealed() throws {
        try writeObjects(sealed.map { [$0] })
    }

    /// Writes one object per entry of `objects` (one partition's chunks, one per shard, lowest
    /// shard first), then one manifest per lowest shard listing them. A chunk leaves the buffers (or
    /// the sealed list) only once its object and manifest are durable.
    private func writeObjects(_ objects: [[ObjectItem]]) throws {
        guard !objects.isEmpty else { return }
        let compressStart = phaseStart()
        struct Pending { var key: String; var ranges: [SequenceRange]; var records: Int; var bytes: Int }
        let pending = objects.map { parts -> Pending in
            let ranges = parts.map { SequenceRange(first: SequenceNumber(shardIndex: $0.shard, offset: $0.chunk.firstOffset),
                                                   last: SequenceNumber(shardIndex: $0.shard, offset: $0.chunk.lastOffset)) }
            let oldest = parts.reduce(Int64.max) { min($0, $1.chunk.oldestArrivalMs) }
            let key = config.prefix + "/" + LakeLayout.partitionPath(site: parts[0].site, oldestArrivalMs: oldest) + "/"
                + LakeLayout.objectName(delivery: config.name, ranges: ranges, ext: config.compression.fileExtension)
            return Pending(key: key, ranges: ranges, records: parts.reduce(0) { $0 + $1.chunk.records },
                           bytes: parts.reduce(0) { $0 + $1.chunk.lines.count })
        }
        // Compress on a few threads (one compressor each); the lake writes each object as soon
        // as it is compressed, then syncs them together.
        var sizes = [Int](repeating: 0, count: objects.count)
        let workers = min(compressors.count, max(1, objects.count))
        let sizeLock = NSLock()
        // Compressor per thread: a worker's index is not passed through, so each call takes a
        // free compressor from this stack (at most `workers` are in use at once).
        var free = Array(compressors.prefix(workers))
        // A failed put (ENOSPC, EIO) must not leave objects no manifest lists: a retry after more
        // records arrived names its objects differently, and lake readers would count both.
        // Best effort: what cannot be removed now, recovery removes at the next start. An object
        // that existed before this flush (a redelivery under the same name) is never removed.
        // Each object's check runs on its compression worker, before its bytes go to the lake (a
        // store writes an object only after producing it): on one thread, before the workers
        // started, a final flush's 1,280 checks kept a core idle for ~9 ms. nil: not produced,
        // so not written by this flush either.
        var existedBefore = [Bool?](repeating: nil, count: objects.count)
        func written(_ i: Int) -> Bool { existedBefore[i] == false }
        func removeWritten() { for (i, p) in pending.enumerated() where written(i) { try? lake.delete(p.key) } }
        do {
            try lake.putAll(keys: pending.map(\.key), workers: workers) { i in
                let existed = self.lake.exists(pending[i].key)
                sizeLock.lock(); existedBefore[i] = existed; let c = free.popLast(); sizeLock.unlock()
                guard let c else { throw LakeError(.io, key: "", "delivery: no free compressor (more workers than compressors)") }
                defer { sizeLock.lock(); free.append(c); sizeLock.unlock() }
                let out = try c.compress(parts: objects[i].map { UnsafeRawBufferPointer(start: $0.chunk.lines.base, count: $0.chunk.lines.count) })
                sizeLock.lock(); sizes[i] = out.count; sizeLock.unlock()
                return out
            }
        } catch { removeWritten(); throw error }
        phaseEnd("compress+write objects", compressStart)
        let manifestStart = phaseStart()
        defer { phaseEnd("manifests+release", manifestStart) }
        var entries: [Int: [(ManifestEntry, SequenceNumber)]] = [:]
        for (i, p) in pending.enumerated() {
            objectsWritten += 1; bytesWritten += Int64(sizes[i]); objectBytesRaw += Int64(p.bytes)
            entries[objects[i][0].shard, default: []].append((ManifestEntry(url: p.key, contentLength: sizes[i], records: p.records, ranges: p.ranges),
                                                              p.ranges[0].first))
        }
        if crashPoint == .afterObjects { crashPoint = nil; throw SimulatedCrash() }
        let now = clock.nowMs()
        let manifests = entries.sorted(by: { $0.key < $1.key }).map { shard, es in
            (key: LakeLayout.manifestKey(delivery: config.name, nowMs: now, shardId: ShardID.make(shard), first: es.map(\.1).min()!),
             bytes: Manifest.encode(es.map(\.0)))
        }
        do { try lake.putAll(manifests) } catch {
            // Some manifests may be in place: their objects are delivered and stay (recovery's
            // ledger skips those records); only objects no manifest lists are removed.
            let listed = Set(manifests.filter { lake.exists($0.key) }.flatMap { m in
                (Manifest.decode((try? lake.read(m.key)) ?? []) ?? []).map(\.url) })
            for (i, p) in pending.enumerated() where written(i) && !listed.contains(where: { $0.hasSuffix(p.key) }) { try? lake.delete(p.key) }
            // What a durable manifest lists is delivered: those chunks leave the buffers now, or
            // the retry would write their records a second time under another name.
            let durableAt = clock.nowMs()
            for (i, p) in pending.enumerated() where listed.contains(where: { $0.hasSuffix(p.key) }) {
                for part in objects[i] { release(part, durableAt: durableAt) }
            }
            throw error
        }
        if crashPoint == .afterManifests { crashPoint = nil; throw SimulatedCrash() }
        let durableAt = clock.nowMs()
        latency.roll(nowMs: durableAt)
        for parts in objects { for it in parts { release(it, durableAt: durableAt) } }
        // Freed buffers go back to the system through the node's maintenance loop
        // (`ProcessMemory.releaseFreeMemory`, every 10 s), not here: `malloc_trim` took 8–15 ms
        // per flush on the delivery thread, while both lanes waited, and the pages it returned
        // were faulted in again by the next step's buffers.
    }

    /// A chunk whose object is durable and listed: out of the buffers (or the sealed list), its
    /// records counted as delivered, its buffer kept for reuse within the budget.
    private func release(_ it: ObjectItem, durableAt: Int64) {
        let c = it.chunk
        if let b = buffers[it.site], b.chunks[it.shard] === c {
            b.chunks[it.shard] = nil
            if b.chunks.isEmpty { buffers[it.site] = nil }
        } else if let k = sealed.firstIndex(where: { $0.chunk === c }) {
            sealed.remove(at: k)
        } else { return }
        for a in c.arrivals { latency.record(ms: max(0, durableAt - a.ms), count: a.count) }
        recordsDelivered += Int64(c.records)
        _ = linePool.give(c.lines, limit: min(64 << 20, config.maxBufferedBytes / 4))
        c.lines = LineBuffer()
        c.dropArrivals()
    }

    private func writeErrors() throws {
        guard !pendingErrors.isEmpty else { return }
        let zstd: Bool = { if case .zstd = config.compression { return true }; return false }()
        for (k, c) in pendingErrors.sorted(by: { ($0.key.type.rawValue, $0.key.shard) < ($1.key.type.rawValue, $1.key.shard) }) {
            let (d, _) = LakeLayout.dateHour(c.oldestArrivalMs)
            let name = LakeLayout.objectName(delivery: config.name, shardId: ShardID.make(k.shard),
                                             first: SequenceNumber(shardIndex: k.shard, offset: c.first),
                                             last: SequenceNumber(shardIndex: k.shard, offset: c.last),
                                             ext: zstd ? ".ndjson.zst" : ".ndjson")
            let body = zstd ? try compressor.compress(c.lines) : c.lines
            try lake.put("errors/\(k.type.rawValue)/dt=\(d)/\(name)", body)
        }
        pendingErrors.removeAll()
    }

    private func moveCheckpoints() throws {
        var pendingFirst: [Int: UInt64] = [:]
        for b in buffers.values { for (s, c) in b.chunks { pendingFirst[s] = min(pendingFirst[s] ?? .max, c.firstOffset) } }
        for it in sealed { pendingFirst[it.shard] = min(pendingFirst[it.shard] ?? .max, it.chunk.firstOffset) }
        for (shard, through) in polledThrough {
            var target: UInt64
            if let p = pendingFirst[shard] { guard p > 0 else { continue }; target = p - 1 } else { target = through }
            target = min(target, through)
            if let done = checkpointed[shard], done >= target { continue }
            try consumer.checkpoint(SequenceNumber(shardIndex: shard, offset: target))
            checkpointed[shard] = target
        }
    }

    // MARK: Stats

    public func stats() -> DeliveryStats {
        lock.lock(); defer { lock.unlock() }
        let now = clock.nowMs()
        let bs = buffers.values.sorted { $0.bytes > $1.bytes }.map { b -> BufferStats in
            let age = max(0, now - b.firstBufferedAtMs)
            return BufferStats(partition: LakeLayout.partitionPath(site: b.site, oldestArrivalMs: b.oldestArrivalMs),
                               bytes: Int64(b.bytes), records: Int64(b.records), ageMs: age,
                               msToNextFlush: max(0, config.intervalMs - age),
                               fillBytes: Int64(b.fillBytes))
        }
        return DeliveryStats(name: config.name, sizeHintBytes: Int64(config.sizeHintBytes), intervalHintMs: config.intervalMs,
                             buffers: bs, objectsWritten: objectsWritten, bytesIn: bytesIn, bytesWritten: bytesWritten,
                             compressionRatio: bytesWritten > 0 ? Double(objectBytesRaw) / Double(bytesWritten) : 0,
                             errorsByType: errorsByType, deliveryLatency: latency.summary(),
                             memoryBytes: Int64(heldBytes()), memoryLimitBytes: Int64(config.maxBufferedBytes))
    }

    /// Total bytes in the buffers now.
    public var bufferedByteCount: Int { lock.lock(); defer { lock.unlock() }; return bufferedBytes }
    /// Memory the buffers hold now (capacity, and emptied buffers kept for reuse): what the budget bounds.
    public var heldByteCount: Int { lock.lock(); defer { lock.unlock() }; return heldBytes() }
    public var activePartitions: Int { lock.lock(); defer { lock.unlock() }; return buffers.count }
}

extension ShardedStream {
    /// Durable end (exclusive offset) of every shard, by index: what `flush()` must reach.
    func durableEnds() -> [Int: UInt64] {
        cond.lock(); defer { cond.unlock() }
        var out: [Int: UInt64] = [:]
        for s in shards { out[s.desc.index] = s.durableOffset }
        return out
    }
}
