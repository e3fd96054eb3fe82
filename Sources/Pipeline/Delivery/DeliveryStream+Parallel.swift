import Foundation

/// Parse and enrichment of one polled shard batch, done off the delivery's lock-holding thread
/// in parallel with other shards' batches. Only `apply` touches buffers, in stream order.
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

final class EnricherBox: @unchecked Sendable {
    var enricher: Enricher
    let parser = EventParser()
    var events: [ParsedEvent] = []
    var errors: [RecordError] = []
    var seq: [UInt8] = []
    /// Line buffers of earlier batches, handed back by `recycle` once applied (no fresh pages per poll).
    private var pool = LinePool()
    init(_ e: Enricher) { enricher = e }

    func recycle(_ lines: inout [UInt8]) { _ = pool.give(&lines, limit: 64 << 20) }

    func prepare(_ batch: ReadBatch, shardId: [UInt8], now: Int64) -> PreparedBatch {
        var out = PreparedBatch()
        out.lines = pool.take()
        out.lines.reserveCapacity(batch.dataBytes * 2)
        out.items.reserveCapacity(batch.count)
        for i in 0..<batch.count {
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
