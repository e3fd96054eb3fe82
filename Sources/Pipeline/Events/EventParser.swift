import Foundation
import CEddy

/// Parses and validates a request body of clickstream events — NDJSON (one object per line) or a
/// JSON array of objects — straight from bytes, in one pass per record.
///
/// Why hand-written: this is the collector's hot path. It builds no Foundation object and no
/// String per event; known fields come out as byte spans into the body (`ParsedEvent`), the record's
/// original bytes are kept as they came, and everything else (unknown fields, `props`) is validated
/// but not materialised. Strings are scanned eight bytes at a time (SWAR) and UTF-8 is validated
/// as it goes.
///
/// NDJSON lines are independent: a broken line rejects that record only. In a JSON array a syntax
/// error leaves no safe place to resume, so the whole body is rejected (nothing half-accepted).
public struct EventParser: Sendable {
    public var limits: EventLimits

    public init(limits: EventLimits = EventLimits()) { self.limits = limits }

    /// Parses `body`. `nowMs` bounds client timestamps (ts ≤ now + allowed skew).
    public func parse(_ body: [UInt8], nowMs: Int64) -> ParsedBatch {
        body.withUnsafeBytes { raw -> ParsedBatch in
            var events: [ParsedEvent] = []
            var errors: [RecordError] = []
            events.reserveCapacity(max(16, raw.count / 400))
            let format = parseRecords(raw, nowMs: nowMs, events: &events, errors: &errors)
            return ParsedBatch(body: body, format: format, events: events, errors: errors,
                               recordCount: events.count + errors.count)
        }
    }

    /// The allocation-free core: appends accepted events and rejected records to the given arrays.
    public func parseRecords(_ raw: UnsafeRawBufferPointer, nowMs: Int64,
                             events: inout [ParsedEvent], errors: inout [RecordError]) -> ParsedBatch.Format {
        guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count > 0 else { return .ndjson }
        let n = raw.count
        var i = 0
        // A UTF-8 byte order mark is tolerated at the very start.
        if n >= 3 && base[0] == 0xEF && base[1] == 0xBB && base[2] == 0xBF { i = 3 }
        while i < n && isSpace(base[i]) { i += 1 }
        if i < n && base[i] == UInt8(ascii: "[") {
            parseArray(base, n, from: i, nowMs: nowMs, events: &events, errors: &errors)
            return .array
        }
        parseLines(base, n, from: i, nowMs: nowMs, events: &events, errors: &errors)
        return .ndjson
    }

    // MARK: NDJSON

    private func parseLines(_ base: UnsafePointer<UInt8>, _ n: Int, from: Int, nowMs: Int64,
                            events: inout [ParsedEvent], errors: inout [RecordError]) {
        var lineStart = from
        var index = 0
        while lineStart < n {
            let nl = memchr(base + lineStart, 0x0A, n - lineStart)
            let lineEnd = nl.map { UnsafePointer<UInt8>($0.assumingMemoryBound(to: UInt8.self)) - base } ?? n
            var s = lineStart, e = lineEnd
            while s < e && isSpace(base[s]) { s += 1 }
            while e > s && isSpace(base[e - 1]) { e -= 1 }
            if s < e {
                if e - s > limits.maxRecordBytes {
                    errors.append(RecordError(index: index, code: .recordTooLarge,
                        message: "record is \(e - s) bytes; the limit is \(limits.maxRecordBytes)", offset: s))
                } else {
                    var c = Cursor(base: base, pos: s, end: e, limits: limits)
                    switch c.parseEvent(index: index, nowMs: nowMs) {
                    case .success(let ev):
                        c.skipSpace()
                        if c.pos != e {
                            errors.append(RecordError(index: index, code: .malformedJSON,
                                message: "malformed JSON at byte \(c.pos): unexpected data after the object (one object per line)",
                                offset: c.pos))
                        } else {
                            events.append(ev)
                        }
                    case .failure(var f):
                        if !f.isSyntax {
                            // A semantic problem leaves the cursor after the object: trailing bytes still make the line malformed.
                            c.skipSpace()
                            if c.pos != e {
                                f = ParseFailure(.malformedJSON,
                                    "malformed JSON at byte \(c.pos): unexpected data after the object (one object per line)", c.pos)
                            }
                        }
                        errors.append(RecordError(index: index, code: f.code, message: f.message, offset: f.offset))
                    }
                }
                index += 1
            }
            lineStart = lineEnd + 1
        }
    }

