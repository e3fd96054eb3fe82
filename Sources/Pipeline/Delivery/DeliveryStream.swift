import Foundation
import CEddy
import Metrics

/// Records of one partition (site) from one shard waiting in a buffer: the future object.
/// A class, so the ingest loop appends in place after one lookup (no move out and back per record).
/// Its hot fields skip the runtime exclusivity check: only the lock-holding thread touches a chunk.
final class ShardChunk {
    @exclusivity(unchecked) var lines: [UInt8] = []
    var firstOffset: UInt64
    @exclusivity(unchecked) var lastOffset: UInt64
    @exclusivity(unchecked) var records = 0
    @exclusivity(unchecked) var oldestArrivalMs: Int64
    @exclusivity(unchecked) var arrivals: [Int64] = []
    init(firstOffset: UInt64, lastOffset: UInt64, oldestArrivalMs: Int64) {
        self.firstOffset = firstOffset; self.lastOffset = lastOffset; self.oldestArrivalMs = oldestArrivalMs
    }

    @inline(__always) func add(offset: UInt64, arrivalMs: Int64) {
        lastOffset = offset; records += 1; arrivals.append(arrivalMs)
        if arrivalMs < oldestArrivalMs { oldestArrivalMs = arrivalMs }
    }
}

/// A buffer per (delivery, partition). Its age counts from the first record buffered, like Firehose's.
final class PartitionBuffer {
    var site: String
    @exclusivity(unchecked) var chunks: [Int: ShardChunk] = [:]
    @exclusivity(unchecked) var bytes = 0
    @exclusivity(unchecked) var records = 0
    var firstBufferedAtMs: Int64
    var oldestArrivalMs: Int64
    init(site: String, firstBufferedAtMs: Int64, oldestArrivalMs: Int64) {
        self.site = site; self.firstBufferedAtMs = firstBufferedAtMs; self.oldestArrivalMs = oldestArrivalMs
    }

    /// Memory the chunks hold: their arrays' capacity, not the bytes in them.
    var capacityBytes: Int {
        chunks.values.reduce(0) { $0 + $1.lines.capacity + $1.arrivals.capacity * MemoryLayout<Int64>.stride }
    }

    /// The chunk of `shard`, created at `offset` (with a recycled buffer from `pool`) when there is none yet.
    @inline(__always) func chunk(_ shard: Int, offset: UInt64, arrivalMs: Int64, pool: inout LinePool) -> ShardChunk {
        if let c = chunks[shard] { return c }
        let c = ShardChunk(firstOffset: offset, lastOffset: offset, oldestArrivalMs: arrivalMs)
        c.lines = pool.take()
        chunks[shard] = c
        return c
    }
}

/// Emptied chunk buffers kept for the next chunks (their capacity, not their bytes): a chunk
/// that starts with room neither regrows by doubling nor page-faults fresh memory per flush.
struct LinePool {
    private var lines: [[UInt8]] = []
    /// Capacity kept (it counts against the delivery's memory budget).
    private(set) var bytes = 0

    mutating func take() -> [UInt8] {
        guard let l = lines.popLast() else { return [] }
        bytes -= l.capacity
        return l
    }

