/// A slice of the request body. `start == -1` means the field was absent (or null).
/// `escaped` says the JSON string held backslash escapes, so its raw bytes are not its value:
/// call `ParsedBatch.string(_:)` to decode it.
public struct ByteSpan: Sendable, Equatable {
    public var start: Int32
    public var count: Int32
    public var escaped: Bool

    public static let absent = ByteSpan(start: -1, count: 0, escaped: false)
    @inlinable public var isPresent: Bool { start >= 0 }
    @inlinable public init(start: Int32, count: Int32, escaped: Bool) {
        self.start = start; self.count = count; self.escaped = escaped
    }
}

/// What the collector, the router and the live aggregates need from one accepted event, without
/// building any object per field: spans into the request body plus the few numbers.
public struct ParsedEvent: Sendable, Equatable {
    /// Position of the record in the request (0-based).
    public var index: Int32
    /// The record's own bytes in the body (the JSON object, without surrounding whitespace).
    public var recordStart: Int32
    public var recordCount: Int32

    public var siteId = ByteSpan.absent
    public var type = ByteSpan.absent
    public var eventId = ByteSpan.absent
    public var sessionId = ByteSpan.absent
    public var userId = ByteSpan.absent
    public var anonId = ByteSpan.absent
    public var url = ByteSpan.absent
    public var referrer = ByteSpan.absent
    public var title = ByteSpan.absent
    public var ua = ByteSpan.absent
    public var ip = ByteSpan.absent
    public var lang = ByteSpan.absent
    public var screen = ByteSpan.absent
    public var country = ByteSpan.absent
    public var currency = ByteSpan.absent

    /// Client time, epoch milliseconds (RFC 3339 strings are converted).
    public var tsMs: Int64 = 0
    /// The contents of the first `ts` key's value when it is a string (delivery rewrites it as epoch ms), else absent.
    public var tsText = ByteSpan.absent
    /// NaN when absent.
    public var value: Double = .nan
    /// -1 when absent.
    public var engagementMs: Int64 = -1
    /// NaN when absent.
    public var scrollPct: Double = .nan

    @inlinable public init(index: Int32, recordStart: Int32, recordCount: Int32) {
        self.index = index; self.recordStart = recordStart; self.recordCount = recordCount
    }

    /// The partition key Kinesis-style routing uses by default: session_id, else user_id, else site_id.
    /// A Kinesis key is 1–256 bytes, so an empty or longer id is passed over (as `PartitionKeyRule`
    /// does) instead of making the stream refuse a valid event; site_id is always 1–64 bytes.
    @inlinable public var defaultPartitionKey: ByteSpan {
        @inline(__always) func fits(_ s: ByteSpan) -> Bool { s.isPresent && s.count >= 1 && Int(s.count) <= Self.maxPartitionKeyBytes }
        if fits(sessionId) { return sessionId }
        if fits(userId) { return userId }
        return siteId
    }

    /// Kinesis's partition key limit, as the stream enforces it. A span's raw count bounds its unescaped length.
    public static let maxPartitionKeyBytes = Frame.maxKeyBytes
}

/// The result of parsing one request body: accepted events and rejected records, in request order
/// within each list. The body's bytes are kept so spans stay meaningful.
public struct ParsedBatch: Sendable {
    public enum Format: String, Sendable { case ndjson, array }

    public let body: [UInt8]
    public var format: Format
    public var events: [ParsedEvent]
    public var errors: [RecordError]
    /// Records seen (accepted + rejected).
    public var recordCount: Int

    public init(body: [UInt8], format: Format, events: [ParsedEvent], errors: [RecordError], recordCount: Int) {
        self.body = body; self.format = format; self.events = events; self.errors = errors; self.recordCount = recordCount
    }

    /// The decoded string value of a span (escapes resolved). Allocates: for display and tests, not the hot path.
    public func string(_ span: ByteSpan) -> String? {
        guard span.isPresent else { return nil }
        return body.withUnsafeBytes { raw in
            let slice = UnsafeRawBufferPointer(rebasing: raw[Int(span.start)..<Int(span.start + span.count)])
            if !span.escaped { return String(decoding: slice, as: UTF8.self) }
            return JSONString.unescape(slice).map { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// The raw bytes of an accepted event's record.
    public func recordBytes(_ e: ParsedEvent) -> ArraySlice<UInt8> {
        body[Int(e.recordStart)..<Int(e.recordStart + e.recordCount)]
    }
}

/// JSON string escapes, decoded. Only used when a string actually held a backslash.
public enum JSONString {
    /// Decodes the inside of a JSON string (without quotes). The parser has already validated it;
    /// returns nil on anything malformed so this stays safe on unvalidated input too.
    public static func unescape(_ s: UnsafeRawBufferPointer) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = 0
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= s.count else { return nil }
            var v: UInt32 = 0
            for k in 0..<4 {
                let c = s[at + k]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                default: return nil
                }
                v = v << 4 | d
            }
            return v
        }
        while i < s.count {
            let c = s[i]
            if c != 0x5C { out.append(c); i += 1; continue }
            guard i + 1 < s.count else { return nil }
            let e = s[i + 1]
            i += 2
            switch e {
            case 0x22: out.append(0x22)
            case 0x5C: out.append(0x5C)
            case 0x2F: out.append(0x2F)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                guard var cp = hex4(i) else { return nil }
                i += 4
                if cp >= 0xD800 && cp <= 0xDBFF {
                    guard i + 6 <= s.count, s[i] == 0x5C, s[i + 1] == 0x75, let lo = hex4(i + 2),
                          lo >= 0xDC00 && lo <= 0xDFFF else { return nil }
                    i += 6
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                } else if cp >= 0xDC00 && cp <= 0xDFFF {
                    return nil
                }
                appendUTF8(cp, to: &out)
            default: return nil
            }
        }
        return out
    }

    /// Appends the UTF-8 encoding of a (non-surrogate) code point.
    static func appendUTF8(_ cp: UInt32, to out: inout [UInt8]) {
        switch cp {
        case 0..<0x80: out.append(UInt8(cp))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | (cp >> 6))); out.append(UInt8(0x80 | (cp & 0x3F)))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | (cp >> 12))); out.append(UInt8(0x80 | ((cp >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (cp & 0x3F)))
        default:
            out.append(UInt8(0xF0 | (cp >> 18))); out.append(UInt8(0x80 | ((cp >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((cp >> 6) & 0x3F))); out.append(UInt8(0x80 | (cp & 0x3F)))
        }
    }
}
