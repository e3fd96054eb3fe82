import Foundation

/// Who is writing: decides which records of a native request are allowed.
public enum WriterScope: Sendable, Equatable {
    /// A site key: only events whose site_id is this site.
    case site(String)
    /// A relay key (or Firehose/AWS credentials): every site.
    case relay
}

/// The outcome of one native ingest request, ready to be answered.
public struct IngestOutcome: Sendable {
    public struct Failure: Sendable, Equatable {
        public var index: Int
        public var code: String
        public var message: String
    }
    public var accepted: Int = 0
    public var failures: [Failure] = []
    public var acceptedBytes: Int = 0
    /// Every accepted record failed because its shard was throttled.
    public var allThrottled: Bool = false
    /// The stream could not take writes at all (closed, fsync failure): nothing was acknowledged.
    public var unavailable: StreamError?
    /// event_id of each accepted record, in request order (only when asked for).
    public var acceptedEventIds: [String]? = nil

    /// `{"accepted":N,"failed":M,"errors":[{"index":i,"code":"…","message":"…"}]}`
    public func json() -> [UInt8] {
        var o: [UInt8] = []
        o.reserveCapacity(64 + failures.count * 96)
        o.appendString("{\"accepted\":\(accepted),\"failed\":\(failures.count),\"errors\":[")
        for (n, f) in failures.enumerated() {
            if n > 0 { o.append(UInt8(ascii: ",")) }
            o.appendString("{\"index\":\(f.index),\"code\":")
            JSONOut.string(f.code, into: &o)
            o.appendString(",\"message\":")
            JSONOut.string(f.message, into: &o)
            o.append(UInt8(ascii: "}"))
        }
        o.appendString("]}")
        return o
    }
}

/// Native ingest: parse and validate a body of events, keep those the writer may send, stamp
/// event_id and ip by splicing bytes after each record's `{`, append to the stream as one batch
/// and wait for its durable ack. No Foundation object per event.
public struct EventIngest: Sendable {
    public var parser: EventParser
    public init(parser: EventParser = EventParser()) { self.parser = parser }

    /// Reject code for an event of another site under a site key.
    public static let siteNotAllowed = "site_not_allowed"

