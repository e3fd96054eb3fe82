import XCTest
@testable import Metrics

final class LiveAggregatesTests: XCTestCase {
    /// 2026-11-26 00:00:00 UTC.
    let midnight: Int64 = 1_795_651_200_000

    struct SimEvent { var site: UInt32; var session: UInt64; var visitor: UInt64; var at: Int64; var type: LiveEventType
        var page: Int; var country: String; var device: DeviceClass; var bot: Bool; var value: Double }

    /// An hour of traffic on 3 sites: sessions with several visits, some separated by more than
    /// the 30-minute timeout (so one session id yields two sessions), bots, purchases.
    func simulatedHour(start: Int64) -> [SimEvent] {
        var rng = SplitMix64(seed: 7)
        var events: [SimEvent] = []
        let countries = ["US", "DE", "KR", "BR", "??"]
        for sessionId in 1...3000 as ClosedRange<UInt64> {
            let site = UInt32(rng.next() % 3)
            let visitor = 1_000_000 + rng.next() % 1800  // visitors return with new session ids
            let bot = rng.next() % 20 == 0
            var t = start + Int64(rng.next() % 3_000_000)
            let visits = 1 + Int(rng.next() % 2)
            for _ in 0..<visits {
                let n = 1 + Int(rng.next() % 6)
                for _ in 0..<n {
                    guard t < start + 3_600_000 else { break }
                    let r = rng.next() % 10
                    let type: LiveEventType = r < 6 ? .pageview : r < 8 ? .click : r < 9 ? .addToCart : .purchase
                    events.append(SimEvent(site: site, session: sessionId &* 0x9e37_79b9, visitor: visitor, at: t, type: type,
                                           page: Int(rng.next() % 40), country: countries[Int(rng.next() % 5)],
                                           device: DeviceClass(rawValue: UInt8(rng.next() % 4))!, bot: bot,
                                           value: type == .purchase ? Double(rng.next() % 10_000) / 100 : 0))
                    t += Int64(rng.next() % 240_000)  // up to 4 minutes between events
                }
                t += 31 * 60_000 + Int64(rng.next() % 600_000)  // the next visit is a new session
            }
        }
        events.sort { $0.at < $1.at }
        return events
    }

    func liveEvent(_ e: SimEvent, batch: inout LiveEventBatch) {
        batch.append(LiveEvent(site: e.site, type: e.type, channel: .organicSearch, device: e.device, browser: .firefox,
                               country: LiveEvent.countryCode(e.country), isBot: e.bot, tsMs: e.at, arrivalMs: e.at,
                               visitor: e.visitor, session: e.session, page: UInt64(e.page + 1), referrer: 0, value: e.value),
                     siteName: "site-\(["a", "b", "c"][Int(e.site)])", pageName: "/page/\(e.page)", referrerName: nil)
    }

