/// Reading `/v1/stats` back without Foundation's `JSONDecoder`, the other half of `SnapshotJSON`.
///
/// A remote dashboard polls a 320-site snapshot (~300 KB with two hours of history) every second;
/// `JSONDecoder` spent ~90% of `eddy dash`'s CPU on it (generic metadata lookups and boxing per
/// number). This is a pull parser over the bytes that fills the structs directly.
///
/// Lenient where it helps compatibility between versions: unknown keys are skipped, missing keys
/// keep the initialisers' defaults, integers written as `12.0` are accepted. Strict where it
/// protects the reader: malformed JSON, a wrong type or nesting deeper than 64 levels throws
/// `SnapshotDecodeError` with the byte offset; it never traps.
extension SnapshotJSON {
    public static func decode(_ bytes: [UInt8]) throws -> NodeSnapshot {
        try bytes.withUnsafeBufferPointer { buf in
            var r = JSONReader(buf)
            let s = try r.node()
            try r.end()
            return s
        }
    }

    /// One site's figures, as `GET /v1/stats?site=` writes them.
    public static func decodeSite(_ bytes: [UInt8]) throws -> SiteStats {
        try bytes.withUnsafeBufferPointer { buf in
            var r = JSONReader(buf)
            let s = try r.site()
            try r.end()
            return s
        }
    }
}

public struct SnapshotDecodeError: Error, CustomStringConvertible, Equatable {
    public var offset: Int
    public var reason: String
    public var description: String { "stats JSON: \(reason) at byte \(offset)" }
}

struct JSONReader {
    private let b: UnsafeBufferPointer<UInt8>
    private var i = 0
    private var depth = 0
    private static let maxDepth = 64

    init(_ b: UnsafeBufferPointer<UInt8>) { self.b = b }

    // MARK: - Tokens

    private func fail(_ reason: String) -> SnapshotDecodeError { SnapshotDecodeError(offset: i, reason: reason) }

    private mutating func ws() {
        while i < b.count {
            switch b[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return
            }
        }
    }

    private mutating func peek() throws -> UInt8 {
        ws()
        guard i < b.count else { throw fail("unexpected end") }
        return b[i]
    }

    private mutating func expect(_ c: UInt8) throws {
        guard try peek() == c else { throw fail("expected '\(Character(Unicode.Scalar(c)))'") }
        i += 1
    }

    mutating func end() throws {
        ws()
        guard i == b.count else { throw fail("trailing bytes") }
    }

