import XCTest
@testable import Metrics

final class RobustnessTests: XCTestCase {
    let t0: Int64 = 1_795_651_200_000 + 8 * 3_600_000

    func testNameRefsOutsideTheNameBufferAreIgnoredAndASiteIsNamedWhenItsNameFirstArrives() {
        let live = LiveAggregates(clock: ManualClock(t0))
        var e = LiveEvent(site: 4, type: .pageview, arrivalMs: t0, visitor: 1, page: 9)
        e.siteName = NameRef(offset: 1_000_000, length: 10)
        e.pageName = NameRef(offset: 2, length: 500)
        let names: [UInt8] = Array("abc".utf8)
        [e].withUnsafeBufferPointer { ev in names.withUnsafeBytes { live.apply(ev, names: $0) } }
        var s = live.siteStats(index: 4)!
        XCTAssertEqual(s.siteId, "site-4")
        XCTAssertEqual(s.topPages, [RankedCount(name: "", count: 1)])

        var batch = LiveEventBatch()
        batch.append(LiveEvent(site: 4, type: .click, arrivalMs: t0), siteName: "shop-busan", pageName: nil, referrerName: nil)
        live.apply(batch)
        s = live.siteStats(index: 4)!
        XCTAssertEqual(s.siteId, "shop-busan")
        XCTAssertEqual(live.siteIndex(of: "shop-busan"), 4)
    }

