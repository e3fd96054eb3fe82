import XCTest
@testable import Pipeline

final class SimulatorTests: XCTestCase {
    let parser = EventParser()

    func testSameSeedSameBytesDifferentSeedDifferentBytes() {
        var a = Simulator(SimulatorConfig(sites: 50, seed: 9))
        var b = Simulator(SimulatorConfig(sites: 50, seed: 9))
        var c = Simulator(SimulatorConfig(sites: 50, seed: 10))
        let x = a.batch(count: 5000), y = b.batch(count: 5000), z = c.batch(count: 5000)
        XCTAssertEqual(x, y)
        XCTAssertNotEqual(x, z)
        XCTAssertEqual(a.stats, b.stats)
    }

    func testGeneratorsSharingACatalogSeedSendToTheSameSites() {
        // loadgen's connections: different traffic, one set of sites (else 4 connections × 320
        // sites looked like 1280 sites and overflowed delivery's partition cap).
        func sites(_ seed: UInt64) -> Set<String> {
            var c = SimulatorConfig(sites: 20, seed: seed)
            c.catalogSeed = 9
            var sim = Simulator(c)
            let parsed = parser.parse(sim.batch(count: 4000), nowMs: c.startMs + 3_600_000)
            return Set(parsed.events.compactMap { parsed.string($0.siteId) })
        }
        let catalog = Set(SiteCatalog.make(count: 20, seed: 9).map(\.id))
        let a = sites(1), b = sites(2)
        XCTAssertTrue(a.isSubset(of: catalog) && b.isSubset(of: catalog), "\(a.subtracting(catalog)) \(b.subtracting(catalog))")
        XCTAssertGreaterThan(a.count, 10)
        var x = SimulatorConfig(sites: 20, seed: 1), y = SimulatorConfig(sites: 20, seed: 2)
        x.catalogSeed = 9; y.catalogSeed = 9
        var sx = Simulator(x), sy = Simulator(y)
        XCTAssertNotEqual(sx.batch(count: 100), sy.batch(count: 100))
    }

    func testSiteCountIdsValidAndUniqueAndSpreadOverContinents() {
        let sites = SiteCatalog.make(count: 320, seed: 1)
        XCTAssertEqual(sites.count, 320)
        XCTAssertEqual(Set(sites.map(\.id)).count, 320)
        XCTAssertTrue(sites.allSatisfy { isValidSiteId($0.id) })
        let byContinent = Dictionary(grouping: sites, by: \.region.continent).mapValues(\.count)
        for c in Region.Continent.allCases { XCTAssertGreaterThanOrEqual(byContinent[c] ?? 0, 100, c.rawValue) }
        XCTAssertGreaterThan(sites.filter(\.flashSales).count, 0)
    }

    func testEveryEventParsesAndTheMixIsRealistic() {
        var sim = Simulator(SimulatorConfig(sites: 320, seed: 1, rate: 1000))
        let body = sim.batch(count: 40_000)
        let parsed = parser.parse(body, nowMs: sim.config.startMs + 3_600_000)
        XCTAssertEqual(parsed.errors, [], "simulator output must always be valid")
        XCTAssertEqual(parsed.events.count, 40_000)
        let avg = Double(body.count) / 40_000
        XCTAssertGreaterThan(avg, 350, "events should be realistic in size (~450 bytes)")
        XCTAssertLessThan(avg, 600)

        let st = sim.stats
        let botShare = Double(st.bots) / Double(st.events)
        XCTAssertGreaterThan(botShare, 0.03, "about 5% bots")
        XCTAssertLessThan(botShare, 0.08)
        // Funnel: product views > add to cart > purchase, with plausible step rates.
        XCTAssertGreaterThan(st.productViews, st.addToCarts * 3)
        XCTAssertGreaterThan(st.addToCarts, st.purchases)
        let buyRate = Double(st.purchases) / Double(st.addToCarts)
        XCTAssertGreaterThan(buyRate, 0.15)
        XCTAssertLessThan(buyRate, 0.7)
        let bounce = Double(st.bouncedSessions) / Double(st.sessions)
        XCTAssertGreaterThan(bounce, 0.25)
        XCTAssertLessThan(bounce, 0.5)
        // Zipf-like: the busiest site carries far more than the median one.
        let sorted = st.eventsPerSite.sorted()
        XCTAssertGreaterThan(sorted.last ?? 0, 20 * max(1, sorted[sorted.count / 2]))
        XCTAssertTrue(st.eventsPerSite.allSatisfy { $0 > 0 } || st.eventsPerSite.filter { $0 == 0 }.count < 10)

        // Types and visitor ids from the parsed bytes agree with the counters.
        var purchases = 0, withSession = 0
        for e in parsed.events {
            if parsed.string(e.type) == "purchase" { purchases += 1; XCTAssertTrue(e.value > 0) }
            if e.sessionId.isPresent { withSession += 1 }
        }
        XCTAssertEqual(purchases, st.purchases)
        XCTAssertEqual(parsed.events.count - withSession, st.cookieless)
    }

