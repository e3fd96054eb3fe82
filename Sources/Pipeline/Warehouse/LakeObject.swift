import CZlib
import CZstd
import Foundation

/// The typed columns of an enriched lake line (docs/LAKE.md), in the order of the `events` table.
/// The order is part of the schema: `events`, `lake_events` and the loader's INSERT use it.
public enum EventColumn: Int, CaseIterable, Sendable {
    case eventId, siteId, type, ts, arrivalMs, seq, shard, sessionId, userId, anonId, url, referrer, title, ua
    case lang, screen, country, engagementMs, scrollPct, value, currency, props
    case urlHost, urlPath, urlQuery, utmSource, utmMedium, utmCampaign, utmTerm, utmContent, refHost, channel
    case browser, browserVersion, os, device, isBot, botReason, geoCountry, ip, fingerprint

    public enum Kind: Sendable { case text, integer, real, bool, json }

    public var name: String { Self.names[rawValue] }
    public var kind: Kind {
        switch self {
        case .ts, .arrivalMs, .engagementMs: .integer
        case .scrollPct, .value: .real
        case .isBot: .bool
        case .props: .json
        default: .text
        }
    }
    public var sqlType: String {
        switch kind {
        case .integer, .bool: "INTEGER"
        case .real: "REAL"
        case .text, .json: "TEXT"
        }
    }
    public static let names = [
        "event_id", "site_id", "type", "ts", "arrival_ms", "seq", "shard", "session_id", "user_id", "anon_id", "url",
        "referrer", "title", "ua", "lang", "screen", "country", "engagement_ms", "scroll_pct", "value", "currency", "props",
        "url_host", "url_path", "url_query", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
        "ref_host", "channel", "browser", "browser_version", "os", "device", "is_bot", "bot_reason", "geo_country", "ip",
        "fingerprint",
    ]
    static let count = names.count
    /// Keys as two little-endian words (bytes 0..<8 and 8..<16, zero-padded) by byte length, for
    /// matching a key with two integer compares instead of memcmp calls over Swift arrays (which
    /// cost a retain/release per candidate). `keySlots` candidates per length; column -1 ends a list.
    static let keySlots = 8, maxKeyLength = 16
    nonisolated(unsafe) static let keyTable: UnsafePointer<Int64> = {
        let t = UnsafeMutablePointer<Int64>.allocate(capacity: (maxKeyLength + 1) * keySlots * 3)
        t.initialize(repeating: -1, count: (maxKeyLength + 1) * keySlots * 3)
        var used = [Int](repeating: 0, count: maxKeyLength + 1)
        for (i, n) in names.enumerated() {
            let b = Array(n.utf8)
            guard b.count <= maxKeyLength, used[b.count] < keySlots else { continue } // never: checked by a test
            var lo: UInt64 = 0, hi: UInt64 = 0
            for (k, x) in b.enumerated() { if k < 8 { lo |= UInt64(x) << (8 * k) } else { hi |= UInt64(x) << (8 * (k - 8)) } }
            let at = (b.count * keySlots + used[b.count]) * 3
            t[at] = Int64(bitPattern: lo); t[at + 1] = Int64(bitPattern: hi); t[at + 2] = Int64(i)
            used[b.count] += 1
        }
        return UnsafePointer(t)
    }()

    /// The column whose name is the `n` bytes at `p`, or -1.
    @inline(__always) static func column(key p: UnsafePointer<UInt8>, _ n: Int, table t: UnsafePointer<Int64>) -> Int {
        guard n > 0, n <= maxKeyLength else { return -1 }
        var lo: UInt64 = 0, hi: UInt64 = 0
        if n >= 8 {
            lo = UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)
            var k = 8
            while k < n { hi |= UInt64(p[k]) << (8 * (k - 8)); k += 1 }
        } else {
            var k = 0
            while k < n { lo |= UInt64(p[k]) << (8 * k); k += 1 }
        }
        var at = n * keySlots * 3
        let end = at + keySlots * 3
        while at < end {
            let c = t[at + 2]
            if c < 0 { return -1 }
            if t[at] == Int64(bitPattern: lo) && t[at + 1] == Int64(bitPattern: hi) { return Int(c) }
            at += 3
        }
        return -1
    }
}