    func testSessionsAndBounceEqualAnExactComputationOverASimulatedHour() {
        let start = midnight + 9 * 3_600_000
        let events = simulatedHour(start: start)
        let clock = ManualClock(start)
        var config = LiveAggregates.Configuration()
        config.maxSessions = 100_000
        let live = LiveAggregates(configuration: config, clock: clock)
        var batch = LiveEventBatch()
        for chunk in stride(from: 0, to: events.count, by: 100) {
            batch.removeAll()
            let slice = events[chunk..<min(chunk + 100, events.count)]
            for e in slice { liveEvent(e, batch: &batch) }
            clock.set(slice.last!.at)
            live.apply(batch)
        }

        // Exact: dictionaries of arrival lists per (site, session), split where the gap > 30 min.
        struct Exact { var sessions = 0; var bounces = 0; var durationMs: Int64 = 0; var events = 0; var pageviews = 0
            var purchases = 0; var revenue = 0.0; var bots = 0; var countries: [String: Int64] = [:] }
        var exact = [Exact](repeating: Exact(), count: 3)
        var bySession: [UInt64: [SimEvent]] = [:]
        for e in events {
            exact[Int(e.site)].events += 1
            if e.type == .pageview { exact[Int(e.site)].pageviews += 1 }
            if e.bot { exact[Int(e.site)].bots += 1; continue }
            if e.type == .pageview { exact[Int(e.site)].countries[e.country == "??" ? "unknown" : e.country, default: 0] += 1 }
            if e.type == .purchase { exact[Int(e.site)].purchases += 1; exact[Int(e.site)].revenue += e.value }
            bySession[e.session, default: []].append(e)
        }
        for (_, list) in bySession {
            var first = list[0].at, last = list[0].at, pv = 0
            func close() {
                exact[Int(list[0].site)].sessions += 1
                exact[Int(list[0].site)].durationMs += last - first
                if pv <= 1 { exact[Int(list[0].site)].bounces += 1 }
            }
            for e in list {
                if e.at - last > 30 * 60_000 { close(); first = e.at; pv = 0 }
                last = e.at
                if e.type == .pageview { pv += 1 }
            }
            close()
        }

        let stats = live.snapshot()
        XCTAssertEqual(stats.count, 3)
        var splitSessions = 0
        for site in 0..<3 {
            let name = "site-\(["a", "b", "c"][site])"
            guard let s = stats.first(where: { $0.siteId == name }) else { return XCTFail("no \(name)") }
            let x = exact[site]
            XCTAssertEqual(s.eventsTotal, Int64(x.events))
            XCTAssertEqual(s.pageviews, Int64(x.pageviews))
            XCTAssertEqual(s.sessions, Int64(x.sessions), name)
            XCTAssertGreaterThan(x.sessions, 500)
            XCTAssertEqual(s.bounceRate, Double(x.bounces) / Double(x.sessions), accuracy: 1e-12, name)
            XCTAssertEqual(s.avgSessionSeconds, Double(x.durationMs) / Double(x.sessions) / 1000, accuracy: 1e-9, name)
            XCTAssertEqual(s.botShare, Double(x.bots) / Double(x.events), accuracy: 1e-12)
            XCTAssertEqual(s.purchases, Int64(x.purchases))
            XCTAssertEqual(s.revenue, x.revenue, accuracy: 1e-6)
            let topCountries = Dictionary(uniqueKeysWithValues: s.countries.map { ($0.name, $0.count) })
            XCTAssertEqual(topCountries, x.countries)
            splitSessions += x.sessions
        }
        XCTAssertGreaterThan(splitSessions, 3100, "~2850 human session ids; more sessions means some ids split on the timeout")
        let bookkeeping = live.stats()
        XCTAssertEqual(bookkeeping.sessionsEvicted, 0)
        XCTAssertGreaterThan(bookkeeping.sessionsExpired, 0, "the sweep closed idle sessions during the hour")
    }

    func testSessionTableStaysWithinItsCapAndCountsEvictions() {
        let clock = ManualClock(midnight)
        var config = LiveAggregates.Configuration()
        config.maxSessions = 1000
        let live = LiveAggregates(configuration: config, clock: clock)
        var batch = LiveEventBatch()
        for i in 0..<5000 {
            batch.append(LiveEvent(site: 0, type: .pageview, arrivalMs: midnight + Int64(i), visitor: UInt64(i + 1),
                                   session: UInt64(i + 1)))
        }
        live.apply(batch)
        let st = live.stats()
        XCTAssertLessThanOrEqual(st.sessionsOpen, 1000)
        XCTAssertEqual(st.sessionsEvicted, 4000)
        XCTAssertEqual(live.snapshot().first?.sessions, 5000, "evicted sessions still count as sessions")
        XCTAssertEqual(live.snapshot().first?.bounceRate, 1)
    }

    /// With `reserveSessions` the table has its final size before the first event: filling it to
    /// the cap (and past it) changes the memory the live aggregates report by no more than the
    /// site's own state; without it the table doubles on the way.
    func testAReservedSessionTableDoesNotGrowAsSessionsOpen() {
        func memory(reserve: Bool) -> (empty: Int64, full: Int64, open: Int64) {
            var config = LiveAggregates.Configuration()
            config.maxSessions = 50_000
            config.reserveSessions = reserve
            let live = LiveAggregates(configuration: config, clock: ManualClock(midnight))
            var batch = LiveEventBatch()
            batch.append(LiveEvent(site: 0, type: .pageview, arrivalMs: midnight, visitor: 1, session: 1))
            live.apply(batch)
            let empty = live.stats().memoryBytes
            batch.removeAll()
            for i in 0..<60_000 {
                batch.append(LiveEvent(site: 0, type: .pageview, arrivalMs: midnight + Int64(i), visitor: UInt64(i + 2), session: UInt64(i + 2)))
            }
            live.apply(batch)
            return (empty, live.stats().memoryBytes, live.stats().sessionsOpen)
        }
        let reserved = memory(reserve: true), grown = memory(reserve: false)
        XCTAssertEqual(reserved.open, 50_000)
        XCTAssertEqual(grown.open, 50_000)
        XCTAssertEqual(reserved.full, reserved.empty, "a reserved table does not grow")
        XCTAssertGreaterThanOrEqual(reserved.empty, 65_536 * 32, "50k sessions at 70 % load need 64k slots of 32 bytes")
        XCTAssertGreaterThan(grown.full, grown.empty * 2, "an unreserved table grows as sessions open")
        XCTAssertEqual(grown.full, reserved.full, "both end at the size the cap allows")
    }

