/// Per-site live figures, kept current by applying batches of `LiveEvent`s.
///
/// Single owner: one thread or actor calls `apply` and `snapshot`; nothing here locks. The hot path
/// (`apply`) does no allocation once a site and its sketches exist, reads the clock once per batch,
/// and touches per event: a few counters and windows, two HyperLogLog registers, at most two
/// Space-Saving counters and one session slot. Names are copied only when a site is first seen or a
/// page or referrer takes a top-K counter.
///
/// `snapshot` builds `SiteStats` values; publish them with `SnapshotPublisher` so readers never
/// touch this object.
public final class LiveAggregates {
    public struct Configuration: Sendable {
        /// Open sessions held at most; beyond it the least recently active (of a sample) is closed.
        public var maxSessions = 2_000_000
        /// Allocate the session table at its largest size (for `maxSessions`) at start. Its memory
        /// is then fixed from the first minute (128 MiB for 2M sessions) instead of doubling for the
        /// half hour it takes open sessions to reach their steady state, and no rehash of millions
        /// of slots stalls a batch. For long-running nodes; off for short-lived ones and tests.
        public var reserveSessions = false
        /// A session ends after this long without events.
        public var sessionTimeoutMs: Int64 = 30 * 60_000
        /// Space-Saving counters per site; the error of a reported count is at most total / capacity.
        public var topPagesCapacity = 128
        public var topReferrersCapacity = 64
        /// Entries in each top list of `SiteStats`.
        public var topK = 10
        /// Bytes of a page or referrer name kept for display (longer names are cut at a UTF-8 boundary).
        public var nameBytes = 96
        /// "events/s now" is the mean over this many complete seconds.
        public var rateWindowSeconds = 5
        public var visitorsTodayPrecision = 14
        public var activeVisitorsPrecision = 12
        /// Active visitors = union of this many one-minute sketches: the current (partial) minute and
        /// the ones before it, so the window spans (minutes − 1, minutes] minutes.
        public var activeVisitorsMinutes = 5
        /// Click-to-dashboard latency summaries cover one to two of these intervals.
        public var latencyIntervalMs: Int64 = 10_000
        /// Site indexes at or above this are refused (counted in `droppedEvents`).
        public var maxSites = 1 << 16
        public init() {}
    }

    public let configuration: Configuration
    public let clock: any MetricsClock
    /// Site index → its state (nil until first seen). States never move once allocated.
    private var siteTable: UnsafeMutablePointer<UnsafeMutablePointer<SiteState>?>
    private var siteTableCapacity = 0
    private var siteCount = 0
    /// Held through pointers so the per-event path has no dynamic exclusivity checks.
    private let sessions: UnsafeMutablePointer<SessionTable>
    private let latency: UnsafeMutablePointer<LatencyRecorder>
    public private(set) var eventsApplied: Int64 = 0
    public private(set) var droppedEvents: Int64 = 0
    public private(set) var batchesApplied: Int64 = 0

    public init(configuration: Configuration = Configuration(), clock: any MetricsClock = SystemClock()) {
        self.configuration = configuration
        self.clock = clock
        sessions = .allocate(capacity: 1)
        sessions.initialize(to: SessionTable(maxSessions: configuration.maxSessions, timeoutMs: configuration.sessionTimeoutMs,
                                             initialSlots: configuration.reserveSessions ? SessionTable.slots(for: configuration.maxSessions) : 1 << 14))
        latency = .allocate(capacity: 1)
        latency.initialize(to: LatencyRecorder(intervalMs: configuration.latencyIntervalMs))
        siteTable = .allocate(capacity: 1)
    }

    deinit {
        for i in 0..<siteTableCapacity {
            if let s = siteTable[i] { s.deinitialize(count: 1); s.deallocate() }
        }
        siteTable.deallocate()
        sessions.deinitialize(count: 1); sessions.deallocate()
        latency.deinitialize(count: 1); latency.deallocate()
    }

    // MARK: - Applying

