/// The clickstream event: one JSON object per event. docs/EVENTS.md is the user-facing schema;
/// this file is the machine's view of it: field names, limits and error codes.

/// Error codes of a rejected record. The raw values are part of the HTTP contract: clients see them
/// in per-record results and `/metrics` counts rejects under them.
public enum EventErrorCode: String, Sendable, Codable, CaseIterable {
    case malformedJSON = "malformed_json"
    case invalidUTF8 = "invalid_utf8"
    case notAnObject = "not_an_object"
    case missingField = "missing_field"
    case wrongType = "wrong_type"
    case invalidField = "invalid_field"
    case invalidSiteId = "invalid_site_id"
    case invalidTimestamp = "invalid_timestamp"
    case timestampOutOfRange = "timestamp_out_of_range"
    case recordTooLarge = "record_too_large"
    case nestingTooDeep = "nesting_too_deep"
}

/// Why one record was rejected: a code a program can switch on and a message a person can act on.
public struct RecordError: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Position of the record in the request (0-based, empty NDJSON lines not counted).
    public var index: Int
    public var code: EventErrorCode
    public var message: String
    /// Byte offset in the request body where the problem was found.
    public var offset: Int

    public init(index: Int, code: EventErrorCode, message: String, offset: Int) {
        self.index = index; self.code = code; self.message = message; self.offset = offset
    }
    public var description: String { "record \(index): \(code.rawValue): \(message)" }
}

/// Limits the parser enforces. Defaults follow Kinesis (1 MiB records).
public struct EventLimits: Sendable {
    public var maxRecordBytes: Int = 1 << 20
    public var maxDepth: Int = 32
    /// Oldest acceptable client timestamp: 2000-01-01T00:00:00Z.
    public var minTimestampMs: Int64 = 946_684_800_000
    /// How far in the future of `nowMs` a client clock may run.
    public var maxFutureSkewMs: Int64 = 24 * 3_600_000
    public var maxTypeBytes: Int = 64
    public var maxEventIdBytes: Int = 128
    public init() {}
}

/// Field identity of the known top-level keys. Unknown keys are kept in the record's bytes untouched.
public enum EventField: UInt8, Sendable, CaseIterable {
    case siteId, type, ts, eventId, sessionId, userId, anonId, url, referrer, title, ua, ip, lang, screen
    case country, engagementMs, scrollPct, value, currency, props

    public var jsonName: String {
        switch self {
        case .siteId: "site_id"
        case .type: "type"
        case .ts: "ts"
        case .eventId: "event_id"
        case .sessionId: "session_id"
        case .userId: "user_id"
        case .anonId: "anon_id"
        case .url: "url"
        case .referrer: "referrer"
        case .title: "title"
        case .ua: "ua"
        case .ip: "ip"
        case .lang: "lang"
        case .screen: "screen"
        case .country: "country"
        case .engagementMs: "engagement_ms"
        case .scrollPct: "scroll_pct"
        case .value: "value"
        case .currency: "currency"
        case .props: "props"
        }
    }

    /// Fields whose value must be a JSON string when present (null counts as absent).
    var isString: Bool {
        switch self {
        case .engagementMs, .scrollPct, .value, .props, .ts: false
        default: true
        }
    }
}

/// Checks a site id against `[a-z0-9][a-z0-9._-]{0,63}`. A site id becomes a lake path component,
/// so this is also what keeps it from escaping the lake directory.
@inlinable
public func isValidSiteId(_ p: UnsafeRawBufferPointer) -> Bool {
    guard p.count >= 1, p.count <= 64 else { return false }
    for (i, b) in p.enumerated() {
        let lowerOrDigit = (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
        if i == 0 { if !lowerOrDigit { return false } } else if !(lowerOrDigit || b == 0x2E || b == 0x5F || b == 0x2D) {
            return false
        }
    }
    return true
}

public func isValidSiteId(_ s: String) -> Bool {
    var s = s
    return s.withUTF8 { isValidSiteId(UnsafeRawBufferPointer($0)) }
}
