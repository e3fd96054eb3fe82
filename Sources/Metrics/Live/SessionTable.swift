/// Per-site session totals. A session is a run of one session id's events with no gap longer than
/// the inactivity timeout; it is a bounce when it has at most one pageview; its length is
/// last − first arrival. Totals cover closed sessions and the still-open ones as they stand now,
/// so the figures do not jump when a session closes.
public struct SessionTotals: Sendable, Equatable {
    public var started: Int64 = 0
    public var closed: Int64 = 0
    public var closedBounces: Int64 = 0
    public var closedDurationMs: Int64 = 0
    public var active: Int64 = 0
    public var activeBounces: Int64 = 0
    public var activeDurationMs: Int64 = 0

    public var bounces: Int64 { closedBounces + activeBounces }
    public var durationMs: Int64 { closedDurationMs + activeDurationMs }
    public var bounceRate: Double { started > 0 ? Double(bounces) / Double(started) : 0 }
    public var averageSeconds: Double { started > 0 ? Double(durationMs) / Double(started) / 1000 : 0 }
}

/// In-memory open sessions keyed by 64-bit session hash, bounded.
///
/// One open-addressing table (linear probing, backward-shift deletion) of 32-byte slots, so a
/// lookup and its update touch one cache line. No linked lists: sessions idle past the timeout
/// (against the newest arrival seen, the watermark) are closed by an incremental sweep that each
/// batch advances; when the table holds `maxSessions`, inserting closes the least recently active
/// of a sample of slots (approximated LRU, as Redis does) and counts it in `evicted`.
struct SessionTable: ~Copyable {
    struct Slot {
        var key: UInt64     // 0 = empty
        var firstMs: Int64
        var lastMs: Int64
        var site: UInt32
        var pageviews: UInt32
    }

    let maxSessions: Int
    let timeoutMs: Int64
    static let evictionSample = 16
    private(set) var count = 0
    private(set) var evicted: Int64 = 0
    private(set) var expired: Int64 = 0
    private(set) var watermarkMs: Int64 = Int64.min
    private var slots: UnsafeMutablePointer<Slot>
    private var mask: Int
    private var hand = 0
    /// Per-site totals, indexed by site; raw storage so updates skip copy-on-write checks.
    private(set) var totals: UnsafeMutablePointer<SessionTotals>
    private(set) var siteCapacity = 0

    init(maxSessions: Int, timeoutMs: Int64, initialSlots: Int = 1 << 14) {
        precondition(maxSessions > 0)
        self.maxSessions = maxSessions
        self.timeoutMs = timeoutMs
        var size = 16
        while size < initialSlots { size <<= 1 }
        slots = .allocate(capacity: size)
        slots.initialize(repeating: Slot(key: 0, firstMs: 0, lastMs: 0, site: 0, pageviews: 0), count: size)
        mask = size - 1
        totals = .allocate(capacity: 1)
    }

    deinit { slots.deallocate(); totals.deallocate() }

    var slotCount: Int { mask + 1 }
    var footprintBytes: Int { slotCount * MemoryLayout<Slot>.stride + siteCapacity * MemoryLayout<SessionTotals>.stride }

    mutating func ensureSites(_ n: Int) {
        guard n > siteCapacity else { return }
        let capacity = max(n, siteCapacity * 2, 64)
        let grown = UnsafeMutablePointer<SessionTotals>.allocate(capacity: capacity)
        grown.moveInitialize(from: totals, count: siteCapacity)
        (grown + siteCapacity).initialize(repeating: SessionTotals(), count: capacity - siteCapacity)
        totals.deallocate()
        totals = grown
        siteCapacity = capacity
    }

    func totals(site: Int) -> SessionTotals { site < siteCapacity ? totals[site] : SessionTotals() }

    @inline(__always)
    private func home(_ key: UInt64) -> Int { Int(truncatingIfNeeded: Hash64.mix(key)) & mask }

    @inline(__always)
    private func find(_ key: UInt64) -> Int {
        var i = home(key)
        while true {
            let k = slots[i].key
            if k == key || k == 0 { return i }
            i = (i &+ 1) & mask
        }
    }

    /// Reads the slot where `key` would start probing, so a later `touch` finds it in cache.
    @inline(__always)
    func warm(_ rawKey: UInt64) -> UInt64 { slots[home(rawKey == 0 ? 1 : rawKey)].key }