    func testWindowsRollWithTheInjectedClock() {
        let t0 = midnight + 12 * 3_600_000
        let clock = ManualClock(t0)
        let live = LiveAggregates(clock: clock)
        var batch = LiveEventBatch()
        // 10 events in each of 20 seconds, 3 of them pageviews.
        for s in 0..<20 {
            batch.removeAll()
            for k in 0..<10 {
                batch.append(LiveEvent(site: 0, type: k < 3 ? .pageview : .click, arrivalMs: t0 + Int64(s) * 1000 + Int64(k),
                                       visitor: UInt64(k + 1)), siteName: "shop", pageName: "/", referrerName: nil)
            }
            clock.set(t0 + Int64(s) * 1000 + 999)
            live.apply(batch)
        }
        clock.set(t0 + 20_000)
        var s = live.snapshot()[0]
        XCTAssertEqual(s.siteId, "shop")
        XCTAssertEqual(s.eventsPerSec, 10)
        XCTAssertEqual(s.pageviewsPerSec, 3)
        XCTAssertEqual(s.eventsPerSecHistory.count, 600)
        XCTAssertEqual(Array(s.eventsPerSecHistory.suffix(21)), [0] + Array(repeating: 10, count: 20))
        XCTAssertEqual(s.eventsPerMinuteHistory.count, 1440)
        XCTAssertEqual(s.eventsPerMinuteHistory.last, 0, "the current minute is not complete yet")
        XCTAssertEqual(s.activeVisitors, 10)
        XCTAssertEqual(s.visitorsToday, 10)

        clock.set(t0 + 60_000)
        s = live.snapshot()[0]
        XCTAssertEqual(s.eventsPerSec, 0, "no events in the last 5 seconds")
        XCTAssertEqual(s.eventsPerMinuteHistory.last, 200)

        // Four minutes later the first minute's visitors are still active; five minutes later not.
        clock.set(t0 + 4 * 60_000 + 59_000)
        XCTAssertEqual(live.snapshot()[0].activeVisitors, 10)
        clock.set(t0 + 5 * 60_000)
        XCTAssertEqual(live.snapshot()[0].activeVisitors, 0)

        // A gap longer than both windows: 25 hours later, every history is zero, totals are not.
        clock.set(t0 + 25 * 3_600_000)
        s = live.snapshot()[0]
        XCTAssertEqual(s.eventsPerSecHistory.reduce(0, +), 0)
        XCTAssertEqual(s.eventsPerMinuteHistory.reduce(0, +), 0)
        XCTAssertEqual(s.visitorsToday, 0, "a new UTC day")
        XCTAssertEqual(s.eventsTotal, 200)

        // New events after the gap land in the current second only.
        batch.removeAll()
        batch.append(LiveEvent(site: 0, type: .pageview, arrivalMs: t0 + 25 * 3_600_000 + 10, visitor: 99))
        clock.set(t0 + 25 * 3_600_000 + 1000)
        live.apply(batch)
        s = live.snapshot()[0]
        XCTAssertEqual(s.eventsPerSecHistory.reduce(0, +), 1)
        XCTAssertEqual(s.eventsPerSecHistory.last, 1)
        XCTAssertEqual(s.visitorsToday, 1)
    }

    func testTopPagesNamesAreCopiedOnlyFromTheBatchAndClickToDashboardIsMeasured() {
        let t0 = midnight + 3_600_000
        let clock = ManualClock(t0 + 250)
        let live = LiveAggregates(clock: clock)
        var batch = LiveEventBatch()
        for i in 0..<100 {
            let page = i % 4
            batch.append(LiveEvent(site: 2, type: .pageview, arrivalMs: t0 + Int64(i), visitor: 1, session: 1,
                                   page: Hash64.hash("/p\(page)"), referrer: Hash64.hash("news.example")),
                         siteName: i == 0 ? "blog" : nil, pageName: "/p\(page)", referrerName: "news.example")
        }
        live.apply(batch)
        let s = live.snapshot()[0]
        XCTAssertEqual(s.siteId, "blog")
        XCTAssertEqual(s.topPages.map(\.name), ["/p0", "/p1", "/p2", "/p3"])
        XCTAssertEqual(s.topPages.map(\.count), [25, 25, 25, 25])
        XCTAssertEqual(s.referrers, [RankedCount(name: "news.example", count: 100)])
        XCTAssertNil(live.siteStats(index: 0), "site indexes not seen have no stats")
        let latency = live.clickToDashboard()
        XCTAssertEqual(latency.count, 100)
        XCTAssertEqual(latency.maxMs, 250)
        XCTAssertEqual(latency.p50Ms, 200, accuracy: 2)
    }
}