    func testTimestampsFollowTheRate() {
        var sim = Simulator(SimulatorConfig(sites: 10, seed: 3, rate: 1000, startMs: 1_764_115_200_000))
        let p = parser.parse(sim.batch(count: 5000), nowMs: 1_764_200_000_000)
        XCTAssertEqual(p.events.first?.tsMs, 1_764_115_200_000)
        XCTAssertEqual(p.events.last?.tsMs, 1_764_115_200_000 + 4999)
    }

    /// Traffic follows each site's local day: an Asian site peaks when an American one sleeps.
    func testDailyCurveShapeByTimeZone() {
        var sim = Simulator(SimulatorConfig(sites: 60, seed: 5, rate: 0.5, startMs: 1_764_115_200_000)) // 00:00 UTC
        let p = parser.parse(sim.batch(count: 86_400 / 2), nowMs: 1_764_300_000_000)
        var hourlyAsia = Array(repeating: 0, count: 24), hourlyAmericas = Array(repeating: 0, count: 24)
        let continentOf = Dictionary(uniqueKeysWithValues: sim.sites.map { ($0.id, $0.region.continent) })
        for e in p.events {
            let h = Int((e.tsMs / 3_600_000) % 24)
            switch continentOf[p.string(e.siteId) ?? ""] {
            case .asia: hourlyAsia[h] += 1
            case .americas: hourlyAmericas[h] += 1
            default: break
            }
        }
        // The node's total rate is what the caller asks for; the daily curves decide how it splits.
        // So compare shares: Asia (UTC+4…+10) outweighs the Americas most in its evening (≈ 05–14 UTC,
        // the Americas' night) and least in its own night (≈ 15–22 UTC, the Americas' afternoon).
        let ratio = (0..<24).map { Double(hourlyAsia[$0]) / Double(max(1, hourlyAmericas[$0])) }
        let maxHour = ratio.indices.max { ratio[$0] < ratio[$1] } ?? -1
        let minHour = ratio.indices.min { ratio[$0] < ratio[$1] } ?? -1
        XCTAssertTrue((5...14).contains(maxHour), "asia/americas peaks at \(maxHour) UTC: \(ratio)")
        XCTAssertTrue((15...22).contains(minHour), "asia/americas bottoms at \(minHour) UTC: \(ratio)")
        XCTAssertGreaterThan(ratio[maxHour], 3 * ratio[minHour])
        XCTAssertEqual(DailyCurve.factor(utcMs: 19 * 3_600_000, offsetMinutes: 0), 1.0, accuracy: 1e-9)
        XCTAssertEqual(DailyCurve.factor(utcMs: 10 * 3_600_000, offsetMinutes: 540), 1.0, accuracy: 1e-9)
    }

    func testFlashSalesConcentrateCookielessTraffic() {
        let sim = Simulator(SimulatorConfig(sites: 320, seed: 1))
        guard let flash = sim.sites.first(where: \.flashSales) else { return XCTFail("no flash-sale site") }
        let minutes = (0..<40).map { Int64($0) * 60_000 + sim.config.startMs }
        let burstMinutes = minutes.filter { sim.inFlashSale(flash.index, atMs: $0) }.count
        XCTAssertEqual(burstMinutes, 8, "4 minutes in every 20")
        let t = minutes.first { sim.inFlashSale(flash.index, atMs: $0) } ?? 0
        XCTAssertGreaterThan(sim.weight(site: flash.index, atMs: t), 5 * sim.weight(site: flash.index, atMs: t + 10 * 60_000) * 0.9)
    }
}