    // MARK: JSON array

    private func parseArray(_ base: UnsafePointer<UInt8>, _ n: Int, from: Int, nowMs: Int64,
                            events: inout [ParsedEvent], errors: inout [RecordError]) {
        var c = Cursor(base: base, pos: from + 1, end: n, limits: limits)
        var index = 0
        let firstEvent = events.count, firstError = errors.count
        func abandon(_ f: ParseFailure) {
            // A broken array: nothing in it is accepted. One error names where it broke.
            events.removeSubrange(firstEvent...)
            errors.removeSubrange(firstError...)
            errors.append(RecordError(index: index, code: f.code, message: f.message, offset: f.offset))
        }
        c.skipSpace()
        if c.pos < n && base[c.pos] == UInt8(ascii: "]") {
            c.pos += 1
        } else {
            while true {
                c.skipSpace()
                let start = c.pos
                if c.pos < n && base[c.pos] != UInt8(ascii: "{") {
                    // Not an object: skip the value if it is well-formed, reject this record only.
                    switch c.skipValue(depth: 1) {
                    case .success:
                        errors.append(RecordError(index: index, code: .notAnObject,
                            message: "record must be a JSON object", offset: start))
                    case .failure(let f): abandon(f); return
                    }
                } else {
                    switch c.parseEvent(index: index, nowMs: nowMs) {
                    case .success(let ev):
                        if c.pos - start > limits.maxRecordBytes {
                            errors.append(RecordError(index: index, code: .recordTooLarge,
                                message: "record is \(c.pos - start) bytes; the limit is \(limits.maxRecordBytes)", offset: start))
                        } else {
                            events.append(ev)
                        }
                    case .failure(let f):
                        if f.isSyntax {
                            abandon(f); return
                        }
                        // A semantic problem in a well-formed record: skip it and go on.
                        c.pos = start
                        if case .failure(let g) = c.skipValue(depth: 1) { abandon(g); return }
                        errors.append(RecordError(index: index, code: f.code, message: f.message, offset: f.offset))
                    }
                }
                index += 1
                c.skipSpace()
                guard c.pos < n else {
                    abandon(ParseFailure(.malformedJSON, "malformed JSON at byte \(c.pos): unterminated array", c.pos)); return
                }
                if base[c.pos] == UInt8(ascii: ",") { c.pos += 1; continue }
                if base[c.pos] == UInt8(ascii: "]") { c.pos += 1; break }
                abandon(ParseFailure(.malformedJSON, "malformed JSON at byte \(c.pos): expected ',' or ']' in array", c.pos)); return
            }
        }
        c.skipSpace()
        if c.pos != n {
            abandon(ParseFailure(.malformedJSON, "malformed JSON at byte \(c.pos): unexpected data after the array", c.pos))
        }
    }
}

@inline(__always) func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

struct ParseFailure: Error {
    /// Syntax problems leave the cursor somewhere inside the record; semantic ones after it.
    var isSyntax: Bool { code == .malformedJSON || code == .invalidUTF8 || code == .nestingTooDeep }
    var code: EventErrorCode
    var message: String
    var offset: Int
    init(_ code: EventErrorCode, _ message: String, _ offset: Int) {
        self.code = code; self.message = message; self.offset = offset
    }
}

/// The JSON kind of a value, for error messages and type checks.
enum JSONKind: String { case string, number, object, array, bool = "boolean", null }

/// A read position over one record. All offsets are absolute in the body.
struct Cursor {
    let base: UnsafePointer<UInt8>
    var pos: Int
    let end: Int
    let limits: EventLimits

    @inline(__always) mutating func skipSpace() {
        while pos < end && isSpace(base[pos]) { pos += 1 }
    }