    func testEventsWithoutASessionIdAreSessionisedByVisitor() {
        let live = LiveAggregates(clock: ManualClock(t0 + 7_200_000))
        var batch = LiveEventBatch()
        for (visitor, minute) in [(1, 0), (1, 10), (1, 50), (2, 5)] as [(UInt64, Int64)] {
            batch.append(LiveEvent(site: 0, type: .pageview, arrivalMs: t0 + minute * 60_000, visitor: visitor))
        }
        live.apply(batch)
        let s = live.snapshot()[0]
        XCTAssertEqual(s.sessions, 3, "visitor 1: 0–10 min, then 50 min after a 40-minute gap; visitor 2: one")
        XCTAssertEqual(s.bounceRate, 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(s.avgSessionSeconds, 600.0 / 3.0, accuracy: 1e-9)
    }

    func testSiteIndexesBeyondTheLimitAreCountedAsDropped() {
        var config = LiveAggregates.Configuration()
        config.maxSites = 8
        let live = LiveAggregates(configuration: config, clock: ManualClock(t0))
        var batch = LiveEventBatch()
        batch.append(LiveEvent(site: 7, type: .pageview, arrivalMs: t0))
        batch.append(LiveEvent(site: 8, type: .pageview, arrivalMs: t0))
        batch.append(LiveEvent(site: .max, type: .pageview, arrivalMs: t0))
        live.apply(batch)
        XCTAssertEqual(live.stats().eventsDropped, 2)
        XCTAssertEqual(live.stats().eventsApplied, 1)
        XCTAssertEqual(live.snapshot().count, 1)
    }

    func testLateEventsLandInTheirOwnBucketsAndTooLateOnesOnlyInTheLongerWindow() {
        let clock = ManualClock(t0 + 900_000)
        let live = LiveAggregates(clock: clock)
        var batch = LiveEventBatch()
        batch.append(LiveEvent(site: 0, type: .click, arrivalMs: t0 + 900_000 - 3_000))  // 3 s late
        batch.append(LiveEvent(site: 0, type: .click, arrivalMs: t0))                    // 15 min late
        batch.append(LiveEvent(site: 0, type: .click, arrivalMs: t0 + 5_000_000))        // from the future
        live.apply(batch)
        let s = live.snapshot()[0]
        XCTAssertEqual(s.eventsTotal, 3)
        XCTAssertEqual(s.eventsPerSecHistory.reduce(0, +), 1, "the 15-minute-late event is outside the 10-minute ring; the future one is in the current second")
        XCTAssertEqual(s.eventsPerSecHistory[597], 1, "3 s before now is the third-newest complete second")
        XCTAssertEqual(s.eventsPerMinuteHistory.reduce(0, +), 2, "the current minute is partial")
        XCTAssertEqual(s.eventsPerMinuteHistory[1440 - 15], 1)
    }

    func testEvictionPrefersTheLeastRecentlyActiveSessions() {
        var config = LiveAggregates.Configuration()
        config.maxSessions = 1000
        let clock = ManualClock(t0)
        let live = LiveAggregates(configuration: config, clock: clock)
        func touch(_ sessions: Range<Int>, at: Int64) {
            var batch = LiveEventBatch()
            for s in sessions { batch.append(LiveEvent(site: 0, type: .click, arrivalMs: at, session: UInt64(s + 1))) }
            clock.set(at)
            live.apply(batch)
        }
        touch(0..<1000, at: t0)
        touch(0..<500, at: t0 + 60_000)        // the first half is recent again
        touch(1000..<1500, at: t0 + 120_000)   // 500 new sessions force 500 evictions
        XCTAssertEqual(live.stats().sessionsEvicted, 500)
        let before = live.sessionTotals(index: 0).started
        touch(0..<500, at: t0 + 180_000)       // a recent session that was evicted starts again
        let recentEvicted = live.sessionTotals(index: 0).started - before
        // Random eviction would take ~250 of the recent half; a sample of 16 takes ~60.
        XCTAssertLessThan(recentEvicted, 120, "evicted \(recentEvicted) of the 500 recently active sessions")
        XCTAssertLessThanOrEqual(live.stats().sessionsOpen, 1000)
    }

    func testLatencySummaryCoversOnlyTheRecentIntervals() {
        var r = LatencyRecorder(intervalMs: 10_000)
        r.roll(nowMs: 0)
        r.record(ms: 900, count: 100)
        r.roll(nowMs: 10_000)
        r.record(ms: 10)
        XCTAssertEqual(r.summary().count, 101)
        XCTAssertEqual(r.summary().maxMs, 900, accuracy: 10)
        r.roll(nowMs: 20_000)
        XCTAssertEqual(r.summary().count, 1, "the 900 ms samples are two intervals old")
        XCTAssertEqual(r.summary().maxMs, 10)
        r.roll(nowMs: 60_000)
        XCTAssertEqual(r.summary(), LatencySummary())
        XCTAssertEqual(r.totalCount, 101)
    }

    func testPrometheusKeepsOneSeriesPerLabelSet() throws {
        var s = NodeSnapshot()
        s.sites = [SiteStats(siteId: "twin", eventsTotal: 5), SiteStats(siteId: "twin", eventsTotal: 7)]
        let p = try ParsedExposition(PrometheusText.render(s))
        XCTAssertEqual(p.value("eddy_site_events_total", ["site": "twin"]), 5)
    }

    func testProcessSamplerReadsThisProcess() {
        var sampler = ProcessSampler()
        let a = sampler.sample()
        XCTAssertGreaterThan(a.rssBytes, 1 << 20)
        XCTAssertGreaterThan(a.openFiles, 2)
        var x = 0.0
        for i in 0..<2_000_000 { x += Double(i).squareRoot() }
        XCTAssertGreaterThan(x, 0)
        XCTAssertGreaterThanOrEqual(sampler.sample().cpuPercent, 0)
    }

    /// malloc's figures move with live allocations (glibc; this suite runs on Linux).
    func testProcessSamplerSeesHeapAllocations() {
        var sampler = ProcessSampler()
        let before = sampler.sample().heapInUseBytes
        XCTAssertGreaterThan(before, 0)
        let block = UnsafeMutableRawPointer.allocate(byteCount: 64 << 20, alignment: 16)
        block.initializeMemory(as: UInt8.self, repeating: 1, count: 64 << 20)
        let during = sampler.sample().heapInUseBytes
        block.deallocate()
        XCTAssertGreaterThan(during - before, 60 << 20)
        XCTAssertLessThan(sampler.sample().heapInUseBytes, during - (60 << 20))
    }

    /// Freed blocks below the mmap threshold stay resident in the arena until trimmed: 64 MiB of
    /// 64 KiB blocks, all freed but the last (which pins the arena's top), leave RSS up until
    /// `releaseFreeMemory` gives the pages back.
    func testReleaseFreeMemoryGivesFreedArenaPagesBack() throws {
        ProcessMemory.configureForLongRun()
        let n = 1024, size = 64 << 10
        var blocks: [UnsafeMutableRawPointer] = []
        for _ in 0..<n {
            let b = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
            b.initializeMemory(as: UInt8.self, repeating: 7, count: size)
            blocks.append(b)
        }
        for b in blocks.dropLast() { b.deallocate() }
        let held = ProcessSampler.residentBytes()
        XCTAssertTrue(ProcessMemory.releaseFreeMemory(ifFreeAbove: 32 << 20), "64 MiB freed should be above the threshold")
        let after = ProcessSampler.residentBytes()
        blocks.last?.deallocate()
        XCTAssertLessThan(after, held - (40 << 20), "resident \(held >> 20) MiB before the trim, \(after >> 20) MiB after")
        XCTAssertFalse(ProcessMemory.releaseFreeMemory(ifFreeAbove: Int64.max))
    }
}
