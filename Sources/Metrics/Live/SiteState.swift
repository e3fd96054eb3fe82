/// Events and pageviews per time bucket, in one ring (two UInt32 per bucket, one cache line for
/// both). The hot-path twin of `WindowedCounter`: raw storage, no division per add (the caller
/// passes the absolute bucket index, and the head's slot is tracked incrementally), because the
/// live aggregates update two of these per event.
struct PairRing: ~Copyable {
    /// Complete buckets kept for history; the ring holds one more, the current partial bucket.
    let buckets: Int
    private let ring: Int
    private(set) var head: Int64 = -1
    private var headSlot = 0
    private let storage: UnsafeMutablePointer<UInt32>

    init(buckets: Int) {
        self.buckets = buckets
        ring = buckets + 1
        storage = .allocate(capacity: ring * 2)
        storage.initialize(repeating: 0, count: ring * 2)
    }

    deinit { storage.deallocate() }

    var footprintBytes: Int { ring * 8 }

    @inline(__always)
    mutating func add(bucket b: Int64, pageview: Bool) {
        var slot = headSlot
        if b != head {
            if b > head {
                advance(toBucket: b)
                slot = headSlot
            } else {
                let d = head &- b
                if d >= Int64(ring) { return }  // older than the ring
                slot = headSlot &- Int(d)
                if slot < 0 { slot &+= ring }
            }
        }
        storage[slot &* 2] &+= 1
        if pageview { storage[slot &* 2 &+ 1] &+= 1 }
    }

    mutating func advance(toBucket b: Int64) {
        guard b > head else { return }
        if head < 0 || b - head >= Int64(ring) {
            storage.update(repeating: 0, count: ring * 2)
            headSlot = Int(b % Int64(ring))
        } else {
            var steps = Int(b - head)
            while steps > 0 {
                headSlot += 1
                if headSlot == ring { headSlot = 0 }
                storage[headSlot * 2] = 0
                storage[headSlot * 2 + 1] = 0
                steps -= 1
            }
        }
        head = b
    }

    /// Count `ago` buckets before the head (0 = the current, partial bucket).
    func count(bucketsAgo ago: Int, pageviews: Bool = false) -> Int64 {
        guard head >= 0, ago >= 0, ago < ring else { return 0 }
        var slot = headSlot - ago
        if slot < 0 { slot += ring }
        return Int64(storage[slot * 2 + (pageviews ? 1 : 0)])
    }

    /// The `buckets` complete buckets before the head, oldest first.
    func history(pageviews: Bool = false) -> [Double] {
        (0..<buckets).map { Double(count(bucketsAgo: buckets - $0, pageviews: pageviews)) }
    }

    func sumOfComplete(last n: Int, pageviews: Bool = false) -> Int64 {
        var s: Int64 = 0
        for ago in 1...max(1, min(n, buckets)) { s += count(bucketsAgo: ago, pageviews: pageviews) }
        return s
    }
}

/// A HyperLogLog on raw storage for the hot path (`HyperLogLog` is the value-type API).
struct RawHLL: ~Copyable {
    let precision: Int
    let registers: UnsafeMutablePointer<UInt8>
    var count: Int { 1 << precision }

    init(precision: Int) {
        self.precision = precision
        registers = .allocate(capacity: 1 << precision)
        registers.initialize(repeating: 0, count: 1 << precision)
    }
    deinit { registers.deallocate() }

    @inline(__always)
    func addMixed(_ h: UInt64) -> Bool { HyperLogLog.add(h, precision: precision, registers: registers) }
    func reset() { registers.update(repeating: 0, count: count) }
    func merge(into other: UnsafeMutablePointer<UInt8>) {
        for i in 0..<count { other[i] = max(other[i], registers[i]) }
    }
    func estimate() -> Int64 {
        Int64(HyperLogLog.estimate(registers: UnsafeBufferPointer(start: registers, count: count)).rounded())
    }
}

/// The live figures of one site. Lives at a fixed address (allocated by `LiveAggregates`, never
/// moved) and is reached through a pointer, so updates carry no reference counting, no
/// copy-on-write checks and no dynamic exclusivity checks.
struct SiteState: ~Copyable {
    static let countryCodes = 26 * 26
    static let unknownCountry = countryCodes
    // Offsets into `counts`.
    static let typeBase = 0
    static let channelBase = typeBase + LiveEventType.allCases.count
    static let deviceBase = channelBase + Channel.allCases.count
    static let browserBase = deviceBase + DeviceClass.allCases.count
    static let countryBase = browserBase + BrowserFamily.allCases.count
    static let countsLength = countryBase + countryCodes + 1

    let index: UInt32
    var siteId: String
    var hasName: Bool

    var perSecond: PairRing
    var perMinute: PairRing

    var eventsTotal: Int64 = 0
    var pageviews: Int64 = 0
    var botEvents: Int64 = 0
    var addToCarts: Int64 = 0
    var purchases: Int64 = 0
    var revenue: Double = 0
    /// Events by type, then pageviews by channel, device, browser and country (26 × 26 + unknown).
    let counts: UnsafeMutablePointer<Int64>
    var pages: SpaceSaving
    var referrers: SpaceSaving

    /// Distinct visitors of the UTC day `todayDay` (days since epoch).
    var today: RawHLL
    var todayDay: Int64 = -1
    var todayChanged = true
    var todayEstimate: Int64 = 0

