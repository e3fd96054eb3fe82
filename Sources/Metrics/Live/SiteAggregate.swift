/// The live figures of one site. Owned by `LiveAggregates`; not thread-safe.
final class SiteAggregate {
    static let countryCodes = 26 * 26
    static let unknownCountry = countryCodes

    let index: UInt32
    var siteId: String
    var hasName: Bool

    var eventsPerSecond = WindowedCounter.perSecond()
    var pageviewsPerSecond = WindowedCounter.perSecond()
    var eventsPerMinute = WindowedCounter.perMinute()
    var pageviewsPerMinute = WindowedCounter.perMinute()

    var eventsTotal: Int64 = 0
    var pageviews: Int64 = 0
    var botEvents: Int64 = 0
    var addToCarts: Int64 = 0
    var purchases: Int64 = 0
    var revenue: Double = 0
    var byType = [Int64](repeating: 0, count: LiveEventType.allCases.count)
    var channels = [Int64](repeating: 0, count: Channel.allCases.count)
    var devices = [Int64](repeating: 0, count: DeviceClass.allCases.count)
    var browsers = [Int64](repeating: 0, count: BrowserFamily.allCases.count)
    /// Exact counts: 26 × 26 two-letter codes plus one slot for unknown.
    var countries = [Int64](repeating: 0, count: SiteAggregate.countryCodes + 1)
    var pages: SpaceSaving
    var referrers: SpaceSaving

    /// Distinct visitors of the UTC day `todayDay` (days since epoch).
    var today: HyperLogLog
    var todayDay: Int64 = -1
    var todayChanged = true
    var todayEstimate: Int64 = 0

    /// Active visitors: one sketch per minute, `activeMinutes` of them, keyed by minute % count.
    var activeRing: [HyperLogLog]
    var activeRingMinute: [Int64]
    var activeChanged = true
    var activeEstimateMinute: Int64 = -1
    var activeEstimate: Int64 = 0
    var activeScratch: HyperLogLog

    init(index: UInt32, siteId: String, hasName: Bool, configuration c: LiveAggregates.Configuration) {
        self.index = index
        self.siteId = siteId
        self.hasName = hasName
        pages = SpaceSaving(capacity: c.topPagesCapacity, nameBytes: c.nameBytes)
        referrers = SpaceSaving(capacity: c.topReferrersCapacity, nameBytes: c.nameBytes)
        today = HyperLogLog(precision: c.visitorsTodayPrecision)
        activeRing = Array(repeating: HyperLogLog(precision: c.activeVisitorsPrecision), count: c.activeVisitorsMinutes)
        activeRingMinute = Array(repeating: -1, count: c.activeVisitorsMinutes)
        activeScratch = HyperLogLog(precision: c.activeVisitorsPrecision)
    }

    var footprintBytes: Int {
        let windows = (eventsPerSecond.buckets + eventsPerMinute.buckets + 2) * 2 * 8
        let arrays = (byType.count + channels.count + devices.count + browsers.count + countries.count) * 8
        let sketches = today.registerCount * (1) + activeRing.count * activeScratch.registerCount + activeScratch.registerCount
        return windows + arrays + sketches + pages.footprintBytes + referrers.footprintBytes + 256
    }

    @inline(__always)
    static func countrySlot(_ code: UInt16) -> Int {
        let a = Int(code >> 8) &- 65, b = Int(code & 0xff) &- 65
        if a >= 0 && a < 26 && b >= 0 && b < 26 { return a * 26 + b }
        return unknownCountry
    }

    static func countryName(_ slot: Int) -> String {
        guard slot < countryCodes else { return "unknown" }
        return String(decoding: [UInt8(65 + slot / 26), UInt8(65 + slot % 26)], as: UTF8.self)
    }

    /// Visitor bookkeeping for one human event at `atMs`.
    @inline(__always)
    func addVisitor(_ visitor: UInt64, atMs: Int64) {
        let h = Hash64.mix(visitor)
        let day = atMs / 86_400_000
        if day > todayDay { today.reset(); todayDay = day; todayChanged = true }
        if day == todayDay, today.addMixed(h) { todayChanged = true }

        let minute = atMs / 60_000
        let slot = Int(minute % Int64(activeRing.count))
        if activeRingMinute[slot] != minute {
            guard minute > activeRingMinute[slot] else { return }  // older than the ring: too late
            activeRing[slot].reset()
            activeRingMinute[slot] = minute
            activeChanged = true
        }
        if activeRing[slot].addMixed(h) { activeChanged = true }
    }

    func visitorsToday(nowMs: Int64) -> Int64 {
        if nowMs / 86_400_000 > todayDay { return 0 }
        if todayChanged { todayEstimate = today.count; todayChanged = false }
        return todayEstimate
    }

    /// Distinct visitors over the current minute and the `activeRing.count - 1` before it.
    func activeVisitors(nowMs: Int64) -> Int64 {
        let nowMinute = nowMs / 60_000
        if !activeChanged && activeEstimateMinute == nowMinute { return activeEstimate }
        activeScratch.reset()
        let oldest = nowMinute - Int64(activeRing.count) + 1
        for i in activeRing.indices where activeRingMinute[i] >= oldest && activeRingMinute[i] <= nowMinute {
            activeScratch.merge(activeRing[i])
        }
        activeEstimate = activeScratch.count
        activeEstimateMinute = nowMinute
        activeChanged = false
        return activeEstimate
    }
}