/// Errors reading a lake object.
public struct LakeReadError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var message: String
    /// 1-based line number inside the (decompressed) object, when the problem is in a line.
    public var line: Int?
    public var description: String { "\(path)\(line.map { ":\($0)" } ?? ""): \(message)" }
}

/// Streams the lines of one lake object (zstd, gzip or plain by extension), decompressing a chunk
/// at a time into one growable buffer. `compressedBytesRead` is what Athena would bill for.
final class LakeObjectReader {
    enum Codec { case plain, zstd, gzip }
    let path: String
    let codec: Codec
    private let fd: Int32
    private static let inCap = 1 << 18
    private static let chunk = 1 << 18
    private let inBuf: UnsafeMutablePointer<UInt8>
    private var inPos = 0, inLen = 0
    private var eofIn = false
    /// Decompressed bytes: [outStart, len) not yet returned as lines.
    private var buf: UnsafeMutablePointer<UInt8>
    private var cap: Int
    private var len = 0
    private var outStart = 0
    /// Offset (relative to outStart) up to which the buffer has been searched for a newline.
    private var searched = 0
    private var dstream: OpaquePointer?
    private var zs = z_stream()
    private var zDone = false
    /// The last decompress call filled its output: it may hold more without further input.
    private var decoderHasMore = false
    private(set) var compressedBytesRead: Int64 = 0
    private(set) var lineNumber = 0

    static func codec(for path: String) -> Codec {
        path.hasSuffix(".zst") ? .zstd : path.hasSuffix(".gz") ? .gzip : .plain
    }

    init(path: String) throws {
        self.path = path
        codec = Self.codec(for: path)
        fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw LakeReadError(path: path, message: "cannot open: \(String(cString: strerror(errno)))") }
        inBuf = .allocate(capacity: Self.inCap)
        cap = 1 << 20
        buf = .allocate(capacity: cap)
        switch codec {
        case .zstd: dstream = ZSTD_createDStream(); ZSTD_initDStream(dstream)
        case .gzip:
            let rc = inflateInit2_(&zs, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            guard rc == Z_OK else { throw LakeReadError(path: path, message: "inflateInit failed") }
        case .plain: break
        }
    }

    deinit {
        close(fd)
        inBuf.deallocate()
        buf.deallocate()
        if let dstream { ZSTD_freeDStream(dstream) }
        if codec == .gzip { inflateEnd(&zs) }
    }

    private func fillInput() throws {
        if inPos < inLen || eofIn { return }
        let n = read(fd, inBuf, Self.inCap)
        if n < 0 { throw LakeReadError(path: path, message: "read failed: \(String(cString: strerror(errno)))") }
        if n == 0 { eofIn = true }
        inPos = 0; inLen = n
        compressedBytesRead += Int64(n)
    }

    private func reserve(_ n: Int) { RawBytes.reserve(&buf, capacity: &cap, used: len, more: n) }

    /// Decompresses more into the buffer; false at end of input.
    private func more() throws -> Bool {
        if outStart > 0 {
            memmove(buf, buf + outStart, len - outStart)
            len -= outStart; outStart = 0
        }
        try fillInput()
        if inPos >= inLen && eofIn && !decoderHasMore { return false }
        switch codec {
        case .plain:
            reserve(inLen - inPos)
            (buf + len).update(from: inBuf + inPos, count: inLen - inPos)
            len += inLen - inPos
            inPos = inLen
        case .zstd:
            reserve(Self.chunk)
            var input = ZSTD_inBuffer(src: inBuf + inPos, size: inLen - inPos, pos: 0)
            var output = ZSTD_outBuffer(dst: buf + len, size: Self.chunk, pos: 0)
            let rc = ZSTD_decompressStream(dstream, &output, &input)
            if ZSTD_isError(rc) != 0 { throw LakeReadError(path: path, message: "zstd: \(String(cString: ZSTD_getErrorName(rc)))") }
            inPos += input.pos
            len += output.pos
            decoderHasMore = output.pos == Self.chunk
        case .gzip:
            if zDone { inPos = inLen; decoderHasMore = false; return true }
            reserve(Self.chunk)
            zs.next_in = inBuf + inPos
            zs.avail_in = UInt32(inLen - inPos)
            zs.next_out = buf + len
            zs.avail_out = UInt32(Self.chunk)
            let rc = inflate(&zs, Z_NO_FLUSH)
            if rc == Z_STREAM_END { zDone = true } else if rc != Z_OK && rc != Z_BUF_ERROR {
                throw LakeReadError(path: path, message: "gzip: inflate error \(rc)")
            }
            inPos = inLen - Int(zs.avail_in)
            len += Self.chunk - Int(zs.avail_out)
            decoderHasMore = !zDone && zs.avail_out == 0
        }
        return true
    }