    /// Applies a batch. `names` is the buffer the events' `NameRef`s point into.
    public func apply(_ events: UnsafeBufferPointer<LiveEvent>, names: UnsafeRawBufferPointer) {
        guard !events.isEmpty else { return }
        let now = clock.nowMs()
        latency.pointee.roll(nowMs: now)
        let maxSites = configuration.maxSites
        // Latency as runs of equal values: events of a batch mostly share their arrival millisecond.
        var runLatency: Int64 = -1
        var runCount: Int64 = 0
        var dropped: Int64 = 0
        var chunkStart = 0
        while chunkStart < events.count {
            let chunkEnd = min(chunkStart + Self.warmChunk, events.count)
            warm(events, chunkStart..<chunkEnd)
            for i in chunkStart..<chunkEnd {
                let e = events[i]
                let index = Int(e.site)
                guard index < maxSites else { dropped &+= 1; continue }
                let site: UnsafeMutablePointer<SiteState>
                if index < siteTableCapacity, let s = siteTable[index] {
                    site = s
                    if !s.pointee.hasName && e.siteName.length > 0 { nameSite(s, e.siteName.bytes(in: names)) }
                } else {
                    site = addSite(index, e.siteName.bytes(in: names))
                }
                let lat = now &- e.arrivalMs
                if lat == runLatency { runCount &+= 1 } else {
                    if runCount > 0 { latency.pointee.record(ms: runLatency, count: runCount) }
                    runLatency = lat; runCount = 1
                }
                Self.applyOne(e, at: e.arrivalMs < now ? e.arrivalMs : now, site: site, sessions: sessions, names: names)
            }
            chunkStart = chunkEnd
        }
        if runCount > 0 { latency.pointee.record(ms: runLatency, count: runCount) }
        droppedEvents &+= dropped
        eventsApplied &+= Int64(events.count) &- dropped
        batchesApplied &+= 1
        sessions.pointee.sweep(budget: max(256, events.count * 2))
    }

    /// Events whose memory is touched ahead of applying them.
    static let warmChunk = 32
    private var warmSink: UInt64 = 0

    /// The per-event cost is cache misses (a session slot, two sketch registers, a top-K slot in
    /// megabytes of state). Touching them for a chunk of events first issues those loads
    /// independently, so they overlap instead of stalling one after another.
    @inline(__always)
    private func warm(_ events: UnsafeBufferPointer<LiveEvent>, _ range: Range<Int>) {
        var sink: UInt64 = 0
        for i in range {
            let e = events[i]
            let index = Int(e.site)
            guard index < siteTableCapacity, let s = siteTable[index], !e.isBot else { continue }
            if e.visitor != 0 { sink &+= UInt64(s.pointee.warmVisitor(e.visitor)) }
            let sessionKey = e.session != 0 ? e.session : e.visitor
            if sessionKey != 0 { sink &+= sessions.pointee.warm(sessionKey) }
            if e.page != 0 && e.type == LiveEventType.pageview.rawValue { sink &+= UInt64(bitPattern: Int64(s.pointee.pages.warm(e.page))) }
        }
        warmSink &+= sink
    }

    public func apply(_ batch: LiveEventBatch) {
        batch.events.withUnsafeBufferPointer { e in
            batch.nameBytes.withUnsafeBytes { n in apply(e, names: n) }
        }
    }