    private mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count else { throw fail("unexpected end") }
        for k in 0..<n where b[i + k] != word.utf8Start[k] { throw fail("bad literal") }
        i += n
    }

    /// True (and consumed) when the next value is `null`.
    private mutating func null() throws -> Bool {
        guard try peek() == 0x6E else { return false }
        try literal("null")
        return true
    }

    mutating func string() throws -> String {
        try expect(0x22)
        let start = i
        while i < b.count {
            let c = b[i]
            if c == 0x22 {
                let s = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
                i += 1
                return s
            }
            if c == 0x5C { return try escapedString(from: start) }
            if c < 0x20 { throw fail("control character in string") }
            i += 1
        }
        throw fail("unterminated string")
    }

    private mutating func escapedString(from start: Int) throws -> String {
        var out = Array(UnsafeBufferPointer(rebasing: b[start..<i]))
        while i < b.count {
            let c = b[i]
            i += 1
            switch c {
            case 0x22: return String(decoding: out, as: UTF8.self)
            case 0x5C:
                guard i < b.count else { throw fail("unterminated string") }
                let e = b[i]; i += 1
                switch e {
                case 0x22, 0x5C, 0x2F: out.append(e)
                case 0x62: out.append(0x08)
                case 0x66: out.append(0x0C)
                case 0x6E: out.append(0x0A)
                case 0x72: out.append(0x0D)
                case 0x74: out.append(0x09)
                case 0x75:
                    var v = try hex4()
                    if (0xD800..<0xDC00).contains(v), i + 1 < b.count, b[i] == 0x5C, b[i + 1] == 0x75 {
                        i += 2
                        let lo = try hex4()
                        guard (0xDC00..<0xE000).contains(lo) else { throw fail("bad surrogate pair") }
                        v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    UTF8.encode(Unicode.Scalar(v) ?? "\u{FFFD}") { out.append($0) }
                default: throw fail("bad escape")
                }
            default:
                if c < 0x20 { throw fail("control character in string") }
                out.append(c)
            }
        }
        throw fail("unterminated string")
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= b.count else { throw fail("unexpected end") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x61...0x66: d = c - 0x61 + 10
            case 0x41...0x46: d = c - 0x41 + 10
            default: throw fail("bad \\u escape")
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    mutating func double() throws -> Double {
        _ = try peek()
        let start = i
        var negative = false
        if b[i] == 0x2D { negative = true; i += 1 }
        var mantissa: UInt64 = 0
        var digits = 0
        while i < b.count, b[i] &- 0x30 < 10 {
            if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(b[i] &- 0x30) }
            digits += 1; i += 1
        }
        guard digits > 0 else { throw fail("expected a number") }
        let fraction = i < b.count && (b[i] == 0x2E || b[i] == 0x65 || b[i] == 0x45)
        if fraction || digits > 18 {
            // Fractions, exponents and long mantissas: let the standard library round correctly.
            while i < b.count, b[i] &- 0x30 < 10 || b[i] == 0x2E || b[i] == 0x65 || b[i] == 0x45
                || b[i] == 0x2B || b[i] == 0x2D { i += 1 }
            let text = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
            guard let d = Double(text) else { i = start; throw fail("bad number") }
            return d
        }
        let d = Double(mantissa)
        return negative ? -d : d
    }

    mutating func int() throws -> Int64 {
        let d = try double()
        guard d.isFinite, d.magnitude < 9.2e18 else { throw fail("integer out of range") }
        return Int64(d.rounded(.towardZero))
    }

    mutating func bool() throws -> Bool {
        switch try peek() {
        case 0x74: try literal("true"); return true
        case 0x66: try literal("false"); return false
        default: throw fail("expected true or false")
        }
    }

    // MARK: - Structure

    /// Calls `body` with each key of an object; `body` must consume the value (or call `skip`).
    mutating func object(_ body: (inout JSONReader, String) throws -> Void) throws {
        try expect(0x7B)
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("nested too deeply") }
        defer { depth -= 1 }
        if try peek() == 0x7D { i += 1; return }
        while true {
            let k = try string()
            try expect(0x3A)
            try body(&self, k)
            switch try peek() {
            case 0x2C: i += 1
            case 0x7D: i += 1; return
            default: throw fail("expected ',' or '}'")
            }
        }
    }

    mutating func array(_ body: (inout JSONReader) throws -> Void) throws {
        try expect(0x5B)
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("nested too deeply") }
        defer { depth -= 1 }
        if try peek() == 0x5D { i += 1; return }
        while true {
            try body(&self)
            switch try peek() {
            case 0x2C: i += 1
            case 0x5D: i += 1; return
            default: throw fail("expected ',' or ']'")
            }
        }
    }

    /// Consumes any value: what an unknown key carries.
    mutating func skip() throws {
        switch try peek() {
        case 0x7B: try object { r, _ in try r.skip() }
        case 0x5B: try array { r in try r.skip() }
        case 0x22: _ = try string()
        case 0x74, 0x66: _ = try bool()
        case 0x6E: try literal("null")
        default: _ = try double()
        }
    }

    private mutating func list<T>(_ element: (inout JSONReader) throws -> T) throws -> [T] {
        var xs: [T] = []
        try array { r in xs.append(try element(&r)) }
        return xs
    }

    private mutating func doubles() throws -> [Double] {
        var xs: [Double] = []
        xs.reserveCapacity(128)
        try array { r in xs.append(try r.double()) }
        return xs
    }

    private mutating func counts() throws -> [String: Int64] {
        var m: [String: Int64] = [:]
        try object { r, k in m[k] = try r.int() }
        return m
    }

    private mutating func optionalString() throws -> String? { try null() ? nil : try string() }
    private mutating func optionalInt() throws -> Int64? { try null() ? nil : try int() }

    // MARK: - Types (keys as SnapshotJSON writes them)

    mutating func node() throws -> NodeSnapshot {
        var s = NodeSnapshot()
        try object { r, k in
            switch k {
            case "takenAtMs": s.takenAtMs = try r.int()
            case "node":
                try r.object { r, k in
                    switch k {
                    case "nodeId": s.node.nodeId = try r.string()
                    case "version": s.node.version = try r.string()
                    case "startedAtMs": s.node.startedAtMs = try r.int()
                    case "streamName": s.node.streamName = try r.string()
                    case "mode": s.node.mode = try r.string()
                    case "ready": s.node.ready = try r.bool()
                    default: try r.skip()
                    }
                }
            case "collector":
                try r.object { r, k in
                    switch k {
                    case "eventsPerSec": s.collector.eventsPerSec = try r.double()
                    case "bytesPerSec": s.collector.bytesPerSec = try r.double()
                    case "requestsPerSec": s.collector.requestsPerSec = try r.double()
                    case "eventsTotal": s.collector.eventsTotal = try r.int()
                    case "bytesTotal": s.collector.bytesTotal = try r.int()
                    case "rejectsByCode": s.collector.rejectsByCode = try r.counts()
                    case "rejectsPerSec": s.collector.rejectsPerSec = try r.double()
                    case "ackLatency": s.collector.ackLatency = try r.latency()
                    default: try r.skip()
                    }
                }
            case "shards": s.shards = try r.list { try $0.shard() }
            case "consumers": s.consumers = try r.list { try $0.consumer() }
            case "deliveries": s.deliveries = try r.list { try $0.delivery() }
            case "warehouse": s.warehouse = try r.null() ? nil : try r.warehouse()
            case "process":
                try r.object { r, k in
                    switch k {
                    case "cpuPercent": s.process.cpuPercent = try r.double()
                    case "rssBytes": s.process.rssBytes = try r.int()
                    case "openFiles": s.process.openFiles = try r.int()
                    case "heapInUseBytes": s.process.heapInUseBytes = try r.int()
                    case "heapFreeBytes": s.process.heapFreeBytes = try r.int()
                    case "chunkPoolFreeBytes": s.process.chunkPoolFreeBytes = try r.int()
                    case "uptimeMs": s.process.uptimeMs = try r.int()
                    default: try r.skip()
                    }
                }
            case "clickToDashboard": s.clickToDashboard = try r.latency()
            case "sites":
                s.sites.reserveCapacity(512)
                try r.array { r in s.sites.append(try r.site()) }
            case "live": s.live = try r.null() ? nil : try r.live()
            default: try r.skip()
            }
        }
        return s
    }

    mutating func latency() throws -> LatencySummary {
        var l = LatencySummary()
        try object { r, k in
            switch k {
            case "count": l.count = try r.int()
            case "p50Ms": l.p50Ms = try r.double()
            case "p99Ms": l.p99Ms = try r.double()
            case "maxMs": l.maxMs = try r.double()
            default: try r.skip()
            }
        }
        return l
    }

    mutating func shard() throws -> ShardStats {
        var x = ShardStats(shardId: "")
        try object { r, k in
            switch k {
            case "shardId": x.shardId = try r.string()
            case "state": x.state = try r.string()
            case "startingHashKey": x.startingHashKey = try r.string()
            case "endingHashKey": x.endingHashKey = try r.string()
            case "parentShardId": x.parentShardId = try r.optionalString()
            case "adjacentParentShardId": x.adjacentParentShardId = try r.optionalString()
            case "recordsPerSec": x.recordsPerSec = try r.double()
            case "bytesPerSec": x.bytesPerSec = try r.double()
            case "records": x.records = try r.int()
            case "sizeBytes": x.sizeBytes = try r.int()
            case "throttles": x.throttles = try r.int()
            case "hot": x.hot = try r.bool()
            default: try r.skip()
            }
        }
        return x
    }

    mutating func consumer() throws -> ConsumerStats {
        var x = ConsumerStats(app: "", shardId: "")
        try object { r, k in
            switch k {
            case "app": x.app = try r.string()
            case "shardId": x.shardId = try r.string()
            case "recordsBehind": x.recordsBehind = try r.int()
            case "millisBehindLatest": x.millisBehindLatest = try r.int()
            case "iteratorAgeMs": x.iteratorAgeMs = try r.int()
            case "checkpoint": x.checkpoint = try r.optionalString()
            default: try r.skip()
            }
        }
        return x
    }

    mutating func delivery() throws -> DeliveryStats {
        var d = DeliveryStats(name: "")
        try object { r, k in
            switch k {
            case "name": d.name = try r.string()
            case "sizeHintBytes": d.sizeHintBytes = try r.int()
            case "intervalHintMs": d.intervalHintMs = try r.int()
            case "buffers": d.buffers = try r.list { try $0.buffer() }
            case "objectsWritten": d.objectsWritten = try r.int()
            case "bytesIn": d.bytesIn = try r.int()
            case "bytesWritten": d.bytesWritten = try r.int()
            case "compressionRatio": d.compressionRatio = try r.double()
            case "errorsByType": d.errorsByType = try r.counts()
            case "deliveryLatency": d.deliveryLatency = try r.latency()
            case "memoryBytes": d.memoryBytes = try r.int()
            case "memoryLimitBytes": d.memoryLimitBytes = try r.int()
            default: try r.skip()
            }
        }
        return d
    }

    mutating func buffer() throws -> BufferStats {
        var x = BufferStats(partition: "")
        var fill: Int64? = nil
        try object { r, k in
            switch k {
            case "partition": x.partition = try r.string()
            case "bytes": x.bytes = try r.int()
            case "records": x.records = try r.int()
            case "ageMs": x.ageMs = try r.int()
            case "msToNextFlush": x.msToNextFlush = try r.int()
            case "fillBytes": fill = try r.int()
            default: try r.skip()
            }
        }
        x.fillBytes = fill ?? x.bytes   // a node from before the field: its buffers' bytes were the fill
        return x
    }

    mutating func warehouse() throws -> WarehouseStats {
        var w = WarehouseStats()
        try object { r, k in
            switch k {
            case "objectsPending": w.objectsPending = try r.int()
            case "recordsPending": w.recordsPending = try r.int()
            case "rowsLoaded": w.rowsLoaded = try r.int()
            case "newestEventLoadedMs": w.newestEventLoadedMs = try r.optionalInt()
            case "lagMs": w.lagMs = try r.int()
            case "sqliteMemoryBytes": w.sqliteMemoryBytes = try r.int()
            case "sqliteMemoryLimitBytes": w.sqliteMemoryLimitBytes = try r.int()
            default: try r.skip()
            }
        }
        return w
    }

    mutating func live() throws -> LiveAggregatesStats {
        var l = LiveAggregatesStats()
        try object { r, k in
            switch k {
            case "sites": l.sites = try r.int()
            case "eventsApplied": l.eventsApplied = try r.int()
            case "eventsDropped": l.eventsDropped = try r.int()
            case "sessionsOpen": l.sessionsOpen = try r.int()
            case "sessionsEvicted": l.sessionsEvicted = try r.int()
            case "sessionsExpired": l.sessionsExpired = try r.int()
            case "sessionCapacity": l.sessionCapacity = try r.int()
            case "memoryBytes": l.memoryBytes = try r.int()
            default: try r.skip()
            }
        }
        return l
    }

    mutating func ranked() throws -> [RankedCount] {
        try list { r in
            var x = RankedCount(name: "", count: 0)
            try r.object { r, k in
                switch k {
                case "name": x.name = try r.string()
                case "count": x.count = try r.int()
                case "error": x.error = try r.int()
                default: try r.skip()
                }
            }
            return x
        }
    }

    mutating func site() throws -> SiteStats {
        var x = SiteStats(siteId: "")
        try object { r, k in
            switch k {
            case "siteId": x.siteId = try r.string()
            case "eventsPerSec": x.eventsPerSec = try r.double()
            case "pageviewsPerSec": x.pageviewsPerSec = try r.double()
            case "eventsPerSecHistory": x.eventsPerSecHistory = try r.doubles()
            case "eventsPerMinuteHistory": x.eventsPerMinuteHistory = try r.doubles()
            case "eventsTotal": x.eventsTotal = try r.int()
            case "eventsByType": x.eventsByType = try r.counts()
            case "activeVisitors": x.activeVisitors = try r.int()
            case "visitorsToday": x.visitorsToday = try r.int()
            case "sessions": x.sessions = try r.int()
            case "bounceRate": x.bounceRate = try r.double()
            case "avgSessionSeconds": x.avgSessionSeconds = try r.double()
            case "pageviews": x.pageviews = try r.int()
            case "topPages": x.topPages = try r.ranked()
            case "referrers": x.referrers = try r.ranked()
            case "channels": x.channels = try r.ranked()
            case "countries": x.countries = try r.ranked()
            case "devices": x.devices = try r.ranked()
            case "browsers": x.browsers = try r.ranked()
            case "botShare": x.botShare = try r.double()
            case "addToCarts": x.addToCarts = try r.int()
            case "purchases": x.purchases = try r.int()
            case "revenue": x.revenue = try r.double()
            default: try r.skip()
            }
        }
        return x
    }
}