    /// The next non-empty line as a range of the buffer, valid until the next call. nil at the end.
    func nextLine() throws -> Range<Int>? {
        while true {
            let from = outStart + searched
            if from < len, let nl = memchr(buf + from, 0x0A, len - from) {
                let end = buf.distance(to: nl.assumingMemoryBound(to: UInt8.self))
                let r = outStart..<end
                outStart = end + 1
                searched = 0
                lineNumber += 1
                if r.isEmpty { continue }
                return r
            }
            searched = len - outStart
            if try !more() {
                searched = 0
                if len > outStart {
                    lineNumber += 1
                    let r = outStart..<len
                    outStart = len
                    return r
                }
                return nil
            }
        }
    }

    /// Calls `body` with a line range returned by `nextLine()`.
    @inline(__always) func withLine<T>(_ r: Range<Int>, _ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        try body(UnsafeBufferPointer(start: buf + r.lowerBound, count: r.count))
    }

    /// Calls `body` with each non-empty line (without the newline). Stops early when body returns false.
    func forEachLine(_ body: (UnsafeBufferPointer<UInt8>) throws -> Bool) throws {
        while let r = try nextLine() {
            if try !withLine(r, body) { return }
        }
    }
}

/// Where each typed column's value lies in one line. Spans index the line buffer; strings with
/// escapes are decoded into `scratch` and their span points there (flag `decoded`).
struct ParsedLine {
    enum ValueKind: UInt8 { case absent, null, string, number, bool, raw }
    var kinds = [ValueKind](repeating: .absent, count: EventColumn.count)
    var starts = [Int](repeating: 0, count: EventColumn.count)
    var ends = [Int](repeating: 0, count: EventColumn.count)
    var decoded = [Bool](repeating: false, count: EventColumn.count)
    var boolValue = [Bool](repeating: false, count: EventColumn.count)
    var scratch: [UInt8] = []
    /// Where `LakeLineParser.parseMore` resumes, and whether the closing brace was reached.
    var pos = 0
    var finished = false

    mutating func reset() {
        for i in 0..<EventColumn.count { kinds[i] = .absent; decoded[i] = false }
        scratch.removeAll(keepingCapacity: true)
        pos = 0; finished = false
    }

    /// True once column `c` has been seen in the line (null counts as seen).
    @inline(__always) func has(_ c: Int) -> Bool { kinds[c] != .absent }
}

/// A scanner for the flat enriched JSON objects of the lake: top-level scalars are located,
/// nested objects/arrays (props) are kept as raw JSON text. Unknown keys are skipped.
enum LakeLineParser {
    struct Bad: Error { var message: String }

    /// Parses the whole line (the loader: every column, every syntax error reported).
    static func parse(_ l: UnsafeBufferPointer<UInt8>, into p: inout ParsedLine) throws {
        try begin(l, into: &p)
        try parseMore(l, into: &p, until: -1)
    }

