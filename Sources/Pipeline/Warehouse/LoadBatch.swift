import CSQLite
import Foundation

/// Byte strings of one load batch, each stored once in an arena and named by a small integer, so
/// the batch's rows, sessions and rollup keys are plain integers (no String per value). -1 is NULL.
struct ByteInterner {
    private(set) var arena: [UInt8] = []
    private var starts: [Int32] = []
    private var lens: [Int32] = []
    private var table = [Int32](repeating: -1, count: 4096)
    private var hashes: [UInt64] = []

    var count: Int { starts.count }

    @inline(__always) static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in 0..<n { h = (h ^ UInt64(p[i])) &* 0x0000_0100_0000_01b3 }
        return h ^ (h >> 29)
    }

    mutating func intern(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int32 {
        let h = Self.hash(p, n)
        var mask = table.count - 1
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let id = table[slot]
            if id < 0 { break }
            if hashes[Int(id)] == h, lens[Int(id)] == Int32(n) {
                let s = Int(starts[Int(id)])
                let same = arena.withUnsafeBufferPointer { a in n == 0 || memcmp(a.baseAddress! + s, p, n) == 0 }
                if same { return id }
            }
            slot = (slot + 1) & mask
        }
        let id = Int32(starts.count)
        starts.append(Int32(arena.count)); lens.append(Int32(n)); hashes.append(h)
        arena.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        if starts.count * 2 > table.count {
            table = [Int32](repeating: -1, count: table.count * 2)
            mask = table.count - 1
            for (k, hk) in hashes.enumerated() {
                var s = Int(truncatingIfNeeded: hk) & mask
                while table[s] >= 0 { s = (s + 1) & mask }
                table[s] = Int32(k)
            }
        } else {
            table[slot] = id
        }
        return id
    }

    mutating func intern(_ s: String) -> Int32 {
        var s = s
        return s.withUTF8 { $0.isEmpty ? intern(UnsafePointer(bitPattern: 1)!, 0) : intern($0.baseAddress!, $0.count) }
    }

    /// Interns column `c` of a statement's current row; -1 when NULL.
    mutating func intern(column c: Int32, of s: OpaquePointer) -> Int32 {
        guard let p = sqlite3_column_text(s, c) else { return -1 }
        return intern(p, Int(sqlite3_column_bytes(s, c)))
    }

    /// The bytes of string `id` (empty for -1).
    func withBytes<R>(_ id: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        guard id >= 0 else { return body(UnsafeBufferPointer(start: nil, count: 0)) }
        let st = Int(starts[Int(id)]), n = Int(lens[Int(id)])
        return arena.withUnsafeBufferPointer { a in body(UnsafeBufferPointer(rebasing: a[st..<(st + n)])) }
    }

    /// Binds string `id` (NULL for -1) to parameter `i`; SQLite copies the bytes.
    func bind(_ s: OpaquePointer, _ i: Int32, _ id: Int32) {
        guard id >= 0 else { sqlite3_bind_null(s, i); return }
        let st = Int(starts[Int(id)]), n = Int(lens[Int(id)])
        arena.withUnsafeBufferPointer { a in
            if n == 0 || a.baseAddress == nil {
                _ = sqlite3_bind_text(s, i, "", 0, SQLITE_TRANSIENT_PTR)
            } else if let base = a.baseAddress {
                _ = sqlite3_bind_text(s, i, UnsafeRawPointer(base + st).assumingMemoryBound(to: CChar.self), Int32(n), SQLITE_TRANSIENT_PTR)
            }
        }
    }
}

/// One inserted row as the derived tables need it (strings interned).
struct BatchRow {
    var site: Int32, visitor: Int32, path: Int32
    var channel: Int32, ref: Int32, device: Int32, country: Int32
    var kind: UInt8 // 0 other, 1 page_view, 2 purchase
    var bot: Bool
    var ts: Int64
    var value: Double
    var seq: Int32
}

/// A session as the loader builds it: strings interned, `id` 0 until stored.
///
/// Sessions merge in order of their first event (stored before new on a tie), and a later item may
/// overlap the current one (a late event inside a stored session): every field is then what the
/// session's events in (ts, load order) give, from the summaries alone. The entry page is the page
/// view with the smallest (ts, stored before new), the exit the one with the largest.
struct BatchSession {
    var id: Int64 = 0
    var start: Int64, end: Int64
    var entry: Int32, exit: Int32
    /// ts of the entry and exit page views (meaningless while `entry`/`exit` is -1).
    var entryMs: Int64 = 0, exitMs: Int64 = 0
    /// Whether the entry/exit page view is a new row of this batch (1) or a stored one (0): ties
    /// in ts go to the stored one for the entry and to the new one for the exit (load order).
    var entryNew: UInt8 = 0, exitNew: UInt8 = 0
    var pageviews: Int64, events: Int64
    var channel: Int32, ref: Int32, device: Int32, country: Int32
    var converted: Bool, revenue: Double, bot: Bool
    /// A stored session's encoded marks: this range of the loader's scratch buffer (empty when new).
    var marks: Range<Int> = 0..<0
    var bounce: Bool { events == 1 }