    func fail(_ what: String) -> ParseFailure {
        if pos >= end { return ParseFailure(.malformedJSON, "malformed JSON at byte \(pos): unexpected end of input, \(what)", pos) }
        let b = base[pos]
        let shown = b >= 0x20 && b < 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : String(format: "byte 0x%02X", b)
        return ParseFailure(.malformedJSON, "malformed JSON at byte \(pos): \(what), found \(shown)", pos)
    }

    // MARK: The event object

    mutating func parseEvent(index: Int, nowMs: Int64) -> Result<ParsedEvent, ParseFailure> {
        skipSpace()
        let start = pos
        guard pos < end else { return .failure(fail("expected an object")) }
        guard base[pos] == UInt8(ascii: "{") else {
            let b = base[pos]
            if b == UInt8(ascii: "[") || b == UInt8(ascii: "\"") || b == UInt8(ascii: "-") || (b >= 0x30 && b <= 0x39)
                || b == UInt8(ascii: "t") || b == UInt8(ascii: "f") || b == UInt8(ascii: "n") {
                // Well-formed but not an object? Only say so if it really parses.
                if case .failure(let f) = skipValue(depth: 1) { return .failure(f) }
                return .failure(ParseFailure(.notAnObject, "record must be a JSON object", start))
            }
            return .failure(fail("expected '{'"))
        }
        pos += 1
        var ev = ParsedEvent(index: Int32(index), recordStart: Int32(start), recordCount: 0)
        var sawTs = false
        // First semantic problem; syntax is still checked to the end. (Set inline, not through a
        // local closure: a closure capturing a var boxes it on the heap once per event.)
        var semantic: ParseFailure? = nil

        skipSpace()
        if pos < end && base[pos] == UInt8(ascii: "}") {
            pos += 1
        } else {
            while true {
                skipSpace()
                guard pos < end, base[pos] == UInt8(ascii: "\"") else { return .failure(fail("expected a quoted object key")) }
                let keyStart = pos + 1
                let key: (span: ByteSpan, end: Int)
                switch scanString() { case .success(let s): key = s; case .failure(let f): return .failure(f) }
                skipSpace()
                guard pos < end, base[pos] == UInt8(ascii: ":") else { return .failure(fail("expected ':' after object key")) }
                pos += 1
                skipSpace()
                let field = key.span.escaped ? fieldOfEscapedKey(key.span) : fieldOf(base + keyStart, Int(key.span.count))
                let valueStart = pos
                guard pos < end else { return .failure(fail("expected a value")) }
                let b = base[pos]
                if let field {
                    switch b {
                    case UInt8(ascii: "\""):
                        let s: (span: ByteSpan, end: Int)
                        switch scanString() { case .success(let v): s = v; case .failure(let f): return .failure(f) }
                        if field.isString {
                            assign(field, s.span, to: &ev)
                        } else if field == .ts {
                            if !sawTs { ev.tsText = s.span }   // the first ts is the one delivery rewrites
                            sawTs = true
                            switch RFC3339.parseMs(base + Int(s.span.start), Int(s.span.count)) {
                            case .some(let ms): ev.tsMs = ms
                            case .none: if semantic == nil { semantic = ParseFailure(.invalidTimestamp,
                                "ts must be epoch milliseconds or an RFC 3339 time like 2026-11-26T09:30:00Z", valueStart) }
                            }
                        } else {
                            if semantic == nil { semantic = wrongType(field, .string, valueStart) }
                        }
                    case UInt8(ascii: "-"), 0x30...0x39:
                        let num: NumberToken
                        switch scanNumber() { case .success(let v): num = v; case .failure(let f): return .failure(f) }
                        switch field {
                        case .ts:
                            sawTs = true
                            if let ms = num.integer { ev.tsMs = ms } else if let d = num.double(base), d.rounded() == d, abs(d) < 9.2e18 {
                                ev.tsMs = Int64(d)
                            } else {
                                if semantic == nil { semantic = ParseFailure(.invalidTimestamp, "ts must be a whole number of epoch milliseconds", valueStart) }
                            }
                        case .value:
                            ev.value = num.double(base) ?? .nan
                        case .scrollPct:
                            ev.scrollPct = num.double(base) ?? .nan
                        case .engagementMs:
                            if let v = num.integer, v >= 0 { ev.engagementMs = v } else if let d = num.double(base), d >= 0, d < 9.2e18 {
                                ev.engagementMs = Int64(d)
                            } else {
                                if semantic == nil { semantic = ParseFailure(.invalidField, "engagement_ms must be a non-negative number", valueStart) }
                            }
                        default:
                            if semantic == nil { semantic = wrongType(field, .number, valueStart) }
                        }
                    case UInt8(ascii: "n"):
                        if case .failure(let f) = literal("null") { return .failure(f) }
                        // null reads as absent for optional fields.
                    case UInt8(ascii: "{"):
                        if field == .props {
                            if case .failure(let f) = scanProps() { return .failure(f) }
                            if let bad = propsProblem { if semantic == nil { semantic = bad } }
                        } else {
                            if case .failure(let f) = skipValue(depth: 1) { return .failure(f) }
                            if semantic == nil { semantic = wrongType(field, .object, valueStart) }
                        }
                    case UInt8(ascii: "["):
                        if case .failure(let f) = skipValue(depth: 1) { return .failure(f) }
                        if semantic == nil { semantic = wrongType(field, .array, valueStart) }
                    case UInt8(ascii: "t"), UInt8(ascii: "f"):
                        if case .failure(let f) = skipValue(depth: 1) { return .failure(f) }
                        if semantic == nil { semantic = wrongType(field, .bool, valueStart) }
                    default:
                        return .failure(fail("expected a value"))
                    }
                } else {
                    if case .failure(let f) = skipValue(depth: 1) { return .failure(f) }
                }
                skipSpace()
                guard pos < end else { return .failure(fail("expected ',' or '}'")) }
                if base[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if base[pos] == UInt8(ascii: "}") { pos += 1; break }
                return .failure(fail("expected ',' or '}' after a value"))
            }
        }
        ev.recordCount = Int32(pos - start)
        if let semantic { return .failure(semantic) }

        // Required fields, in the order a person would fix them.
        guard ev.siteId.isPresent else { return .failure(ParseFailure(.missingField, "site_id is required", start)) }
        if ev.siteId.escaped || !isValidSiteId(UnsafeRawBufferPointer(start: base + Int(ev.siteId.start), count: Int(ev.siteId.count))) {
            let shown = String(decoding: UnsafeRawBufferPointer(start: base + Int(ev.siteId.start), count: min(Int(ev.siteId.count), 80)), as: UTF8.self)
            return .failure(ParseFailure(.invalidSiteId,
                "site_id \"\(shown)\" must match [a-z0-9][a-z0-9._-]{0,63}", Int(ev.siteId.start)))
        }
        guard ev.type.isPresent else { return .failure(ParseFailure(.missingField, "type is required", start)) }
        if ev.type.count == 0 || Int(ev.type.count) > limits.maxTypeBytes || ev.type.escaped
            || !isValidTypeName(base + Int(ev.type.start), Int(ev.type.count)) {
            return .failure(ParseFailure(.invalidField,
                "type must be 1–\(limits.maxTypeBytes) characters of [A-Za-z0-9_.:-] (page_view, click, purchase, …)", Int(ev.type.start)))
        }
        guard sawTs else { return .failure(ParseFailure(.missingField, "ts is required (epoch milliseconds or RFC 3339)", start)) }
        if ev.tsMs < limits.minTimestampMs || ev.tsMs > nowMs + limits.maxFutureSkewMs {
            let hint = ev.tsMs > 946_684_800 && ev.tsMs < 4_102_444_800 ? " (it looks like epoch seconds; send milliseconds)" : ""
            return .failure(ParseFailure(.timestampOutOfRange,
                "ts \(ev.tsMs) is outside 2000-01-01 … now + \(limits.maxFutureSkewMs / 3_600_000) h\(hint)", start))
        }
        if ev.eventId.isPresent && (ev.eventId.count == 0 || Int(ev.eventId.count) > limits.maxEventIdBytes) {
            return .failure(ParseFailure(.invalidField, "event_id must be 1–\(limits.maxEventIdBytes) bytes", Int(ev.eventId.start)))
        }
        return .success(ev)
    }

    /// Set by `scanProps` when a prop value is not a scalar (the syntax was still fine).
    var propsProblem: ParseFailure? = nil

    func wrongType(_ field: EventField, _ found: JSONKind, _ at: Int) -> ParseFailure {
        let want: String
        switch field {
        case .props: want = "an object of scalars"
        case .ts: want = "epoch milliseconds or an RFC 3339 string"
        case .value, .scrollPct, .engagementMs: want = "a number"
        default: want = "a string"
        }
        return ParseFailure(.wrongType, "\(field.jsonName) must be \(want), not \(found.rawValue)", at)
    }

    @inline(__always) func assign(_ f: EventField, _ s: ByteSpan, to ev: inout ParsedEvent) {
        switch f {
        case .siteId: ev.siteId = s
        case .type: ev.type = s
        case .eventId: ev.eventId = s
        case .sessionId: ev.sessionId = s
        case .userId: ev.userId = s
        case .anonId: ev.anonId = s
        case .url: ev.url = s
        case .referrer: ev.referrer = s
        case .title: ev.title = s
        case .ua: ev.ua = s
        case .ip: ev.ip = s
        case .lang: ev.lang = s
        case .screen: ev.screen = s
        case .country: ev.country = s
        case .currency: ev.currency = s
        case .ts, .engagementMs, .scrollPct, .value, .props: break
        }
    }

    /// `props` must be a flat object of scalars. Syntax errors fail the parse; a nested value is a
    /// semantic problem stored in `propsProblem`.
    mutating func scanProps() -> Result<Void, ParseFailure> {
        propsProblem = nil
        pos += 1
        skipSpace()
        if pos < end && base[pos] == UInt8(ascii: "}") { pos += 1; return .success(()) }
        while true {
            skipSpace()
            guard pos < end, base[pos] == UInt8(ascii: "\"") else { return .failure(fail("expected a quoted object key")) }
            let keyStart = pos + 1
            let k: (span: ByteSpan, end: Int)
            switch scanString() { case .success(let v): k = v; case .failure(let f): return .failure(f) }
            skipSpace()
            guard pos < end, base[pos] == UInt8(ascii: ":") else { return .failure(fail("expected ':' after object key")) }
            pos += 1
            skipSpace()
            let vStart = pos
            if pos < end && (base[pos] == UInt8(ascii: "{") || base[pos] == UInt8(ascii: "[")) {
                let kind: JSONKind = base[pos] == UInt8(ascii: "{") ? .object : .array
                if case .failure(let f) = skipValue(depth: 2) { return .failure(f) }
                if propsProblem == nil {
                    let name = String(decoding: UnsafeRawBufferPointer(start: base + keyStart, count: min(Int(k.span.count), 64)), as: UTF8.self)
                    propsProblem = ParseFailure(.wrongType, "props.\(name) must be a scalar, not \(kind.rawValue)", vStart)
                }
            } else {
                if case .failure(let f) = skipValue(depth: 2) { return .failure(f) }
            }
            skipSpace()
            guard pos < end else { return .failure(fail("expected ',' or '}'")) }
            if base[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if base[pos] == UInt8(ascii: "}") { pos += 1; return .success(()) }
            return .failure(fail("expected ',' or '}' after a value"))
        }
    }

    // MARK: Generic values (validated, not materialised)

    mutating func skipValue(depth: Int) -> Result<Void, ParseFailure> {
        guard depth <= limits.maxDepth else {
            return .failure(ParseFailure(.nestingTooDeep, "nesting deeper than \(limits.maxDepth) levels at byte \(pos)", pos))
        }
        skipSpace()
        guard pos < end else { return .failure(fail("expected a value")) }
        switch base[pos] {
        case UInt8(ascii: "\""):
            if case .failure(let f) = scanString() { return .failure(f) }
            return .success(())
        case UInt8(ascii: "-"), 0x30...0x39:
            if case .failure(let f) = scanNumber() { return .failure(f) }
            return .success(())
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        case UInt8(ascii: "{"):
            pos += 1
            skipSpace()
            if pos < end && base[pos] == UInt8(ascii: "}") { pos += 1; return .success(()) }
            while true {
                skipSpace()
                guard pos < end, base[pos] == UInt8(ascii: "\"") else { return .failure(fail("expected a quoted object key")) }
                if case .failure(let f) = scanString() { return .failure(f) }
                skipSpace()
                guard pos < end, base[pos] == UInt8(ascii: ":") else { return .failure(fail("expected ':' after object key")) }
                pos += 1
                if case .failure(let f) = skipValue(depth: depth + 1) { return .failure(f) }
                skipSpace()
                guard pos < end else { return .failure(fail("expected ',' or '}'")) }
                if base[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if base[pos] == UInt8(ascii: "}") { pos += 1; return .success(()) }
                return .failure(fail("expected ',' or '}' after a value"))
            }
        case UInt8(ascii: "["):
            pos += 1
            skipSpace()
            if pos < end && base[pos] == UInt8(ascii: "]") { pos += 1; return .success(()) }
            while true {
                if case .failure(let f) = skipValue(depth: depth + 1) { return .failure(f) }
                skipSpace()
                guard pos < end else { return .failure(fail("expected ',' or ']'")) }
                if base[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if base[pos] == UInt8(ascii: "]") { pos += 1; return .success(()) }
                return .failure(fail("expected ',' or ']' in array"))
            }
        default:
            return .failure(fail("expected a value"))
        }
    }

    mutating func literal(_ word: StaticString) -> Result<Void, ParseFailure> {
        let n = word.utf8CodeUnitCount
        guard pos + n <= end, memcmp(base + pos, word.utf8Start, n) == 0 else {
            return .failure(fail("expected '\(word)'"))
        }
        pos += n
        return .success(())
    }

    // MARK: Strings

    /// Scans a string starting at the opening quote. Returns the span of its contents (between the
    /// quotes) and leaves `pos` after the closing quote. Validates escapes and UTF-8.
    mutating func scanString() -> Result<(span: ByteSpan, end: Int), ParseFailure> {
        let open = pos
        pos += 1
        let contentStart = pos
        var escaped = false
        while true {
            // Fast path: plain bytes (no quote, backslash, control or non-ASCII byte) 16 at a time,
            // SSE2 in C (Swift's SIMD16 compares measured 100× slower here: they did not lower to
            // SSE; the 8-byte SWAR loop before this spent 13 % of a delivery profile).
            pos += eddy_json_plain_prefix(base + pos, end - pos)
            guard pos < end else {
                return .failure(ParseFailure(.malformedJSON, "malformed JSON at byte \(open): unterminated string", open))
            }
            let b = base[pos]
            if b == UInt8(ascii: "\"") {
                let span = ByteSpan(start: Int32(contentStart), count: Int32(pos - contentStart), escaped: escaped)
                pos += 1
                return .success((span, pos))
            }
            if b == UInt8(ascii: "\\") {
                escaped = true
                if case .failure(let f) = scanEscape() { return .failure(f) }
                continue
            }
            if b < 0x20 {
                let what = b == 0 ? "a NUL byte" : String(format: "control byte 0x%02X", b)
                return .failure(ParseFailure(.malformedJSON,
                    "malformed JSON at byte \(pos): \(what) inside a string (escape it as \\u00XX)", pos))
            }
            if b < 0x80 { pos += 1; continue }
            if case .failure(let f) = scanUTF8() { return .failure(f) }
        }
    }

    mutating func scanEscape() -> Result<Void, ParseFailure> {
        let at = pos
        guard pos + 1 < end else {
            return .failure(ParseFailure(.malformedJSON, "malformed JSON at byte \(at): unterminated escape", at))
        }
        let e = base[pos + 1]
        switch e {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
             UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            pos += 2
            return .success(())
        case UInt8(ascii: "u"):
            guard let cp = hex4(at: pos + 2) else {
                return .failure(ParseFailure(.malformedJSON, "malformed JSON at byte \(at): \\u must be followed by 4 hex digits", at))
            }
            pos += 6
            if cp >= 0xD800 && cp <= 0xDBFF {
                guard pos + 6 <= end, base[pos] == UInt8(ascii: "\\"), base[pos + 1] == UInt8(ascii: "u"),
                      let lo = hex4(at: pos + 2), lo >= 0xDC00 && lo <= 0xDFFF else {
                    return .failure(ParseFailure(.invalidUTF8,
                        "invalid UTF-8 at byte \(at): high surrogate \\u\(String(cp, radix: 16, uppercase: true)) without a low surrogate", at))
                }
                pos += 6
            } else if cp >= 0xDC00 && cp <= 0xDFFF {
                return .failure(ParseFailure(.invalidUTF8,
                    "invalid UTF-8 at byte \(at): lone low surrogate \\u\(String(cp, radix: 16, uppercase: true))", at))
            }
            return .success(())
        default:
            return .failure(ParseFailure(.malformedJSON, "malformed JSON at byte \(at): invalid escape '\\\(Character(Unicode.Scalar(e)))'", at))
        }
    }

    func hex4(at: Int) -> UInt32? {
        guard at + 4 <= end else { return nil }
        var v: UInt32 = 0
        for k in 0..<4 {
            let c = base[at + k]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c &- 0x30)
            case 0x61...0x66: d = UInt32(c &- 0x61 &+ 10)
            case 0x41...0x46: d = UInt32(c &- 0x41 &+ 10)
            default: return nil
            }
            v = v << 4 | d
        }
        return v
    }

    /// Validates one multi-byte UTF-8 sequence at `pos` (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF).
    mutating func scanUTF8() -> Result<Void, ParseFailure> {
        let b0 = base[pos]
        let need: Int
        var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
        switch b0 {
        case 0xC2...0xDF: need = 1
        case 0xE0: need = 2; lo = 0xA0
        case 0xE1...0xEC, 0xEE, 0xEF: need = 2
        case 0xED: need = 2; hi = 0x9F
        case 0xF0: need = 3; lo = 0x90
        case 0xF1...0xF3: need = 3
        case 0xF4: need = 3; hi = 0x8F
        default:
            return .failure(ParseFailure(.invalidUTF8, String(format: "invalid UTF-8 at byte %d: 0x%02X cannot start a character", pos, b0), pos))
        }
        guard pos + need < end else {
            return .failure(ParseFailure(.invalidUTF8, "invalid UTF-8 at byte \(pos): truncated character", pos))
        }
        let b1 = base[pos + 1]
        guard b1 >= lo && b1 <= hi else {
            return .failure(ParseFailure(.invalidUTF8, "invalid UTF-8 at byte \(pos): bad continuation byte", pos))
        }
        for k in 2...max(2, need) where k <= need {
            let bk = base[pos + k]
            guard bk & 0xC0 == 0x80 else {
                return .failure(ParseFailure(.invalidUTF8, "invalid UTF-8 at byte \(pos): bad continuation byte", pos))
            }
        }
        pos += need + 1
        return .success(())
    }

    // MARK: Numbers

    struct NumberToken {
        var start: Int
        var end: Int
        /// Set when the number is an integer that fits Int64.
        var integer: Int64?

        /// The number as a Double. Fast path is exact (Clinger): ≤ 15 digits and a power of ten ≤ 22.
        func double(_ base: UnsafePointer<UInt8>) -> Double? {
            if let i = integer, abs(i) < (1 << 53) { return Double(i) }
            var mant: UInt64 = 0, digits = 0, exp10 = 0, neg = false, i = start, simple = true
            if base[i] == UInt8(ascii: "-") { neg = true; i += 1 }
            var afterDot = false
            while i < end {
                let c = base[i]
                if c >= 0x30 && c <= 0x39 {
                    if digits < 19 { mant = mant &* 10 &+ UInt64(c - 0x30); digits += mant == 0 ? 0 : 1; if afterDot { exp10 -= 1 } }
                    else if !afterDot { exp10 += 1 }
                } else if c == UInt8(ascii: ".") { afterDot = true } else { simple = false; break }
                i += 1
            }
            if simple && digits <= 15 && exp10 >= -22 && exp10 <= 22 {
                var d = Double(mant)
                let p = pow10[abs(exp10)]
                d = exp10 < 0 ? d / p : d * p
                return neg ? -d : d
            }
            // Slow path: strtod on a NUL-terminated copy (exponents, long mantissas).
            let len = end - start
            return withUnsafeTemporaryAllocation(of: CChar.self, capacity: len + 1) { buf -> Double? in
                guard let p = buf.baseAddress else { return nil }
                memcpy(p, base + start, len)
                p[len] = 0
                let v = strtod(p, nil)
                return v.isFinite ? v : nil
            }
        }
    }

    mutating func scanNumber() -> Result<NumberToken, ParseFailure> {
        let start = pos
        var neg = false
        if base[pos] == UInt8(ascii: "-") { neg = true; pos += 1 }
        guard pos < end, base[pos] >= 0x30 && base[pos] <= 0x39 else { return .failure(fail("expected a digit")) }
        var value: Int64 = 0
        var overflow = false
        if base[pos] == 0x30 {
            pos += 1
        } else {
            while pos < end, base[pos] >= 0x30 && base[pos] <= 0x39 {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(base[pos] - 0x30))
                overflow = overflow || o1 || o2
                value = a
                pos += 1
            }
        }
        var isInteger = true
        if pos < end && base[pos] == UInt8(ascii: ".") {
            isInteger = false
            pos += 1
            guard pos < end, base[pos] >= 0x30 && base[pos] <= 0x39 else { return .failure(fail("expected a digit after '.'")) }
            while pos < end, base[pos] >= 0x30 && base[pos] <= 0x39 { pos += 1 }
        }
        if pos < end && (base[pos] == UInt8(ascii: "e") || base[pos] == UInt8(ascii: "E")) {
            isInteger = false
            pos += 1
            if pos < end && (base[pos] == UInt8(ascii: "+") || base[pos] == UInt8(ascii: "-")) { pos += 1 }
            guard pos < end, base[pos] >= 0x30 && base[pos] <= 0x39 else { return .failure(fail("expected a digit in the exponent")) }
            while pos < end, base[pos] >= 0x30 && base[pos] <= 0x39 { pos += 1 }
        }
        let integer: Int64? = isInteger && !overflow ? (neg ? -value : value) : nil
        return .success(NumberToken(start: start, end: pos, integer: integer))
    }

    // MARK: Keys

    /// Maps a raw (unescaped) key to a known field. Switch on length first, then compare bytes.
    @inline(__always) func fieldOf(_ p: UnsafePointer<UInt8>, _ n: Int) -> EventField? {
        @inline(__always) func eq(_ s: StaticString) -> Bool { memcmp(p, s.utf8Start, n) == 0 }
        switch n {
        case 2:
            if eq("ts") { return .ts }
            if eq("ua") { return .ua }
            if eq("ip") { return .ip }
        case 3: if eq("url") { return .url }
        case 4:
            if eq("type") { return .type }
            if eq("lang") { return .lang }
        case 5:
            if eq("title") { return .title }
            if eq("value") { return .value }
            if eq("props") { return .props }
        case 6: if eq("screen") { return .screen }
        case 7:
            if eq("site_id") { return .siteId }
            if eq("user_id") { return .userId }
            if eq("anon_id") { return .anonId }
            if eq("country") { return .country }
        case 8:
            if eq("event_id") { return .eventId }
            if eq("referrer") { return .referrer }
            if eq("currency") { return .currency }
        case 10:
            if eq("session_id") { return .sessionId }
            if eq("scroll_pct") { return .scrollPct }
        case 13: if eq("engagement_ms") { return .engagementMs }
        default: break
        }
        return nil
    }

    func fieldOfEscapedKey(_ span: ByteSpan) -> EventField? {
        guard let raw = JSONString.unescape(UnsafeRawBufferPointer(start: base + Int(span.start), count: Int(span.count))) else { return nil }
        return raw.withUnsafeBufferPointer { b in b.baseAddress.flatMap { fieldOf($0, b.count) } }
    }
}

@inline(__always) func isValidTypeName(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    for i in 0..<n {
        let b = p[i]
        let ok = (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39)
            || b == 0x5F || b == 0x2E || b == 0x3A || b == 0x2D
        if !ok { return false }
    }
    return true
}

private let pow10: [Double] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22]