    /// Active visitors: one sketch per minute, keyed by minute % activeMinutes.
    let activeMinutes: Int
    let activePrecision: Int
    let activeRing: UnsafeMutablePointer<UInt8>
    let activeRingMinute: UnsafeMutablePointer<Int64>
    var activeCurrentMinute: Int64 = -1
    var activeCurrentSlot = 0
    var activeChanged = true
    var activeEstimateMinute: Int64 = -1
    var activeEstimate: Int64 = 0
    var activeScratch: RawHLL

    init(index: UInt32, siteId: String, hasName: Bool, configuration c: LiveAggregates.Configuration) {
        self.index = index
        self.siteId = siteId
        self.hasName = hasName
        perSecond = PairRing(buckets: 600)
        perMinute = PairRing(buckets: 1440)
        counts = .allocate(capacity: Self.countsLength)
        counts.initialize(repeating: 0, count: Self.countsLength)
        pages = SpaceSaving(capacity: c.topPagesCapacity, nameBytes: c.nameBytes)
        referrers = SpaceSaving(capacity: c.topReferrersCapacity, nameBytes: c.nameBytes)
        today = RawHLL(precision: c.visitorsTodayPrecision)
        activeMinutes = c.activeVisitorsMinutes
        activePrecision = c.activeVisitorsPrecision
        activeRing = .allocate(capacity: activeMinutes << activePrecision)
        activeRing.initialize(repeating: 0, count: activeMinutes << activePrecision)
        activeRingMinute = .allocate(capacity: activeMinutes)
        activeRingMinute.initialize(repeating: -1, count: activeMinutes)
        activeScratch = RawHLL(precision: c.activeVisitorsPrecision)
    }

    deinit {
        counts.deallocate()
        activeRing.deallocate()
        activeRingMinute.deallocate()
    }

    var footprintBytes: Int {
        perSecond.footprintBytes + perMinute.footprintBytes + Self.countsLength * 8 + today.count
            + (activeMinutes + 1) << activePrecision + pages.footprintBytes + referrers.footprintBytes
            + MemoryLayout<SiteState>.stride
    }

    @inline(__always)
    static func countrySlot(_ code: UInt16) -> Int {
        let a = Int(code >> 8) &- 65, b = Int(code & 0xff) &- 65
        if a >= 0 && a < 26 && b >= 0 && b < 26 { return a &* 26 &+ b }
        return unknownCountry
    }

    static func countryName(_ slot: Int) -> String {
        guard slot < countryCodes else { return "unknown" }
        return String(decoding: [UInt8(65 + slot / 26), UInt8(65 + slot % 26)], as: UTF8.self)
    }

    /// Reads the registers `addVisitor` will touch for this visitor, so they are in cache.
    @inline(__always)
    func warmVisitor(_ visitor: UInt64) -> UInt8 {
        let h = Hash64.mix(visitor)
        let a = today.registers[Int(truncatingIfNeeded: h >> UInt64(64 - today.precision))]
        let b = activeRing[(activeCurrentSlot << activePrecision) | Int(truncatingIfNeeded: h >> UInt64(64 - activePrecision))]
        return a &+ b
    }

    /// Visitor bookkeeping for one human event.
    @inline(__always)
    mutating func addVisitor(_ visitor: UInt64, day: Int64, minute: Int64) {
        let h = Hash64.mix(visitor)
        if day != todayDay {
            guard day > todayDay else { return addActive(h, minute: minute) }  // yesterday's, late
            today.reset(); todayDay = day; todayChanged = true
        }
        if today.addMixed(h) { todayChanged = true }
        addActive(h, minute: minute)
    }

    @inline(__always)
    private mutating func addActive(_ h: UInt64, minute: Int64) {
        var slot = activeCurrentSlot
        if minute != activeCurrentMinute {
            slot = Int(minute % Int64(activeMinutes))
            if activeRingMinute[slot] != minute {
                guard minute > activeRingMinute[slot] else { return }  // older than the ring
                (activeRing + (slot << activePrecision)).update(repeating: 0, count: 1 << activePrecision)
                activeRingMinute[slot] = minute
                activeChanged = true
            }
            if minute > activeCurrentMinute { activeCurrentMinute = minute; activeCurrentSlot = slot }
        }
        if HyperLogLog.add(h, precision: activePrecision, registers: activeRing + (slot << activePrecision)) {
            activeChanged = true
        }
    }

    mutating func visitorsToday(nowMs: Int64) -> Int64 {
        if nowMs / 86_400_000 > todayDay { return 0 }
        if todayChanged { todayEstimate = today.estimate(); todayChanged = false }
        return todayEstimate
    }

    /// Distinct visitors over the current minute and the `activeMinutes - 1` before it.
    mutating func activeVisitors(nowMs: Int64) -> Int64 {
        let nowMinute = nowMs / 60_000
        if !activeChanged && activeEstimateMinute == nowMinute { return activeEstimate }
        activeScratch.reset()
        let oldest = nowMinute - Int64(activeMinutes) + 1
        for i in 0..<activeMinutes where activeRingMinute[i] >= oldest && activeRingMinute[i] <= nowMinute {
            let src = activeRing + (i << activePrecision)
            let dst = activeScratch.registers
            for r in 0..<(1 << activePrecision) { dst[r] = max(dst[r], src[r]) }  // vectorises
        }
        activeEstimate = activeScratch.estimate()
        activeEstimateMinute = nowMinute
        activeChanged = false
        return activeEstimate
    }
}