    init(row r: BatchRow) {
        start = r.ts; end = r.ts
        entry = r.kind == 1 ? r.path : -1; exit = entry
        entryMs = r.ts; exitMs = r.ts; entryNew = 1; exitNew = 1
        pageviews = r.kind == 1 ? 1 : 0; events = 1
        channel = r.channel; ref = r.ref; device = r.device; country = r.country
        converted = r.kind == 2; revenue = r.kind == 2 ? r.value : 0; bot = r.bot
    }
    init(id: Int64, start: Int64, end: Int64, entry: Int32, exit: Int32, entryMs: Int64, exitMs: Int64,
         pageviews: Int64, events: Int64, channel: Int32, ref: Int32, device: Int32, country: Int32,
         converted: Bool, revenue: Double, bot: Bool, marks: Range<Int>) {
        self.id = id; self.start = start; self.end = end; self.entry = entry; self.exit = exit
        self.entryMs = entryMs; self.exitMs = exitMs
        self.pageviews = pageviews; self.events = events; self.channel = channel; self.ref = ref
        self.device = device; self.country = country; self.converted = converted; self.revenue = revenue; self.bot = bot
        self.marks = marks
    }

    /// Merges `b`, which starts at or after this session's start (it may overlap it).
    mutating func absorb(_ b: BatchSession) {
        end = max(end, b.end)
        events += b.events
        if b.entry >= 0, entry < 0 || (b.entryMs, b.entryNew) < (entryMs, entryNew) {
            entry = b.entry; entryMs = b.entryMs; entryNew = b.entryNew
        }
        // On an equal (ts, newness) `b` comes later: new rows merge in (ts, load order).
        if b.exit >= 0, exit < 0 || (b.exitMs, b.exitNew) >= (exitMs, exitNew) {
            exit = b.exit; exitMs = b.exitMs; exitNew = b.exitNew
        }
        pageviews += b.pageviews
        converted = converted || b.converted
        revenue += b.revenue
        bot = bot || b.bot
    }
}

/// In-memory deltas of one load batch, upserted once per key at the end of the batch.
struct DerivedDeltas {
    struct MinuteKey: Hashable { var site: Int32; var ms: Int64 }
    struct Minute { var events: Int64 = 0, pageviews: Int64 = 0, visitors: Int64 = 0, sessions: Int64 = 0, bounces: Int64 = 0
                    var purchases: Int64 = 0, revenue: Double = 0, botEvents: Int64 = 0 }
    struct PageKey: Hashable { var site: Int32; var hour: Int64; var path: Int32 }
    struct Page { var pageviews: Int64 = 0, visitors: Int64 = 0, entries: Int64 = 0, exits: Int64 = 0, bounces: Int64 = 0 }
    struct DayKey: Hashable { var site: Int32; var day: Int32; var a: Int32; var b: Int32 }
    struct Channel { var sessions: Int64 = 0, bounces: Int64 = 0, pageviews: Int64 = 0, conversions: Int64 = 0, revenue: Double = 0 }
    struct Geo { var events: Int64 = 0, pageviews: Int64 = 0, sessions: Int64 = 0, bounces: Int64 = 0 }
    struct SiteDayKey: Hashable { var site: Int32; var day: Int32 }
    struct Site { var first: Int64 = .max, last: Int64 = .min, events: Int64 = 0 }

    var minute: [MinuteKey: Minute] = [:]
    var page: [PageKey: Page] = [:]
    /// Page-hour keys that received a negative delta: deleted afterwards if every count is zero.
    var pageDecremented: Set<PageKey> = []
    var channel: [DayKey: Channel] = [:]
    var geo: [DayKey: Geo] = [:]
    var siteDay: [SiteDayKey: Int64] = [:]
    var sites: [Int32: Site] = [:]

    @inline(__always) static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
    @inline(__always) static func day(_ ms: Int64) -> Int32 { Int32(truncatingIfNeeded: floorDiv(ms, 86_400_000)) }

    /// Adds (sign +1) or removes (-1) a session's contribution to the session-based rollups.
    mutating func account(_ s: BatchSession, site: Int32, empty: Int32, sign: Int64) {
        guard !s.bot else { return }
        let b: Int64 = s.bounce ? sign : 0
        // Integer division like SQLite's ts / 60000 * 60000 (truncates toward zero).
        let mk = MinuteKey(site: site, ms: s.start / 60_000 * 60_000)
        minute[mk, default: Minute()].sessions += sign
        minute[mk, default: Minute()].bounces += b
        let hour = s.start / 3_600_000 * 3_600_000
        if s.entry >= 0 {
            let k = PageKey(site: site, hour: hour, path: s.entry)
            page[k, default: Page()].entries += sign
            page[k, default: Page()].bounces += b
            if sign < 0 { pageDecremented.insert(k) }
        }
        if s.exit >= 0 {
            let k = PageKey(site: site, hour: hour, path: s.exit)
            page[k, default: Page()].exits += sign
            if sign < 0 { pageDecremented.insert(k) }
        }
        let d = Self.day(s.start)
        let ck = DayKey(site: site, day: d, a: s.channel < 0 ? empty : s.channel, b: s.ref < 0 ? empty : s.ref)
        var c = channel[ck, default: Channel()]
        c.sessions += sign; c.bounces += b; c.pageviews += sign * s.pageviews
        c.conversions += s.converted ? sign : 0; c.revenue += Double(sign) * s.revenue
        channel[ck] = c
        let gk = DayKey(site: site, day: d, a: s.country < 0 ? empty : s.country, b: s.device < 0 ? empty : s.device)
        geo[gk, default: Geo()].sessions += sign
        geo[gk, default: Geo()].bounces += b
    }
}