    /// Records one human event of `site` in session `rawKey` arriving at `atMs`.
    @inline(__always)
    mutating func touch(_ rawKey: UInt64, site: UInt32, atMs: Int64, pageview: Bool) {
        let key = rawKey == 0 ? 1 : rawKey
        if atMs > watermarkMs { watermarkMs = atMs }
        var i = find(key)
        if slots[i].key == key {
            if atMs - slots[i].lastMs > timeoutMs {
                close(i)
                open(i, key: key, site: site, atMs: atMs, pageview: pageview)
                return
            }
            let s = Int(slots[i].site)
            if atMs > slots[i].lastMs {
                totals[s].activeDurationMs &+= atMs - slots[i].lastMs
                slots[i].lastMs = atMs
            } else if atMs < slots[i].firstMs {
                totals[s].activeDurationMs &+= slots[i].firstMs - atMs
                slots[i].firstMs = atMs
            }
            if pageview {
                slots[i].pageviews &+= 1
                if slots[i].pageviews == 2 { totals[s].activeBounces &-= 1 }
            }
            return
        }
        if count >= maxSessions {
            evictOldestOfSample()
            i = find(key)
        }
        if count + 1 > (slotCount / 10) * 7 && slotCount < maxSlots {
            grow()
            i = find(key)
        }
        count += 1
        open(i, key: key, site: site, atMs: atMs, pageview: pageview)
    }

    private var maxSlots: Int { Self.slots(for: maxSessions) }

    /// The table's largest size: a power of two that holds `maxSessions` at 70 % load.
    static func slots(for maxSessions: Int) -> Int {
        var size = 16
        while (size / 10) * 7 < maxSessions { size <<= 1 }
        return size
    }

    @inline(__always)
    private mutating func open(_ i: Int, key: UInt64, site: UInt32, atMs: Int64, pageview: Bool) {
        slots[i] = Slot(key: key, firstMs: atMs, lastMs: atMs, site: site, pageviews: pageview ? 1 : 0)
        let s = Int(site)
        totals[s].started &+= 1
        totals[s].active &+= 1
        totals[s].activeBounces &+= 1
    }

    /// Moves slot `i`'s session from the open totals to the closed ones (the slot stays occupied).
    @inline(__always)
    private mutating func close(_ i: Int) {
        let slot = slots[i]
        let s = Int(slot.site)
        let d = slot.lastMs - slot.firstMs
        totals[s].active &-= 1
        totals[s].activeDurationMs &-= d
        totals[s].closed &+= 1
        totals[s].closedDurationMs &+= d
        if slot.pageviews <= 1 {
            totals[s].activeBounces &-= 1
            totals[s].closedBounces &+= 1
        }
    }

    private mutating func remove(at start: Int) {
        var i = start
        var j = i
        while true {
            j = (j &+ 1) & mask
            let k = slots[j].key
            if k == 0 { break }
            let h = home(k)
            let movable = i <= j ? (h <= i || h > j) : (h <= i && h > j)
            if movable { slots[i] = slots[j]; i = j }
        }
        slots[i].key = 0
        count -= 1
    }

    private mutating func evictOldestOfSample() {
        var best = -1
        var bestLast = Int64.max
        var seen = 0
        var i = hand
        var scanned = 0
        while seen < Self.evictionSample && scanned < slotCount {
            if slots[i].key != 0 {
                seen += 1
                if slots[i].lastMs < bestLast { bestLast = slots[i].lastMs; best = i }
            }
            i = (i &+ 1) & mask
            scanned += 1
        }
        hand = i
        guard best >= 0 else { return }
        close(best)
        remove(at: best)
        evicted &+= 1
    }

    /// Closes sessions idle for longer than the timeout, looking at up to `budget` slots from
    /// where the last sweep stopped. A whole pass takes slotCount / budget batches.
    mutating func sweep(budget: Int) {
        guard count > 0, watermarkMs != Int64.min else { return }
        let cutoff = watermarkMs - timeoutMs
        var n = min(budget, slotCount)
        var i = hand
        while n > 0 {
            n -= 1
            if slots[i].key != 0 && slots[i].lastMs < cutoff {
                close(i)
                remove(at: i)
                expired &+= 1
                continue  // another entry may have shifted into slot i
            }
            i = (i &+ 1) & mask
        }
        hand = i
    }

    private mutating func grow() {
        let oldSlots = slots
        let oldSize = slotCount
        let size = oldSize * 2
        slots = .allocate(capacity: size)
        slots.initialize(repeating: Slot(key: 0, firstMs: 0, lastMs: 0, site: 0, pageviews: 0), count: size)
        mask = size - 1
        for j in 0..<oldSize where oldSlots[j].key != 0 {
            slots[find(oldSlots[j].key)] = oldSlots[j]
        }
        oldSlots.deallocate()
        hand = 0
    }
}