    /// Keeps `buffer`'s capacity (emptied) unless that passes `limit` bytes; false when not kept.
    mutating func give(_ buffer: inout [UInt8], limit: Int) -> Bool {
        guard bytes + buffer.capacity <= limit && lines.count < 4096 else { return false }
        var l: [UInt8] = []
        swap(&l, &buffer)
        l.removeAll(keepingCapacity: true)
        bytes += l.capacity
        lines.append(l)
        return true
    }
}

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

    private var enricher: Enricher
    /// One per ingest worker (parse + enrich of different shards in parallel).
    private let enrichers: [EnricherBox]
    private let compressor: Compressor
    /// One per flush worker thread.
    private let compressors: [Compressor]
    private let parser = EventParser()
    private var transform: ExternalTransform?

    // The per-record state skips the runtime exclusivity check (it costs a thread-local lookup
    // per access); every access is under `lock`.
    @exclusivity(unchecked) private var buffers: [String: PartitionBuffer] = [:]
    @exclusivity(unchecked) private var bufferedBytes = 0
    @exclusivity(unchecked) private var linePool = LinePool()
    /// Buffer capacity freed by flushes since glibc was last asked to give free pages back: big
    /// buffers come and go every flush, and glibc otherwise keeps the freed memory (the soak saw
    /// ~200 MB of it).
    private var freedSinceTrim = 0
    static let trimAfterFreedBytes = 64 << 20
    /// Flushes forced by the memory budget (`WhenBuffersFull.flushLargest`).
    public private(set) var pressureFlushes = 0
    /// Last offset handed to buffers or error objects, per shard index.
    private var polledThrough: [Int: UInt64] = [:]
    private var checkpointed: [Int: UInt64] = [:]   // last offset covered by a checkpoint
    private var pendingErrors: [ErrorKey: ErrorChunk] = [:]
    /// Recovery ledger: records already in an object listed by a manifest (shard → site → ranges).
    private var delivered: [Int: [String: [ClosedRange<UInt64>]]] = [:]
    private var deliveredMax: [Int: UInt64] = [:]
    private var errorRanges: [Int: [ClosedRange<UInt64>]] = [:]
    private var shardIdBytes: [Int: [UInt8]] = [:]

    // Metrics
    private var objectsWritten: Int64 = 0
    @exclusivity(unchecked) private var bytesIn: Int64 = 0
    private var objectBytesRaw: Int64 = 0
    private var bytesWritten: Int64 = 0
    private var errorsByType: [String: Int64] = [:]
    private var latency = LatencyRecorder(intervalMs: 60_000)
    /// Wall seconds per phase (for the benchmark's breakdown).
    var phaseSeconds: [String: Double] = [:]
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
        self.enricher = Enricher(geo: geo)
        let workers = config.workers > 0 ? config.workers : max(1, min(4, ProcessInfo.processInfo.activeProcessorCount))
        self.enrichers = (0..<workers).map { _ in EnricherBox(Enricher(geo: geo)) }
        self.compressor = Compressor(config.compression)
        self.compressors = (0..<workers).map { _ in Compressor(config.compression) }
        if let t = config.transform { transform = ExternalTransform(t, log: log) }
        try recover()
    }

    deinit { transform?.stop() }

    public func close() { lock.lock(); transform?.stop(); lock.unlock() }

    // MARK: Recovery

    private func nextCheckpointed(_ shard: Int) -> UInt64 {
        (try? consumer.checkpointedOffset(shardId: ShardID.make(shard))).flatMap { $0 } ?? 0
    }

    /// After a crash the consumer resumes at its checkpoints, which may be behind records already
    /// in durable objects (other partitions were still buffering). Manifests say which: those
    /// records are skipped, so redelivery never duplicates them. Objects written without their
    /// manifest are removed; their records are delivered again (usually under the same name).
    private func recover() throws {
        var inManifest = Set<String>()
        for key in try lake.list(prefix: "_manifests/" + config.name) where key.hasSuffix(".json") {
            guard let entries = Manifest.decode(try lake.read(key)) else { log("recovery: unreadable manifest \(key) ignored"); continue }
            for e in entries {
                inManifest.insert(e.url)
                guard let n = LakeLayout.parseObjectName(e.url), n.delivery == config.name, let site = LakeLayout.site(ofKey: e.url) else { continue }
                guard n.last.offset >= nextCheckpointed(n.shardIndex) else { continue }
                delivered[n.shardIndex, default: [:]][site, default: []].append(n.first.offset...n.last.offset)
                deliveredMax[n.shardIndex] = max(deliveredMax[n.shardIndex] ?? 0, n.last.offset)
            }
        }
        var orphans = 0
        for key in try lake.list(prefix: config.prefix) {
            guard let n = LakeLayout.parseObjectName(key), n.delivery == config.name, !inManifest.contains(key) else { continue }
            if n.last.offset >= nextCheckpointed(n.shardIndex) { try lake.delete(key); orphans += 1 }
        }
        if orphans > 0 { log("recovery: removed \(orphans) object(s) written without a manifest; their records are delivered again") }
        // Format errors are deterministic without an external transform: skip ones already written.
        if config.transform == nil {
            for key in try lake.list(prefix: "errors/" + DeliveryErrorType.formatConversionFailed.rawValue) {
                guard let n = LakeLayout.parseObjectName(key), n.delivery == config.name, n.last.offset >= nextCheckpointed(n.shardIndex) else { continue }
                errorRanges[n.shardIndex, default: []].append(n.first.offset...n.last.offset)
            }
        }
        let skipped = delivered.values.reduce(0) { $0 + $1.count }
        if skipped > 0 { log("recovery: \(skipped) partition range(s) after the checkpoint are already delivered and will be skipped") }
    }

    private func alreadyDelivered(shard: Int, offset: UInt64, site: String) -> Bool {
        guard let m = deliveredMax[shard], offset <= m, let ranges = delivered[shard]?[site] else { return false }
        return ranges.contains { $0.contains(offset) }
    }

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
        buffers.values.reduce(linePool.bytes) { $0 + $1.capacityBytes }
    }

    private func step(forceFlush: Bool) throws -> Int {
        var read = 0
        let held = heldBytes()
        if held < config.maxBufferedBytes {
            readingPaused = false
            let room = config.maxBufferedBytes - held
            let shards = max(1, stream.shardCountIncludingClosed)
            let perShard = max(4096, min(config.pollBytesPerShard, room / shards))
            var t = BenchSupport.now()
            let batches = try consumer.poll(maxRecordsPerShard: config.pollRecordsPerShard, maxBytesPerShard: perShard)
            phaseSeconds["poll", default: 0] += BenchSupport.now() - t; t = BenchSupport.now()
            read = batches.reduce(0) { $0 + $1.count }
            if transform != nil { for b in batches { try ingest(b) } } else { try ingestParallel(batches) }
            phaseSeconds["ingest+flush-by-size", default: 0] += BenchSupport.now() - t
        } else {
            readingPaused = true
        }
        try flushDue(force: forceFlush)
        try writeErrors()
        try moveCheckpoints()
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

    /// Records per piece of a shard batch handed to a parse worker: small enough that buffering
    /// (this thread) trails the workers by one piece, large enough that the hand-over is noise.
    static let pieceRecords = 512

    /// Parse + enrich pieces of the shards' batches on the workers while this thread buffers
    /// finished pieces in stream order (buffering overlaps parsing instead of following it).
    private func ingestParallel(_ batches: [ReadBatch]) throws {
        let now = clock.nowMs()
        var pieces: [(batch: Int, range: Range<Int>)] = []
        for (b, batch) in batches.enumerated() {
            var s = 0
            while s < batch.count { let e = min(batch.count, s + Self.pieceRecords); pieces.append((b, s..<e)); s = e }
        }
        let ids = batches.map { shardBytes($0.shardIndex) }
        let boxes = enrichers
        let workers = min(boxes.count, pieces.count)
        if workers <= 1 {
            for pc in pieces {
                var p = boxes[0].prepare(batches[pc.batch], range: pc.range, shardId: ids[pc.batch], now: now)
                try apply(batches[pc.batch], p, now: now)
                boxes[0].recycle(&p.lines)
            }
            return
        }
        let queue = PieceQueue(count: pieces.count)
        var applied: [(PreparedBatch, Int)] = []
        applied.reserveCapacity(pieces.count)
        // Task 0 buffers (it alone touches this delivery's state, while the caller, holding the
        // lock, waits); tasks 1… parse and enrich.
        try parallelFor(workers + 1, workers: workers + 1) { k in
            if k == 0 {
                do {
                    for j in pieces.indices {
                        let (p, w) = queue.take(j)
                        try self.apply(batches[pieces[j].batch], p, now: now)
                        applied.append((p, w))
                    }
                } catch { queue.cancel(); throw error }
            } else {
                let w = k - 1
                while let j = queue.claim() {
                    let pc = pieces[j]
                    queue.put(j, boxes[w].prepare(batches[pc.batch], range: pc.range, shardId: ids[pc.batch], now: now), worker: w)
                }
            }
        }
        for i in applied.indices { boxes[applied[i].1].recycle(&applied[i].0.lines) }
    }

    private func apply(_ batch: ReadBatch, _ p: PreparedBatch, now: Int64) throws {
        let shard = batch.shardIndex
        // Where this piece got to: written back once at the end (and before a flush), not per record.
        var through: UInt64? = nil
        defer { if let through { polledThrough[shard] = through } }
        for item in p.items {
            let r = batch.records[item.index]
            bytesIn += Int64(r.dataCount)
            through = r.offset
            guard let site = item.site else {
                if errorRanges[shard]?.contains(where: { $0.contains(r.offset) }) == true { recordsSkippedAsRedelivered += 1; continue }
                addError(.formatConversionFailed, shard: shard, offset: r.offset, arrivalMs: r.arrivalMs, code: item.errorCode ?? "",
                         message: item.errorMessage ?? "", raw: batch.data(item.index), attempts: 1, now: now)
                continue
            }
            if alreadyDelivered(shard: shard, offset: r.offset, site: site) { recordsSkippedAsRedelivered += 1; continue }
            let buf: PartitionBuffer
            if let b = buffers[site] { buf = b } else {
                // Checked once per new buffer: a site that fails never gets one, so each of its records comes here.
                guard isValidSiteId(site), LakeKey.problem("site=" + site) == nil else {
                    addError(.formatConversionFailed, shard: shard, offset: r.offset, arrivalMs: r.arrivalMs, code: "Delivery.InvalidPartition",
                             message: "site_id cannot name a lake partition", raw: batch.data(item.index), attempts: 1, now: now)
                    continue
                }
                if buffers.count >= config.maxActivePartitions {
                    addError(.partitionLimitExceeded, shard: shard, offset: r.offset, arrivalMs: r.arrivalMs,
                             code: "DynamicPartitioning.ActivePartitionsLimitExceeded",
                             message: "more than \(config.maxActivePartitions) active partitions", raw: batch.data(item.index), attempts: 1, now: now)
                    continue
                }
                buf = PartitionBuffer(site: site, firstBufferedAtMs: now, oldestArrivalMs: r.arrivalMs)
                buffers[site] = buf
            }
            let chunk = buf.chunk(shard, offset: r.offset, arrivalMs: r.arrivalMs, pool: &linePool)
            let added = item.lineEnd - item.lineStart
            p.lines.withUnsafeBytes { chunk.lines.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[item.lineStart..<item.lineEnd])) }
            chunk.add(offset: r.offset, arrivalMs: r.arrivalMs)
            buf.bytes += added; buf.records += 1
            if r.arrivalMs < buf.oldestArrivalMs { buf.oldestArrivalMs = r.arrivalMs }
            bufferedBytes += added
            let full = buf.bytes >= config.sizeHintBytes
            if full { polledThrough[shard] = r.offset; try flushPartitions([site]) }
        }
    }

    private func ingest(_ batch: ReadBatch) throws {
        let shard = batch.shardIndex
        let now = clock.nowMs()
        var outcomes: [ExternalTransform.Outcome]? = nil
        if let transform {
            let reqs = (0..<batch.count).map { i in
                ExternalTransform.Request(recordId: batch.sequenceNumber(i).description, arrivalMs: batch.records[i].arrivalMs, data: Array(batch.data(i)))
            }
            outcomes = transform.process(reqs)
        }
        var events: [ParsedEvent] = []
        var errors: [RecordError] = []
        let shardId = shardBytes(shard)
        var seqScratch: [UInt8] = []
        for i in 0..<batch.count {
            let r = batch.records[i]
            bytesIn += Int64(r.dataCount)
            polledThrough[shard] = r.offset
            var data: [UInt8]? = nil
            if let outcomes {
                switch outcomes[i] {
                case .ok(let d): data = d
                case .dropped: recordsDropped += 1; continue
                case .failed(let code, let message):
                    addError(.processingFailed, shard: shard, offset: r.offset, arrivalMs: r.arrivalMs, code: code, message: message,
                             raw: batch.data(i), attempts: (transform?.config.retries ?? 0) + 1, now: now)
                    continue
                }
            }
            events.removeAll(keepingCapacity: true); errors.removeAll(keepingCapacity: true)
            var dueSite: String? = nil
            func handle(_ rec: UnsafeRawBufferPointer) {
                _ = self.parser.parseRecords(rec, nowMs: max(r.arrivalMs, now), events: &events, errors: &errors)
                guard events.count == 1, errors.isEmpty else {
                    if self.errorRanges[shard]?.contains(where: { $0.contains(r.offset) }) == true { self.recordsSkippedAsRedelivered += 1; return }
                    let (code, msg) = errors.first.map { ("EventParser." + $0.code.rawValue, $0.message) }
                        ?? ("EventParser.recordCount", "a record must hold exactly one event; it held \(events.count)")
                    self.addError(.formatConversionFailed, shard: shard, offset: r.offset, arrivalMs: r.arrivalMs, code: code, message: msg,
                                  raw: data.map { ArraySlice($0) } ?? batch.data(i), attempts: 1, now: now)
                    return
                }
                let e = events[0]
                let site = String(decoding: UnsafeRawBufferPointer(rebasing: rec[Int(e.siteId.start)..<Int(e.siteId.start + e.siteId.count)]), as: UTF8.self)
                if self.alreadyDelivered(shard: shard, offset: r.offset, site: site) { self.recordsSkippedAsRedelivered += 1; return }
                // Defence in depth: the parser validated site_id; a partition must also be a safe key.
                guard isValidSiteId(site), LakeKey.problem("site=" + site) == nil else {
                    self.addError(.formatConversionFailed, shard: shard, offset: r.offset, arrivalMs: r.arrivalMs, code: "Delivery.InvalidPartition",
                                  message: "site_id cannot name a lake partition", raw: batch.data(i), attempts: 1, now: now)
                    return
                }
                let buf: PartitionBuffer
                if let b = self.buffers[site] { buf = b } else {
                    if self.buffers.count >= self.config.maxActivePartitions {
                        self.addError(.partitionLimitExceeded, shard: shard, offset: r.offset, arrivalMs: r.arrivalMs,
                                      code: "DynamicPartitioning.ActivePartitionsLimitExceeded",
                                      message: "more than \(self.config.maxActivePartitions) active partitions", raw: batch.data(i), attempts: 1, now: now)
                        return
                    }
                    buf = PartitionBuffer(site: site, firstBufferedAtMs: now, oldestArrivalMs: r.arrivalMs)
                    self.buffers[site] = buf
                }
                Self.sequenceBytes(shard: shard, offset: r.offset, into: &seqScratch)
                let chunk = buf.chunk(shard, offset: r.offset, arrivalMs: r.arrivalMs, pool: &self.linePool)
                let before = chunk.lines.count
                self.enricher.enrich(rec, e, origin: RecordOrigin(arrivalMs: r.arrivalMs, shardId: shardId, seq: seqScratch), out: &chunk.lines)
                let added = chunk.lines.count - before
                chunk.add(offset: r.offset, arrivalMs: r.arrivalMs)
                buf.bytes += added
                buf.records += 1
                if r.arrivalMs < buf.oldestArrivalMs { buf.oldestArrivalMs = r.arrivalMs }
                let full = buf.bytes >= self.config.sizeHintBytes
                self.bufferedBytes += added
                if full { dueSite = site }
            }
            if let data { data.withUnsafeBytes(handle) } else { batch.withData(i, handle) }
            // Only the buffer that just grew can have crossed the size hint.
            if let dueSite { try flushPartitions([dueSite]) }
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
        let now = clock.nowMs()
        var due = buffers.filter { force || $0.value.bytes >= config.sizeHintBytes || now - $0.value.firstBufferedAtMs >= config.intervalMs }.map(\.key)
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
        if !due.isEmpty { try flushPartitions(due.sorted()) }
    }

    /// Writes one object per (partition, shard) of the given partitions, then one manifest per
    /// shard listing them. Buffers are released only after both are durable.
    private func flushPartitions(_ sites: [String]) throws {
        struct Pending { var key: String; var site: String; var shard: Int; var first: SequenceNumber }
        var pending: [Pending] = []
        var inputs: [[UInt8]] = []
        var records: [Int] = []
        var latencies: [[Int64]] = []
        for site in sites {
            guard let b = buffers[site] else { continue }
            for (shard, chunk) in b.chunks.sorted(by: { $0.key < $1.key }) {
                let first = SequenceNumber(shardIndex: shard, offset: chunk.firstOffset)
                let last = SequenceNumber(shardIndex: shard, offset: chunk.lastOffset)
                let key = config.prefix + "/" + LakeLayout.partitionPath(site: site, oldestArrivalMs: chunk.oldestArrivalMs) + "/"
                    + LakeLayout.objectName(delivery: config.name, shardId: ShardID.make(shard), first: first, last: last,
                                            ext: config.compression.fileExtension)
                pending.append(Pending(key: key, site: site, shard: shard, first: first))
                inputs.append(chunk.lines); records.append(chunk.records); latencies.append(chunk.arrivals)
            }
        }
        // Compress on a few threads (one compressor each); the lake writes each object as soon
        // as it is compressed, then syncs them together.
        let tc = BenchSupport.now()
        var sizes = [Int](repeating: 0, count: inputs.count)
        let workers = min(compressors.count, max(1, inputs.count))
        let sizeLock = NSLock()
        // Compressor per thread: a worker's index is not passed through, so each call takes a
        // free compressor from this stack (at most `workers` are in use at once).
        var free = Array(compressors.prefix(workers))
        // A failed put (ENOSPC, EIO) must not leave objects no manifest lists: a retry after more
        // records arrived names its objects differently, and lake readers would count both.
        // Best effort: what cannot be removed now, recovery removes at the next start. An object
        // that existed before this flush (a redelivery under the same name) is never removed.
        let preexisting = Set(pending.lazy.map(\.key).filter { self.lake.exists($0) })
        func removeWritten() { for p in pending where !preexisting.contains(p.key) { try? lake.delete(p.key) } }
        do {
            try lake.putAll(keys: pending.map(\.key), workers: workers) { i in
                sizeLock.lock(); let c = free.popLast(); sizeLock.unlock()
                guard let c else { throw LakeError(.io, key: "", "delivery: no free compressor (more workers than compressors)") }
                defer { sizeLock.lock(); free.append(c); sizeLock.unlock() }
                let out = try c.compress(inputs[i])
                sizeLock.lock(); sizes[i] = out.count; sizeLock.unlock()
                return out
            }
        } catch { removeWritten(); throw error }
        phaseSeconds["compress+put objects", default: 0] += BenchSupport.now() - tc
        var entries: [Int: [(ManifestEntry, SequenceNumber)]] = [:]
        for (i, p) in pending.enumerated() {
            objectsWritten += 1; bytesWritten += Int64(sizes[i]); objectBytesRaw += Int64(inputs[i].count)
            entries[p.shard, default: []].append((ManifestEntry(url: p.key, contentLength: sizes[i], records: records[i]), p.first))
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
            for p in pending where !preexisting.contains(p.key) && !listed.contains(where: { $0.hasSuffix(p.key) }) { try? lake.delete(p.key) }
            // What a durable manifest lists is delivered: those chunks leave the buffers now, or
            // the retry would write their records a second time under another name.
            for p in pending where listed.contains(where: { $0.hasSuffix(p.key) }) {
                guard let b = buffers[p.site], let chunk = b.chunks.removeValue(forKey: p.shard) else { continue }
                b.bytes -= chunk.lines.count; b.records -= chunk.records; bufferedBytes -= chunk.lines.count
                recordsDelivered += Int64(chunk.records)
                if b.chunks.isEmpty { buffers.removeValue(forKey: p.site) }
            }
            throw error
        }
        if crashPoint == .afterManifests { crashPoint = nil; throw SimulatedCrash() }
        let durableAt = clock.nowMs()
        latency.roll(nowMs: durableAt)
        for arr in latencies { for a in arr { latency.record(ms: max(0, durableAt - a)) }; recordsDelivered += Int64(arr.count) }
        inputs.removeAll()   // the chunks' arrays are unique again: recycle them
        let spareLimit = min(64 << 20, config.maxBufferedBytes / 4)
        for site in sites {
            guard let b = buffers.removeValue(forKey: site) else { continue }
            bufferedBytes -= b.bytes
            for chunk in b.chunks.values {
                let capacity = chunk.lines.capacity
                if !linePool.give(&chunk.lines, limit: spareLimit) { freedSinceTrim += capacity }
            }
        }
        if freedSinceTrim >= Self.trimAfterFreedBytes {
            freedSinceTrim = 0
            _ = eddy_release_free_memory()
        }
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
                               msToNextFlush: max(0, config.intervalMs - age))
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
