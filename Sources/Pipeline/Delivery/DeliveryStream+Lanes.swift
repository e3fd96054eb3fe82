import Foundation
import Metrics

/// One worker's parse + enrich state. Used by one thread at a time (the worker running a lane),
/// so its fields skip the runtime exclusivity check, which cost a thread-local lookup per access
/// per record.
final class EnricherBox: @unchecked Sendable {
    @exclusivity(unchecked) var enricher: Enricher
    let parser = EventParser()
    @exclusivity(unchecked) var events: [ParsedEvent] = []
    @exclusivity(unchecked) var errors: [RecordError] = []
    init(_ e: Enricher) { enricher = e }
}

/// A chunk that reached the size hint during a step, or one whose object is being written.
struct ObjectItem {
    var site: String
    var shard: Int
    var chunk: ShardChunk
}

/// A record of a lane's batch that goes to the error prefix, with its reason.
struct LaneError {
    var type: DeliveryErrorType
    var index: Int          // in the lane's batch
    var code: String
    var message: String
    var attempts = 1
    /// The bytes to keep when they are not the record's own (a transform's output that did not parse).
    var raw: [UInt8]? = nil
}

/// The state lanes share during a step: which partitions exist (the cap counts them across
/// shards) and the pool of emptied buffers. Touched once per new (partition, shard) chunk, not
/// per record.
final class PartitionAdmission: @unchecked Sendable {
    enum Verdict { case ok, invalidSite, overCap }
    private let lock = NSLock()
    private var known: Set<String>
    let cap: Int
    private(set) var pool: LinePool

    init(known: Set<String>, cap: Int, pool: LinePool) { self.known = known; self.cap = cap; self.pool = pool }

    /// Whether `site` may have a chunk, and an emptied buffer for it when it may.
    func admit(_ site: String) -> (Verdict, LineBuffer?) {
        lock.lock(); defer { lock.unlock() }
        if !known.contains(site) {
            // Defence in depth: the parser validated site_id; a partition must also be a safe key.
            guard isValidSiteId(site), LakeKey.problem("site=" + site) == nil else { return (.invalidSite, nil) }
            guard known.count < cap else { return (.overCap, nil) }
            known.insert(site)
        }
        return (.ok, pool.take())
    }
}

/// One shard's part of a step. A lane owns its shard's chunks while a worker parses, enriches and
/// buffers the shard's batch straight into them: lanes of different shards share no chunk, so
/// they run in parallel without a lock per record and without copying each line a second time.
/// A chunk that reaches the size hint is written alone, so a lane decides that alone: what such an
/// object holds depends on its shard's records only, never on the worker count. (A flush by age
/// writes a partition's chunks of every shard as one object.)
final class ShardLane: @unchecked Sendable {
    let shard: Int
    let shardId: [UInt8]
    /// Where the step reads the shard from, what it read, and why it could not.
    let from: UInt64
    @exclusivity(unchecked) var batch: ReadBatch?
    @exclusivity(unchecked) var readError: Error?
    /// A batch of an earlier step whose memory this lane's read reuses (taken, so it is unique).
    @exclusivity(unchecked) var recycled: ReadBatch?
    /// This shard's open chunk per partition (site), handed over from the buffers for the step.
    private let handover: [String: ShardChunk]
    /// The same, found per record by the site's bytes, once `run` has started (built there, on the
    /// lane's worker, not on the delivery thread that hands the lanes out).
    @exclusivity(unchecked) private var sites = SiteTable()
    @exclusivity(unchecked) private var started = false
    /// The open chunks by site at the end of the step, for the merge.
    var open: [String: ShardChunk] { started ? sites.chunksBySite : handover }
    /// Chunks that reached the size hint, in stream order: written at the end of the step.
    @exclusivity(unchecked) var sealed: [ObjectItem] = []
    @exclusivity(unchecked) var errors: [LaneError] = []
    @exclusivity(unchecked) var bytesIn: Int64 = 0
    @exclusivity(unchecked) var skippedAsRedelivered: Int64 = 0
    @exclusivity(unchecked) var dropped: Int64 = 0
    @exclusivity(unchecked) var through: UInt64?
    /// The decimal sequence number of the last record enriched, and its offset.
    @exclusivity(unchecked) private var seq: [UInt8] = []
    @exclusivity(unchecked) private var seqOffset: UInt64?
    /// Recovery ledgers of this shard (read-only during the step).
    private let delivered: [String: [ClosedRange<UInt64>]]?
    private let deliveredMax: UInt64?
    private let errorRanges: [ClosedRange<UInt64>]?