    /// Parses and filters; returns the batch to append and the failures so far.
    /// `indexBase` shifts reported indexes (Firehose numbers records across a call).
    public func prepare(body: [UInt8], scope: WriterScope, clientIP: String?, nowMs: Int64,
                        wantEventIds: Bool = false) -> (RecordBatch, [Int], IngestOutcome) {
        let parsed = parser.parse(body, nowMs: nowMs)
        var out = IngestOutcome()
        out.failures.reserveCapacity(parsed.errors.count)
        for e in parsed.errors { out.failures.append(.init(index: e.index, code: e.code.rawValue, message: e.message)) }
        var batch = RecordBatch(reservingRecords: parsed.events.count, bytes: body.count + parsed.events.count * 96)
        var indexes: [Int] = []
        indexes.reserveCapacity(parsed.events.count)
        var ids: [String]? = wantEventIds ? [] : nil
        let siteBytes: [UInt8]? = { if case .site(let s) = scope { return Array(s.utf8) }; return nil }()
        let ipInsert: [UInt8]? = clientIP.map { ip in
            var b: [UInt8] = Array("\"ip\":".utf8); JSONOut.string(ip, into: &b); b.append(UInt8(ascii: ",")); return b
        }
        var rng = SplitMix64(seed: UInt64.random(in: 0...UInt64.max))
        body.withUnsafeBytes { raw in
            let base = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            for e in parsed.events {
                if let want = siteBytes, !Self.spanEquals(e.siteId, base: base, raw: raw, want) {
                    out.failures.append(.init(index: Int(e.index), code: Self.siteNotAllowed,
                        message: "this write key is for site '\(String(decoding: want, as: UTF8.self))'; the event's site_id is '\(parsed.string(e.siteId) ?? "")'"))
                    continue
                }
                // Partition key first, then the record, as RecordBatch lays them out.
                let pk = e.defaultPartitionKey
                let keyStart = batch.bytes.count
                if pk.escaped {
                    batch.bytes.append(contentsOf: JSONString.unescape(UnsafeRawBufferPointer(rebasing: raw[Int(pk.start)..<Int(pk.start + pk.count)])) ?? [])
                } else {
                    batch.bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[Int(pk.start)..<Int(pk.start + pk.count)]))
                }
                let keyCount = batch.bytes.count - keyStart
                let dataStart = batch.bytes.count
                let rs = Int(e.recordStart), rc = Int(e.recordCount)
                batch.bytes.append(UInt8(ascii: "{"))
                var inserted = false
                if !e.eventId.isPresent {
                    let id = rng.uuid()
                    batch.bytes.append(contentsOf: "\"event_id\":\"".utf8)
                    batch.bytes.append(contentsOf: id.utf8)
                    batch.bytes.append(contentsOf: "\",".utf8)
                    ids?.append(id)
                    inserted = true
                } else if ids != nil {
                    ids!.append(parsed.string(e.eventId) ?? "")
                }
                if !e.ip.isPresent, let ins = ipInsert { batch.bytes.append(contentsOf: ins); inserted = true }
                // Rest of the record after its `{`; an empty object must not keep our trailing comma.
                var j = rs + 1
                while j < rs + rc && (base[j] == 0x20 || base[j] == 0x09 || base[j] == 0x0A || base[j] == 0x0D) { j += 1 }
                if inserted && j < rs + rc && base[j] == UInt8(ascii: "}") { batch.bytes.removeLast() }
                batch.bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[(rs + 1)..<(rs + rc)]))
                batch.entries.append(RecordBatch.Entry(dataStart: dataStart, dataCount: batch.bytes.count - dataStart,
                                                       keyStart: keyStart, keyCount: keyCount))
                indexes.append(Int(e.index))
            }
        }
        out.acceptedEventIds = ids
        return (batch, indexes, out)
    }

    /// Appends and waits for durability; fills accepted/failed.
    public func ingest(body: [UInt8], scope: WriterScope, clientIP: String?, stream: ShardedStream,
                       nowMs: Int64, wantEventIds: Bool = false) async -> IngestOutcome {
        var (batch, indexes, out) = prepare(body: body, scope: scope, clientIP: clientIP, nowMs: nowMs, wantEventIds: wantEventIds)
        await Self.commit(&batch, indexes: indexes, into: &out, stream: stream)
        return out
    }

    static func commit(_ batch: inout RecordBatch, indexes: [Int], into out: inout IngestOutcome, stream: ShardedStream) async {
        guard batch.count > 0 else {
            out.failures.sort { $0.index < $1.index }
            return
        }
        do {
            let results = try await stream.append(batch)
            var throttled = 0, ioFailed = 0
            var ioMessage: String?
            var keptIds: [String]? = out.acceptedEventIds == nil ? nil : []
            for (i, r) in results.enumerated() {
                if r.succeeded {
                    out.accepted += 1
                    out.acceptedBytes += batch.entries[i].dataCount
                    keptIds?.append(out.acceptedEventIds![i])
                } else {
                    if r.error == .throughputExceeded { throttled += 1 }
                    if r.error == .io { ioFailed += 1; ioMessage = ioMessage ?? r.errorMessage }
                    out.failures.append(.init(index: indexes[i], code: r.error == .throughputExceeded ? "throughput_exceeded" : "internal_failure",
                                              message: r.errorMessage ?? "the shard could not take this record; retry"))
                }
            }
            if keptIds != nil { out.acceptedEventIds = keptIds }
            out.allThrottled = out.accepted == 0 && throttled > 0
            // Nothing taken and the disk refused every record (ENOSPC, EIO): the node cannot take
            // writes right now, which is a 503 with Retry-After, not a per-record verdict.
            if out.accepted == 0 && ioFailed == results.count {
                out.unavailable = StreamError(.io, ioMessage ?? "the disk refused the write")
            }
        } catch let e as StreamError {
            out.unavailable = e
            out.acceptedEventIds = out.acceptedEventIds.map { _ in [] }
        } catch {
            out.unavailable = StreamError(.io, "\(error)")
        }
        out.failures.sort { $0.index < $1.index }
    }

    @inline(__always)
    static func spanEquals(_ s: ByteSpan, base: UnsafePointer<UInt8>, raw: UnsafeRawBufferPointer, _ want: [UInt8]) -> Bool {
        guard s.isPresent else { return false }
        if s.escaped {
            return JSONString.unescape(UnsafeRawBufferPointer(rebasing: raw[Int(s.start)..<Int(s.start + s.count)])) == want
        }
        guard Int(s.count) == want.count else { return false }
        return want.withUnsafeBytes { w in memcmp(base + Int(s.start), w.baseAddress!, want.count) == 0 }
    }
}

/// event_ids from a fast non-cryptographic generator (seeded per request from the system RNG).
extension SplitMix64 {
    /// A version-4 UUID string, lowercase.
    mutating func uuid() -> String {
        var hi = next(), lo = next()
        hi = (hi & ~0xF000) | 0x4000
        lo = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: UInt8(ascii: "-"), count: 36)
        var p = 0
        for i in 0..<32 {
            if i == 8 || i == 12 || i == 16 || i == 20 { p += 1 }
            let v = i < 16 ? hi >> UInt64((15 - i) * 4) : lo >> UInt64((31 - i) * 4)
            out[p] = digits[Int(v & 15)]; p += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

enum JSONOut {
    static func string(_ s: String, into o: inout [UInt8]) {
        o.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): o.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): o.append(contentsOf: "\\\\".utf8)
            case 0x0A: o.append(contentsOf: "\\n".utf8)
            case 0x0D: o.append(contentsOf: "\\r".utf8)
            case 0x09: o.append(contentsOf: "\\t".utf8)
            case 0..<0x20:
                let h: [UInt8] = Array("0123456789abcdef".utf8)
                o.append(contentsOf: "\\u00".utf8); o.append(h[Int(b >> 4)]); o.append(h[Int(b & 15)])
            default: o.append(b)
            }
        }
        o.append(UInt8(ascii: "\""))
    }
}

extension Array where Element == UInt8 {
    mutating func appendString(_ s: String) { append(contentsOf: s.utf8) }
}