    @inline(__always)
    private static func applyOne(_ e: LiveEvent, at: Int64, site: UnsafeMutablePointer<SiteState>,
                                 sessions: UnsafeMutablePointer<SessionTable>, names: UnsafeRawBufferPointer) {
        let type = e.type < LiveEventType.other.rawValue ? e.type : LiveEventType.other.rawValue
        let isPageview = type == LiveEventType.pageview.rawValue
        let second = at / 1000
        site.pointee.eventsTotal &+= 1
        site.pointee.counts[SiteState.typeBase &+ Int(type)] &+= 1
        site.pointee.perSecond.add(bucket: second, pageview: isPageview)
        let minute = second / 60
        site.pointee.perMinute.add(bucket: minute, pageview: isPageview)
        if isPageview { site.pointee.pageviews &+= 1 }
        if e.isBot { site.pointee.botEvents &+= 1; return }

        if e.visitor != 0 { site.pointee.addVisitor(e.visitor, day: second / 86_400, minute: minute) }
        // Without a session id, the visitor's events are sessionised by the same 30-minute rule.
        let sessionKey = e.session != 0 ? e.session : e.visitor
        if sessionKey != 0 { sessions.pointee.touch(sessionKey, site: e.site, atMs: at, pageview: isPageview) }
        if isPageview {
            if e.page != 0 { site.pointee.pages.add(e.page, name: e.pageName.bytes(in: names)) }
            if e.referrer != 0 { site.pointee.referrers.add(e.referrer, name: e.referrerName.bytes(in: names)) }
            let c = site.pointee.counts
            c[SiteState.channelBase &+ Int(min(e.channel, Channel.other.rawValue))] &+= 1
            c[SiteState.deviceBase &+ Int(min(e.device, DeviceClass.other.rawValue))] &+= 1
            c[SiteState.browserBase &+ Int(min(e.browser, BrowserFamily.other.rawValue))] &+= 1
            c[SiteState.countryBase &+ SiteState.countrySlot(e.country)] &+= 1
        } else if type == LiveEventType.addToCart.rawValue {
            site.pointee.addToCarts &+= 1
        } else if type == LiveEventType.purchase.rawValue {
            site.pointee.purchases &+= 1
            site.pointee.revenue += e.value
        }
    }

    private func addSite(_ index: Int, _ name: UnsafeRawBufferPointer) -> UnsafeMutablePointer<SiteState> {
        if index >= siteTableCapacity {
            let capacity = max(index + 1, siteTableCapacity * 2, 64)
            let grown = UnsafeMutablePointer<UnsafeMutablePointer<SiteState>?>.allocate(capacity: capacity)
            grown.moveInitialize(from: siteTable, count: siteTableCapacity)
            (grown + siteTableCapacity).initialize(repeating: nil, count: capacity - siteTableCapacity)
            siteTable.deallocate()
            siteTable = grown
            siteTableCapacity = capacity
        }
        let named = !name.isEmpty
        let s = UnsafeMutablePointer<SiteState>.allocate(capacity: 1)
        s.initialize(to: SiteState(index: UInt32(index), siteId: named ? String(decoding: name, as: UTF8.self) : "site-\(index)",
                                   hasName: named, configuration: configuration))
        siteTable[index] = s
        siteCount += 1
        sessions.pointee.ensureSites(siteTableCapacity)
        return s
    }

    private func nameSite(_ s: UnsafeMutablePointer<SiteState>, _ name: UnsafeRawBufferPointer) {
        s.pointee.siteId = String(decoding: name, as: UTF8.self)
        s.pointee.hasName = true
    }

    private func forEachSite(_ body: (UnsafeMutablePointer<SiteState>) -> Void) {
        for i in 0..<siteTableCapacity { if let s = siteTable[i] { body(s) } }
    }

    // MARK: - Reading

    /// Number of sites seen.
    public var siteCountSeen: Int { siteCount }

    /// Site index of a site id, if seen.
    public func siteIndex(of siteId: String) -> Int? {
        for i in 0..<siteTableCapacity { if let s = siteTable[i], s.pointee.siteId == siteId { return i } }
        return nil
    }

    /// Figures of every site seen, busiest (events/s) first. `nowMs` defaults to the clock.
    public func snapshot(nowMs: Int64? = nil) -> [SiteStats] {
        let now = nowMs ?? clock.nowMs()
        var out: [SiteStats] = []
        out.reserveCapacity(siteCount)
        forEachSite { out.append(stats(of: $0, now: now)) }
        out.sort { $0.eventsPerSec != $1.eventsPerSec ? $0.eventsPerSec > $1.eventsPerSec : $0.siteId < $1.siteId }
        return out
    }

    /// Figures of one site (by its dense index), or nil if never seen.
    public func siteStats(index: Int, nowMs: Int64? = nil) -> SiteStats? {
        guard index >= 0, index < siteTableCapacity, let s = siteTable[index] else { return nil }
        return stats(of: s, now: nowMs ?? clock.nowMs())
    }

    /// Session totals of one site (for tests and the bench).
    public func sessionTotals(index: Int) -> SessionTotals { sessions.pointee.totals(site: index) }

    /// Click-to-dashboard latency: collector arrival → applied here, over the last 10–20 s.
    public func clickToDashboard() -> LatencySummary { latency.pointee.summary() }