    init(shard: Int, shardId: [UInt8], from: UInt64, open: [String: ShardChunk], delivered: [String: [ClosedRange<UInt64>]]?,
         deliveredMax: UInt64?, errorRanges: [ClosedRange<UInt64>]?) {
        self.shard = shard; self.shardId = shardId; self.from = from; self.handover = open
        self.delivered = delivered; self.deliveredMax = deliveredMax; self.errorRanges = errorRanges
    }

    /// Transforms (when a transform is configured), parses, enriches and buffers every record of
    /// `batch` (this lane's shard) in stream order.
    func run(box: EnricherBox, admission: PartitionAdmission, transform: ExternalTransform?, sizeHint: Int, now: Int64) {
        guard let batch else { return }
        sites = SiteTable(handover)
        started = true
        // One record: its bytes, and the transform's output when they are that.
        func buffer(_ rec: UnsafeRawBufferPointer, _ i: Int, _ r: ReadBatch.Record, transformed: [UInt8]?) {
            box.events.removeAll(keepingCapacity: true); box.errors.removeAll(keepingCapacity: true)
            _ = box.parser.parseRecords(rec, nowMs: max(r.arrivalMs, now), events: &box.events, errors: &box.errors)
            guard box.events.count == 1, box.errors.isEmpty else {
                // Format errors are deterministic without a transform: skip ones already written.
                if errorRanges?.contains(where: { $0.contains(r.offset) }) == true { skippedAsRedelivered += 1; return }
                let (code, msg) = box.errors.first.map { ("EventParser." + $0.code.rawValue, $0.message) }
                    ?? ("EventParser.recordCount", "a record must hold exactly one event; it held \(box.events.count)")
                errors.append(LaneError(type: .formatConversionFailed, index: i, code: code, message: msg, raw: transformed))
                return
            }
            let e = box.events[0]
            let k = sites.entry(UnsafeRawBufferPointer(rebasing: rec[Int(e.siteId.start)..<Int(e.siteId.start + e.siteId.count)]))
            if let m = deliveredMax, r.offset <= m, let ranges = delivered?[sites.site(k)], ranges.contains(where: { $0.contains(r.offset) }) {
                skippedAsRedelivered += 1; return
            }
            let chunk: ShardChunk
            if let c = sites.chunk(k) { chunk = c } else {
                let site = sites.site(k)
                let (verdict, lines) = admission.admit(site)
                switch verdict {
                case .invalidSite:
                    errors.append(LaneError(type: .formatConversionFailed, index: i, code: "Delivery.InvalidPartition",
                                            message: "site_id cannot name a lake partition"))
                    return
                case .overCap:
                    errors.append(LaneError(type: .partitionLimitExceeded, index: i, code: "DynamicPartitioning.ActivePartitionsLimitExceeded",
                                            message: "more than \(admission.cap) active partitions"))
                    return
                case .ok:
                    chunk = ShardChunk(firstOffset: r.offset, lastOffset: r.offset, oldestArrivalMs: r.arrivalMs)
                    if let lines { chunk.lines = lines }
                    sites.setChunk(k, chunk)
                }
            }
            if let p = seqOffset, r.offset == p &+ 1 { DeliveryStream.nextSequenceBytes(&seq) }
            else { DeliveryStream.sequenceBytes(shard: shard, offset: r.offset, into: &seq) }
            seqOffset = r.offset
            box.enricher.enrich(rec, e, origin: RecordOrigin(arrivalMs: r.arrivalMs, shardId: shardId, seq: seq), out: &chunk.lines)
            chunk.add(offset: r.offset, arrivalMs: r.arrivalMs)
            if chunk.lines.count >= sizeHint {
                sealed.append(ObjectItem(site: sites.site(k), shard: shard, chunk: chunk))
                sites.setChunk(k, nil)
            }
        }
        let outcomes = transform?.process((0..<batch.count).map { i in
            ExternalTransform.Request(recordId: batch.sequenceNumber(i).description, arrivalMs: batch.records[i].arrivalMs, data: Array(batch.data(i)))
        })
        for i in 0..<batch.count {
            let r = batch.records[i]
            bytesIn += Int64(r.dataCount)
            through = r.offset
            guard let outcomes, let transform else { batch.withData(i) { buffer($0, i, r, transformed: nil) }; continue }
            switch outcomes[i] {
            case .ok(let d): d.withUnsafeBytes { buffer($0, i, r, transformed: d) }
            case .dropped: dropped += 1
            case .failed(let code, let message):
                errors.append(LaneError(type: .processingFailed, index: i, code: code, message: message, attempts: transform.config.retries + 1))
            }
        }
    }
}

