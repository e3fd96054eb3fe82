import Foundation

/// Parse and enrichment of one piece of a polled shard batch (a range of its records), done off
/// the delivery's lock-holding thread in parallel with other pieces. Only `apply` touches
/// buffers, in stream order.
struct PreparedBatch {
    struct Item {
        var index: Int
        var site: String?          // nil: format error
        var lineStart: Int
        var lineEnd: Int
        var errorCode: String?
        var errorMessage: String?
    }
    var lines: [UInt8] = []
    var items: [Item] = []
}

/// One worker's parse + enrich state. Used by one thread at a time (a worker during a step, the
/// delivery thread between steps), so its fields skip the runtime exclusivity check, which cost
/// a thread-local lookup per access per record.
final class EnricherBox: @unchecked Sendable {
    @exclusivity(unchecked) var enricher: Enricher
    let parser = EventParser()
    @exclusivity(unchecked) var events: [ParsedEvent] = []
    @exclusivity(unchecked) var errors: [RecordError] = []
    @exclusivity(unchecked) var seq: [UInt8] = []
    /// Line buffers of earlier pieces, handed back by `recycle` once applied (no fresh pages per poll).
    @exclusivity(unchecked) private var pool = LinePool()
    init(_ e: Enricher) { enricher = e }

    func recycle(_ lines: inout [UInt8]) { _ = pool.give(&lines, limit: 64 << 20) }

    func prepare(_ batch: ReadBatch, shardId: [UInt8], now: Int64) -> PreparedBatch {
        prepare(batch, range: 0..<batch.count, shardId: shardId, now: now)
    }

    func prepare(_ batch: ReadBatch, range: Range<Int>, shardId: [UInt8], now: Int64) -> PreparedBatch {
        var out = PreparedBatch()
        out.lines = pool.take()
        var dataBytes = 0
        for i in range { dataBytes += batch.records[i].dataCount }
        // Enriched lines run ~1.6× their record plus a few hundred bytes of added fields.
        out.lines.reserveCapacity(dataBytes * 2 + range.count * 256)
        out.items.reserveCapacity(range.count)
        for i in range {
            let r = batch.records[i]
            events.removeAll(keepingCapacity: true); errors.removeAll(keepingCapacity: true)
            batch.withData(i) { rec in
                _ = parser.parseRecords(rec, nowMs: max(r.arrivalMs, now), events: &events, errors: &errors)
                guard events.count == 1, errors.isEmpty else {
                    let (code, msg) = errors.first.map { ("EventParser." + $0.code.rawValue, $0.message) }
                        ?? ("EventParser.recordCount", "a record must hold exactly one event; it held \(events.count)")
                    out.items.append(.init(index: i, site: nil, lineStart: 0, lineEnd: 0, errorCode: code, errorMessage: msg))
                    return
                }
                let e = events[0]
                let site = String(decoding: UnsafeRawBufferPointer(rebasing: rec[Int(e.siteId.start)..<Int(e.siteId.start + e.siteId.count)]), as: UTF8.self)
                DeliveryStream.sequenceBytes(shard: batch.shardIndex, offset: r.offset, into: &seq)
                let start = out.lines.count
                enricher.enrich(rec, e, origin: RecordOrigin(arrivalMs: r.arrivalMs, shardId: shardId, seq: seq), out: &out.lines)
                out.items.append(.init(index: i, site: site, lineStart: start, lineEnd: out.lines.count, errorCode: nil, errorMessage: nil))
            }
        }
        return out
    }
}

/// Hands pieces to the workers in order and their results to the buffering thread in order.
final class PieceQueue: @unchecked Sendable {
    private let cond = NSCondition()
    private var nextClaim = 0
    private let count: Int
    private var results: [(PreparedBatch, Int)?]
    private var cancelled = false

    init(count: Int) { self.count = count; results = Array(repeating: nil, count: count) }

    /// The next piece to prepare, nil when all are claimed or the buffering thread gave up.
    func claim() -> Int? {
        cond.lock(); defer { cond.unlock() }
        guard !cancelled, nextClaim < count else { return nil }
        nextClaim += 1
        return nextClaim - 1
    }

    func put(_ j: Int, _ p: PreparedBatch, worker: Int) {
        cond.lock(); results[j] = (p, worker); cond.broadcast(); cond.unlock()
    }

    /// Waits for piece `j` and takes it.
    func take(_ j: Int) -> (PreparedBatch, Int) {
        cond.lock(); defer { cond.unlock() }
        while true {
            if let r = results[j] { results[j] = nil; return r }
            cond.wait()
        }
    }

    func cancel() { cond.lock(); cancelled = true; cond.broadcast(); cond.unlock() }
}