    /// Starts a line: checks the opening brace. Pairs are then parsed on demand by `parseMore`.
    static func begin(_ l: UnsafeBufferPointer<UInt8>, into p: inout ParsedLine) throws {
        p.reset()
        let n = l.count
        var i = 0
        while i < n, l[i] == 0x20 || l[i] == 0x09 || l[i] == 0x0D { i += 1 }
        guard i < n, l[i] == 0x7B else { throw Bad(message: "not a JSON object") }
        i += 1
        while i < n, l[i] == 0x20 || l[i] == 0x09 || l[i] == 0x0D { i += 1 }
        if i < n, l[i] == 0x7D { p.finished = true }
        p.pos = i
    }

    /// Parses key/value pairs from where the last call stopped until column `target` has been seen
    /// (-1: to the end). `lake_events` uses this to read only as far into a line as the columns a
    /// query asks for; a syntax error after that point is then not seen.
    static func parseMore(_ l: UnsafeBufferPointer<UInt8>, into p: inout ParsedLine, until target: Int) throws {
        if p.finished { return }
        let n = l.count
        var i = p.pos
        let keys = EventColumn.keyTable
        @inline(__always) func ws() { while i < n, l[i] == 0x20 || l[i] == 0x09 || l[i] == 0x0D { i += 1 } }
        while true {
            ws()
            guard i < n, l[i] == 0x22 else { throw Bad(message: "expected a key at byte \(i)") }
            let ks = i + 1
            var ke = ks
            var keyEscaped = false
            while ke < n, l[ke] != 0x22 { if l[ke] == 0x5C { keyEscaped = true; ke += 1 }; ke += 1 }
            guard ke < n else { throw Bad(message: "unterminated key") }
            i = ke + 1
            ws()
            guard i < n, l[i] == 0x3A else { throw Bad(message: "expected ':' at byte \(i)") }
            i += 1
            ws()
            var col = -1
            let klen = ke - ks
            if !keyEscaped { col = EventColumn.column(key: l.baseAddress! + ks, klen, table: keys) }
            guard i < n else { throw Bad(message: "missing value") }
            let c = l[i]
            var kind: ParsedLine.ValueKind
            var vs = i, ve = i
            var needsDecode = false
            switch c {
            case 0x22:
                vs = i + 1
                var j = vs
                while j < n, l[j] != 0x22 {
                    if l[j] == 0x5C { needsDecode = true; j += 1 }
                    j += 1
                }
                guard j < n else { throw Bad(message: "unterminated string") }
                ve = j; i = j + 1; kind = .string
            case 0x7B, 0x5B:
                var depth = 0
                var j = i
                while j < n {
                    let b = l[j]
                    if b == 0x22 {
                        j += 1
                        while j < n, l[j] != 0x22 { if l[j] == 0x5C { j += 1 }; j += 1 }
                    } else if b == 0x7B || b == 0x5B { depth += 1 } else if b == 0x7D || b == 0x5D {
                        depth -= 1
                        if depth == 0 { break }
                    }
                    j += 1
                }
                guard j < n else { throw Bad(message: "unterminated object") }
                ve = j + 1; i = j + 1; kind = .raw
            case 0x74: // true
                guard i + 4 <= n else { throw Bad(message: "bad literal") }
                i += 4; kind = .bool; if col >= 0 { p.boolValue[col] = true }
            case 0x66:
                guard i + 5 <= n else { throw Bad(message: "bad literal") }
                i += 5; kind = .bool; if col >= 0 { p.boolValue[col] = false }
            case 0x6E:
                guard i + 4 <= n else { throw Bad(message: "bad literal") }
                i += 4; kind = .null
            default:
                guard c == 0x2D || (c >= 0x30 && c <= 0x39) else { throw Bad(message: "unexpected byte '\(Character(Unicode.Scalar(c)))' at \(i)") }
                var j = i + 1
                while j < n, let b = Optional(l[j]), (b >= 0x30 && b <= 0x39) || b == 0x2E || b == 0x65 || b == 0x45 || b == 0x2B || b == 0x2D { j += 1 }
                vs = i; ve = j; i = j; kind = .number
            }
            if col >= 0 {
                p.kinds[col] = kind
                if needsDecode {
                    let s = p.scratch.count
                    try decodeString(l, vs, ve, into: &p.scratch)
                    p.starts[col] = s; p.ends[col] = p.scratch.count; p.decoded[col] = true
                } else {
                    p.starts[col] = vs; p.ends[col] = ve
                }
            }
            ws()
            guard i < n else { throw Bad(message: "unterminated object") }
            if l[i] == 0x2C {
                i += 1
                if target >= 0, col == target { p.pos = i; return }
                continue
            }
            if l[i] == 0x7D { p.finished = true; p.pos = i; return }
            throw Bad(message: "expected ',' or '}' at byte \(i)")
        }
    }