/// A lane's sites by their bytes, each with its open chunk (if any): a record's site is found by a
/// 64-bit hash of its bytes and one comparison of them, where `[String: ShardChunk]` made a String
/// of them and hashed it with SipHash for every record (with the reference counting around both,
/// ~6 % of a lane's time). The String is kept beside the bytes for what is keyed by site (the
/// recovery ledger, the admission, the merge), off the per-record path. Entries are never removed
/// during a step: a lane meets a few hundred sites at most.
struct SiteTable {
    private struct Entry {
        var hash: UInt64
        var bytes: [UInt8]
        var site: String
        var chunk: ShardChunk?
    }
    private var entries: [Entry] = []
    /// Open addressing over `entries` indices (−1: empty), a power of two at most half full.
    private var slots = [Int32](repeating: -1, count: 64)

    init() {}

    /// The chunks handed over from the buffers, by site.
    init(_ open: [String: ShardChunk]) {
        for (site, chunk) in open {
            var s = site
            let k = s.withUTF8 { entry(UnsafeRawBufferPointer($0)) }
            setChunk(k, chunk)
        }
    }

    /// Every site with an open chunk, and the chunk.
    var chunksBySite: [String: ShardChunk] {
        var out: [String: ShardChunk] = [:]
        out.reserveCapacity(entries.count)
        for e in entries { if let c = e.chunk { out[e.site] = c } }
        return out
    }

    /// The entry of `bytes`, added (without a chunk) when new.
    mutating func entry(_ bytes: UnsafeRawBufferPointer) -> Int {
        let h = Hash64.hash(bytes)
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let k = Int(slots[i])
            if k < 0 { break }
            if entries[k].hash == h && entries[k].bytes.withUnsafeBytes({ e in
                e.count == bytes.count && (e.count == 0 || memcmp(e.baseAddress!, bytes.baseAddress!, e.count) == 0)
            }) { return k }
            i = (i + 1) & mask
        }
        entries.append(Entry(hash: h, bytes: Array(bytes), site: String(decoding: bytes, as: UTF8.self), chunk: nil))
        slots[i] = Int32(entries.count - 1)
        if entries.count * 2 > slots.count { rehash() }
        return entries.count - 1
    }

    func site(_ k: Int) -> String { entries[k].site }
    func chunk(_ k: Int) -> ShardChunk? { entries[k].chunk }
    mutating func setChunk(_ k: Int, _ c: ShardChunk?) { entries[k].chunk = c }

    private mutating func rehash() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        let mask = slots.count - 1
        for (k, e) in entries.enumerated() {
            var i = Int(truncatingIfNeeded: e.hash) & mask
            while slots[i] >= 0 { i = (i + 1) & mask }
            slots[i] = Int32(k)
        }
    }
}
