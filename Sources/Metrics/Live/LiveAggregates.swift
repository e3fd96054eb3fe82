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
    private var sites: [SiteAggregate?] = []
    private var siteCount = 0
    private var sessions: SessionTable
    private var latency: LatencyRecorder
    public private(set) var eventsApplied: Int64 = 0
    public private(set) var droppedEvents: Int64 = 0
    public private(set) var batchesApplied: Int64 = 0
    private var lastNowMs: Int64 = 0

    public init(configuration: Configuration = Configuration(), clock: any MetricsClock = SystemClock()) {
        self.configuration = configuration
        self.clock = clock
        sessions = SessionTable(maxSessions: configuration.maxSessions, timeoutMs: configuration.sessionTimeoutMs)
        latency = LatencyRecorder(intervalMs: configuration.latencyIntervalMs)
    }

    // MARK: - Applying

    /// Applies a batch. `names` is the buffer the events' `NameRef`s point into.
    public func apply(_ events: UnsafeBufferPointer<LiveEvent>, names: UnsafeRawBufferPointer) {
        guard !events.isEmpty else { return }
        let now = clock.nowMs()
        lastNowMs = now
        latency.roll(nowMs: now)
        for i in 0..<events.count {
            applyOne(events[i], now: now, names: names)
        }
        eventsApplied &+= Int64(events.count)
        batchesApplied &+= 1
        sessions.sweep(budget: max(256, events.count * 2))
    }

    public func apply(_ batch: LiveEventBatch) {
        batch.events.withUnsafeBufferPointer { e in
            batch.nameBytes.withUnsafeBytes { n in apply(e, names: n) }
        }
    }

    @inline(__always)
    private func applyOne(_ e: LiveEvent, now: Int64, names: UnsafeRawBufferPointer) {
        let index = Int(e.site)
        guard index < configuration.maxSites else { droppedEvents &+= 1; return }
        let site: SiteAggregate
        if index < sites.count, let s = sites[index] {
            site = s
            if !s.hasName && e.siteName.length > 0 { nameSite(s, e.siteName.bytes(in: names)) }
        } else {
            site = addSite(index, e.siteName.bytes(in: names))
        }
        let at = e.arrivalMs < now ? e.arrivalMs : now
        latency.record(ms: now - e.arrivalMs)

        let type = e.type < LiveEventType.other.rawValue ? e.type : LiveEventType.other.rawValue
        let isPageview = type == LiveEventType.pageview.rawValue
        site.eventsTotal &+= 1
        site.byType[Int(type)] &+= 1
        site.eventsPerSecond.add(atMs: at)
        site.eventsPerMinute.add(atMs: at)
        if isPageview {
            site.pageviews &+= 1
            site.pageviewsPerSecond.add(atMs: at)
            site.pageviewsPerMinute.add(atMs: at)
        }
        if e.isBot { site.botEvents &+= 1; return }

        if e.visitor != 0 { site.addVisitor(e.visitor, atMs: at) }
        if e.session != 0 { sessions.touch(e.session, site: e.site, atMs: at, pageview: isPageview) }
        if isPageview {
            if e.page != 0 { site.pages.add(e.page, name: e.pageName.bytes(in: names)) }
            if e.referrer != 0 { site.referrers.add(e.referrer, name: e.referrerName.bytes(in: names)) }
            site.channels[Int(min(e.channel, Channel.other.rawValue))] &+= 1
            site.devices[Int(min(e.device, DeviceClass.other.rawValue))] &+= 1
            site.browsers[Int(min(e.browser, BrowserFamily.other.rawValue))] &+= 1
            site.countries[SiteAggregate.countrySlot(e.country)] &+= 1
        } else if type == LiveEventType.addToCart.rawValue {
            site.addToCarts &+= 1
        } else if type == LiveEventType.purchase.rawValue {
            site.purchases &+= 1
            site.revenue += e.value
        }
    }

    private func addSite(_ index: Int, _ name: UnsafeRawBufferPointer) -> SiteAggregate {
        if sites.count <= index { sites.append(contentsOf: repeatElement(nil, count: index + 1 - sites.count)) }
        let named = !name.isEmpty
        let s = SiteAggregate(index: UInt32(index), siteId: named ? String(decoding: name, as: UTF8.self) : "site-\(index)",
                              hasName: named, configuration: configuration)
        sites[index] = s
        siteCount += 1
        sessions.ensureSites(sites.count)
        return s
    }

    private func nameSite(_ s: SiteAggregate, _ name: UnsafeRawBufferPointer) {
        s.siteId = String(decoding: name, as: UTF8.self)
        s.hasName = true
    }

    // MARK: - Reading

    /// Number of sites seen.
    public var siteCountSeen: Int { siteCount }

    /// Site index of a site id, if seen.
    public func siteIndex(of siteId: String) -> Int? {
        sites.firstIndex { $0?.siteId == siteId }
    }

    /// Figures of every site seen, busiest (events/s) first. `nowMs` defaults to the clock.
    public func snapshot(nowMs: Int64? = nil) -> [SiteStats] {
        let now = nowMs ?? clock.nowMs()
        var out: [SiteStats] = []
        out.reserveCapacity(siteCount)
        for case let s? in sites { out.append(stats(of: s, now: now)) }
        out.sort { $0.eventsPerSec != $1.eventsPerSec ? $0.eventsPerSec > $1.eventsPerSec : $0.siteId < $1.siteId }
        return out
    }

    /// Figures of one site (by its dense index), or nil if never seen.
    public func siteStats(index: Int, nowMs: Int64? = nil) -> SiteStats? {
        guard index < sites.count, let s = sites[index] else { return nil }
        return stats(of: s, now: nowMs ?? clock.nowMs())
    }

    /// Open-session totals of one site (for tests and the bench).
    public func sessionTotals(index: Int) -> SessionTotals? {
        index < sessions.totals.count ? sessions.totals[index] : nil
    }

    /// Click-to-dashboard latency: collector arrival → applied here, over the last 10–20 s.
    public func clickToDashboard() -> LatencySummary { latency.summary() }

    public func stats(nowMs: Int64? = nil) -> LiveAggregatesStats {
        var bytes = sessions.footprintBytes + sites.count * 8
        for case let s? in sites { bytes += s.footprintBytes }
        return LiveAggregatesStats(sites: Int64(siteCount), eventsApplied: eventsApplied, eventsDropped: droppedEvents,
                                   sessionsOpen: Int64(sessions.count), sessionsEvicted: sessions.evicted,
                                   sessionsExpired: sessions.expired, sessionCapacity: Int64(configuration.maxSessions),
                                   memoryBytes: Int64(bytes))
    }

    /// Sets the parts of a node snapshot this object owns: sites, click-to-dashboard, live stats.
    public func fill(_ node: inout NodeSnapshot, nowMs: Int64? = nil) {
        let now = nowMs ?? clock.nowMs()
        node.sites = snapshot(nowMs: now)
        node.clickToDashboard = clickToDashboard()
        node.live = stats(nowMs: now)
    }

    private func stats(of s: SiteAggregate, now: Int64) -> SiteStats {
        let c = configuration
        s.eventsPerSecond.advance(toMs: now)
        s.pageviewsPerSecond.advance(toMs: now)
        s.eventsPerMinute.advance(toMs: now)
        var eventsByType: [String: Int64] = [:]
        for t in LiveEventType.allCases where s.byType[Int(t.rawValue)] > 0 { eventsByType[t.name] = s.byType[Int(t.rawValue)] }
        let totals = Int(s.index) < sessions.totals.count ? sessions.totals[Int(s.index)] : SessionTotals()

        func exact(_ counts: [Int64], _ name: (Int) -> String) -> [RankedCount] {
            var r: [RankedCount] = []
            for (i, n) in counts.enumerated() where n > 0 { r.append(RankedCount(name: name(i), count: n)) }
            r.sort { $0.count != $1.count ? $0.count > $1.count : $0.name < $1.name }
            return Array(r.prefix(c.topK))
        }
        func sketched(_ ss: borrowing SpaceSaving) -> [RankedCount] {
            ss.top(c.topK).map { RankedCount(name: $0.name, count: $0.count, error: $0.error) }
        }

        return SiteStats(
            siteId: s.siteId,
            eventsPerSec: s.eventsPerSecond.rate(overLast: c.rateWindowSeconds),
            pageviewsPerSec: s.pageviewsPerSecond.rate(overLast: c.rateWindowSeconds),
            eventsPerSecHistory: s.eventsPerSecond.history(nowMs: now),
            eventsPerMinuteHistory: s.eventsPerMinute.history(nowMs: now),
            eventsTotal: s.eventsTotal, eventsByType: eventsByType,
            activeVisitors: s.activeVisitors(nowMs: now), visitorsToday: s.visitorsToday(nowMs: now),
            sessions: totals.started, bounceRate: totals.bounceRate, avgSessionSeconds: totals.averageSeconds,
            pageviews: s.pageviews, topPages: sketched(s.pages), referrers: sketched(s.referrers),
            channels: exact(s.channels) { Channel(rawValue: UInt8($0))!.name },
            countries: exact(s.countries) { SiteAggregate.countryName($0) },
            devices: exact(s.devices) { DeviceClass(rawValue: UInt8($0))!.name },
            browsers: exact(s.browsers) { BrowserFamily(rawValue: UInt8($0))!.name },
            botShare: s.eventsTotal > 0 ? Double(s.botEvents) / Double(s.eventsTotal) : 0,
            addToCarts: s.addToCarts, purchases: s.purchases, revenue: s.revenue)
    }
}