    static func decodeString(_ l: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int, into out: inout [UInt8]) throws {
        var i = s
        func hex4(_ at: Int) throws -> UInt32 {
            guard at + 4 <= e else { throw Bad(message: "bad \\u escape") }
            var v: UInt32 = 0
            for k in 0..<4 {
                let b = l[at + k]
                v <<= 4
                switch b {
                case 0x30...0x39: v |= UInt32(b - 0x30)
                case 0x61...0x66: v |= UInt32(b - 0x61 + 10)
                case 0x41...0x46: v |= UInt32(b - 0x41 + 10)
                default: throw Bad(message: "bad \\u escape")
                }
            }
            return v
        }
        while i < e {
            let b = l[i]
            if b != 0x5C { out.append(b); i += 1; continue }
            i += 1
            guard i < e else { throw Bad(message: "bad escape") }
            switch l[i] {
            case 0x6E: out.append(0x0A)
            case 0x74: out.append(0x09)
            case 0x72: out.append(0x0D)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x75:
                var cp = try hex4(i + 1)
                i += 4
                if cp >= 0xD800, cp < 0xDC00, i + 6 < e + 1, l[i + 1] == 0x5C, i + 2 < e, l[i + 2] == 0x75 {
                    let lo = try hex4(i + 3)
                    if lo >= 0xDC00, lo < 0xE000 { cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00); i += 6 }
                }
                UTF8.encode(Unicode.Scalar(cp) ?? "\u{FFFD}") { out.append($0) }
            default: out.append(l[i])
            }
            i += 1
        }
    }

    /// Parses an integer from a number span (a float is truncated); nil when not a number.
    static func int(_ l: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) -> Int64? {
        var i = s
        var neg = false
        if i < e, l[i] == 0x2D { neg = true; i += 1 }
        var v: Int64 = 0
        var any = false
        while i < e, l[i] >= 0x30, l[i] <= 0x39 { v = v &* 10 &+ Int64(l[i] - 0x30); i += 1; any = true }
        if i < e, l[i] == 0x2E || l[i] == 0x65 || l[i] == 0x45 { return double(l, s, e).map { Int64($0) } }
        return any ? (neg ? -v : v) : nil
    }

    static func double(_ l: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) -> Double? {
        let n = max(0, e - s)
        // A NUL-terminated copy on the stack (no heap allocation per value).
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: n + 1) { tmp in
            for k in 0..<n { tmp[k] = CChar(bitPattern: l[s + k]) }
            tmp[n] = 0
            var endp: UnsafeMutablePointer<CChar>?
            return strtod(tmp.baseAddress!, &endp)
        }
    }
}

/// The visitor key of an event: anon_id, else user_id, else fingerprint, else event_id.
/// Documented in docs/WAREHOUSE.md; the same rule in `events.visitor` and `lake_events.visitor`.
let visitorPrecedence: [EventColumn] = [.anonId, .userId, .fingerprint, .eventId]

/// Growth of a manually managed byte buffer (the lake reader's and the line pipeline's blocks).
enum RawBytes {
    /// Makes room for `more` bytes after `used`, doubling the capacity and keeping the contents.
    @inline(__always)
    static func reserve(_ p: inout UnsafeMutablePointer<UInt8>, capacity: inout Int, used: Int, more: Int) {
        guard used + more > capacity else { return }
        var c = max(capacity, 1)
        while used + more > c { c *= 2 }
        let nb = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
        nb.update(from: p, count: used)
        p.deallocate()
        p = nb; capacity = c
    }
}
