import XCTest
import Metrics
@testable import TUI

/// Every screen rendered at fixed sizes from the fixed fixture, compared to Golden/*.txt.
/// Re-record with `EDDY_RECORD_GOLDEN=1 swift test --filter TUITests`.
final class PaneGoldenTests: XCTestCase {
    func testOverviewGolden() {
        let s = Fixture.state()
        for (w, h) in [(120, 40), (80, 24)] {
            let text = Fixture.render(s, w, h)
            assertGolden(text, "overview-\(w)x\(h)")
            XCTAssertTrue(text.contains("shop-seoul"))
            XCTAssertTrue(text.contains("HOT"), "hot shard marked")
            XCTAssertTrue(text.contains("Warehouse loader"))
        }
    }

    func testOverviewASCIIFallbackHasOnlyASCII() {
        let text = Fixture.render(Fixture.state(), 120, 40, ascii: true)
        assertGolden(text, "overview-ascii-120x40")
        let bad = text.unicodeScalars.filter { !$0.isASCII && CharWidth.of(scalar: $0.value) != 2 && $0.value != 0x30C3 }
        // site names may be non-ASCII (they are data); everything the dashboard itself draws is ASCII
        let nonData = text.replacingOccurrences(of: "ショップ", with: "").unicodeScalars.filter { !$0.isASCII }
        XCTAssertEqual(String(String.UnicodeScalarView(nonData)), "", "non-ASCII chrome: \(bad.count)")
    }

    func testOverviewShowsNotRunningWithoutWarehouse() {
        let text = Fixture.render(Fixture.state(warehouse: false), 120, 40)
        XCTAssertTrue(text.contains("not running"))
    }

    func testOverviewLeaderboardScrollsToAllSites() {
        var s = Fixture.state(sites: 320)
        _ = s.handle(.end)
        let text = Fixture.render(s, 120, 40)
        XCTAssertTrue(text.contains("Sites 320"))
        XCTAssertTrue(text.contains(" 320 "), "last rank visible after End")
    }

    func testSitePanelGolden() {
        var s = Fixture.state()
        _ = s.handle(.enter)
        XCTAssertEqual(s.screen, .site("shop-seoul"))
        assertGolden(Fixture.render(s, 120, 40), "site-120x40")
        assertGolden(Fixture.render(s, 80, 24), "site-80x24")
        _ = s.handle(.char("m"))
        let day = Fixture.render(s, 120, 40)
        XCTAssertTrue(day.contains("last 24 h"))
        assertGolden(day, "site-day-120x40")
    }

    func testShardsGolden() {
        var s = Fixture.state()
        // a second snapshot so the lag history has a line, and a split appears
        var snap = Fixture.snapshot()
        snap.takenAtMs += 1000
        snap.shards.append(ShardStats(shardId: "shard-0005", startingHashKey: "0", endingHashKey: "1", parentShardId: "shard-0002"))
        s.receive(snap)
        _ = s.handle(.char("2"))
        _ = s.handle(.down)
        let text = Fixture.render(s, 120, 40)
        assertGolden(text, "shards-120x40")
        XCTAssertTrue(text.contains("split of shard-0000"))
        XCTAssertTrue(text.contains("shard-0005 split from shard-0002"))
        assertGolden(Fixture.render(s, 80, 24), "shards-80x24")
    }

    func testDeliveryGolden() {
        var s = Fixture.state()
        _ = s.handle(.char("3"))
        let text = Fixture.render(s, 120, 40)
        assertGolden(text, "delivery-120x40")
        XCTAssertTrue(text.contains("transform_failed 3"))
        XCTAssertTrue(text.contains("7.6×"))
        assertGolden(Fixture.render(s, 80, 24), "delivery-80x24")
    }

    func testQueryPaneGolden() {
        var s = Fixture.state()
        _ = s.handle(.char("4"))
        _ = s.handle(.f(6))
        let effects = s.handle(.ctrl("r"))
        XCTAssertEqual(effects, [.runQuery(NamedQuery.defaults[0].sql)])
        s.queryFinished(QueryResult(columns: ["site_id", "events"], rows: [["shop-seoul", "120400"], ["news-berlin", "60210"], ["ショップ-tokyo", "40100"]],
                                    elapsedMs: 12.5, bytesScanned: 7_340_032, priceUSD: 0.0000367))
        let table = Fixture.render(s, 120, 40)
        assertGolden(table, "query-120x40")
        XCTAssertTrue(table.contains("3 rows"))
        _ = s.handle(.char("c"))
        let chart = Fixture.render(s, 80, 24)
        assertGolden(chart, "query-chart-80x24")
        XCTAssertTrue(chart.contains("█"))
    }

    func testHelpOverlayListsEveryKeyOfTheKeymap() {
        var s = Fixture.state()
        _ = s.handle(.char("?"))
        XCTAssertTrue(s.showHelp)
        let text = Fixture.render(s, 120, 40)
        assertGolden(text, "help-120x40")
        for b in s.keymap.bindings {
            for k in b.keys { XCTAssertTrue(text.contains(k.label), "help lacks key \(k.label)") }
            XCTAssertTrue(text.contains(b.help), "help lacks \(b.help)")
        }
        assertGolden(Fixture.render(s, 80, 24), "help-80x24")
        _ = s.handle(.char("x"))
        XCTAssertFalse(s.showHelp, "any key closes help")
    }

    func testTooSmallScreen() {
        let text = Fixture.render(Fixture.state(), 60, 20)
        XCTAssertTrue(text.contains("terminal too small: 60×20"))
        XCTAssertTrue(text.contains("80×24"))
    }

    func testWaitingForDataBeforeFirstSnapshot() {
        let text = Fixture.render(DashboardState(), 80, 24)
        XCTAssertTrue(text.contains("waiting for the first snapshot"))
    }
}

final class OverviewEdgeTests: XCTestCase {
    func testManyShardsKeepHotOnesAndCountTheRest() {
        var snap = Fixture.snapshot()
        snap.shards = (0..<40).map { ShardStats(shardId: String(format: "shard-%04d", $0), recordsPerSec: Double($0), hot: $0 == 3) }
        var s = DashboardState()
        s.receive(snap)
        let text = Fixture.render(s, 120, 40)
        XCTAssertTrue(text.contains("shard-0003"), "hot shard shown though slow")
        XCTAssertTrue(text.contains("shard-0039"), "busiest shown")
        XCTAssertTrue(text.contains("more (2: Shards)"))
        XCTAssertFalse(text.contains("shard-0010 "))
    }
}