    public func stats(nowMs: Int64? = nil) -> LiveAggregatesStats {
        var bytes = sessions.pointee.footprintBytes + siteTableCapacity * 8
        forEachSite { bytes += $0.pointee.footprintBytes }
        return LiveAggregatesStats(sites: Int64(siteCount), eventsApplied: eventsApplied, eventsDropped: droppedEvents,
                                   sessionsOpen: Int64(sessions.pointee.count), sessionsEvicted: sessions.pointee.evicted,
                                   sessionsExpired: sessions.pointee.expired, sessionCapacity: Int64(configuration.maxSessions),
                                   memoryBytes: Int64(bytes))
    }

    /// Sets the parts of a node snapshot this object owns: sites, click-to-dashboard, live stats.
    public func fill(_ node: inout NodeSnapshot, nowMs: Int64? = nil) {
        let now = nowMs ?? clock.nowMs()
        node.sites = snapshot(nowMs: now)
        node.clickToDashboard = clickToDashboard()
        node.live = stats(nowMs: now)
    }

    private func stats(of site: UnsafeMutablePointer<SiteState>, now: Int64) -> SiteStats {
        let c = configuration
        let second = now / 1000
        site.pointee.perSecond.advance(toBucket: second)
        site.pointee.perMinute.advance(toBucket: second / 60)
        let counts = site.pointee.counts
        var eventsByType: [String: Int64] = [:]
        for t in LiveEventType.allCases where counts[SiteState.typeBase + Int(t.rawValue)] > 0 {
            eventsByType[t.name] = counts[SiteState.typeBase + Int(t.rawValue)]
        }
        let totals = sessions.pointee.totals(site: Int(site.pointee.index))

        func exact(_ base: Int, _ n: Int, _ name: (Int) -> String) -> [RankedCount] {
            var r: [RankedCount] = []
            for i in 0..<n where counts[base + i] > 0 { r.append(RankedCount(name: name(i), count: counts[base + i])) }
            r.sort { $0.count != $1.count ? $0.count > $1.count : $0.name < $1.name }
            return Array(r.prefix(c.topK))
        }
        func sketched(_ ss: borrowing SpaceSaving) -> [RankedCount] {
            ss.top(c.topK).map { RankedCount(name: $0.name, count: $0.count, error: $0.error) }
        }
        let window = max(1, min(c.rateWindowSeconds, 600))
        let s = site
        let eventsTotal = s.pointee.eventsTotal
        return SiteStats(
            siteId: s.pointee.siteId,
            eventsPerSec: Double(s.pointee.perSecond.sumOfComplete(last: window)) / Double(window),
            pageviewsPerSec: Double(s.pointee.perSecond.sumOfComplete(last: window, pageviews: true)) / Double(window),
            eventsPerSecHistory: s.pointee.perSecond.history(),
            eventsPerMinuteHistory: s.pointee.perMinute.history(),
            eventsTotal: eventsTotal, eventsByType: eventsByType,
            activeVisitors: s.pointee.activeVisitors(nowMs: now), visitorsToday: s.pointee.visitorsToday(nowMs: now),
            sessions: totals.started, bounceRate: totals.bounceRate, avgSessionSeconds: totals.averageSeconds,
            pageviews: s.pointee.pageviews, topPages: sketched(s.pointee.pages), referrers: sketched(s.pointee.referrers),
            channels: exact(SiteState.channelBase, Channel.allCases.count) { Channel(rawValue: UInt8($0))!.name },
            countries: exact(SiteState.countryBase, SiteState.countryCodes + 1) { SiteState.countryName($0) },
            devices: exact(SiteState.deviceBase, DeviceClass.allCases.count) { DeviceClass(rawValue: UInt8($0))!.name },
            browsers: exact(SiteState.browserBase, BrowserFamily.allCases.count) { BrowserFamily(rawValue: UInt8($0))!.name },
            botShare: eventsTotal > 0 ? Double(s.pointee.botEvents) / Double(eventsTotal) : 0,
            addToCarts: s.pointee.addToCarts, purchases: s.pointee.purchases, revenue: s.pointee.revenue)
    }
}
