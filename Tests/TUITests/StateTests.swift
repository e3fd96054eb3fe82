import XCTest
import Metrics
@testable import TUI

final class StateTests: XCTestCase {
    func testTabAndNumberKeysSwitchScreens() {
        var s = Fixture.state()
        XCTAssertEqual(s.screen, .overview)
        _ = s.handle(.tab); XCTAssertEqual(s.screen, .shards)
        _ = s.handle(.tab); XCTAssertEqual(s.screen, .delivery)
        _ = s.handle(.backTab); XCTAssertEqual(s.screen, .shards)
        _ = s.handle(.char("4")); XCTAssertEqual(s.screen, .query)
        XCTAssertTrue(s.query.editing)
        _ = s.handle(.tab); XCTAssertEqual(s.screen, .overview, "Tab leaves the query pane even while editing")
        _ = s.handle(.char("3")); XCTAssertEqual(s.screen, .delivery)
        _ = s.handle(.char("1")); XCTAssertEqual(s.screen, .overview)
    }

    func testEnterDrillsIntoSelectedSiteAndEscGoesBack() {
        var s = Fixture.state()
        _ = s.handle(.down); _ = s.handle(.down)
        _ = s.handle(.enter)
        XCTAssertEqual(s.screen, .site("ショップ-tokyo"))
        XCTAssertEqual(s.trail, [.overview])
        XCTAssertTrue(Fixture.render(s, 120, 40).contains("Overview › ショップ-tokyo"), "breadcrumb")
        _ = s.handle(.esc)
        XCTAssertEqual(s.screen, .overview)
        _ = s.handle(.enter); _ = s.handle(.backspace)
        XCTAssertEqual(s.screen, .overview)
    }

    func testSelectionFollowsTheSiteWhenRanksChange() {
        var s = Fixture.state()
        _ = s.handle(.down)
        XCTAssertEqual(s.selectedSiteId(), "news-berlin")
        var snap = Fixture.snapshot()
        snap.sites[1].eventsPerSec = 1_000_000
        snap.sites.sort { $0.eventsPerSec > $1.eventsPerSec }
        s.receive(snap)
        XCTAssertEqual(s.selectedSiteId(), "news-berlin")
        _ = s.handle(.down)
        XCTAssertEqual(s.selectedSiteId(), "shop-seoul")
    }

    func testFilterIsRegexAndBangInverts() {
        var s = Fixture.state()
        for ch in "/^shop" { _ = s.handle(.char(ch)) }
        XCTAssertEqual(s.mode, .filter)
        XCTAssertTrue(s.siteRows().allSatisfy { $0.siteId.hasPrefix("shop") }, "applies while typing")
        _ = s.handle(.enter)
        XCTAssertEqual(s.mode, .normal)
        XCTAssertEqual(s.siteRows().map(\.siteId), ["shop-seoul", "shop-paris", "shop-seoul-1", "shop-paris-1"])
        _ = s.handle(.char("/")); _ = s.handle(.home); _ = s.handle(.char("!")); _ = s.handle(.enter)
        XCTAssertEqual(s.filter, "!^shop")
        XCTAssertEqual(s.siteRows().count, 20)
        XCTAssertFalse(s.siteRows().contains { $0.siteId.hasPrefix("shop") })
        _ = s.handle(.char("2"))
        XCTAssertEqual(s.filter, "", "each screen has its own filter")
        XCTAssertEqual(s.shardRows().count, 5)
        _ = s.handle(.char("1"))
        XCTAssertEqual(s.filter, "!^shop")
        _ = s.handle(.esc)
        XCTAssertEqual(s.filter, "", "Esc on a top screen clears the filter")
        // an invalid regex matches as text instead of hiding everything
        s.filter = "tokyo("
        XCTAssertEqual(s.siteRows().count, 0)
        s.filter = "ショップ"
        XCTAssertEqual(s.siteRows().count, 2)
    }

    func testEscWhileTypingAFilterRestoresThePreviousOne() {
        var s = Fixture.state()
        s.filter = "oslo"
        _ = s.handle(.char("/")); _ = s.handle(.char("x")); _ = s.handle(.esc)
        XCTAssertEqual(s.filter, "oslo")
    }

    func testCommandMode() {
        var s = Fixture.state()
        func cmd(_ text: String) -> [Effect] {
            _ = s.handle(.char(":"))
            XCTAssertEqual(s.mode, .command)
            for ch in text { _ = s.handle(.char(ch)) }
            return s.handle(.enter)
        }
        XCTAssertEqual(cmd("site docs-oslo"), [])
        XCTAssertEqual(s.screen, .site("docs-oslo"))
        XCTAssertEqual(cmd("theme nord"), [.loadTheme("nord")])
        XCTAssertEqual(cmd("theme"), [.listThemes])
        XCTAssertEqual(cmd("refresh 500ms"), [.setRefresh(milliseconds: 500)])
        XCTAssertEqual(s.refreshMs, 500)
        XCTAssertEqual(cmd("refresh 2s"), [.setRefresh(milliseconds: 2000)])
        XCTAssertEqual(cmd("refresh 1"), [.setRefresh(milliseconds: 100)], "clamped")
        XCTAssertEqual(cmd("refresh soon"), [])
        XCTAssertTrue(s.message?.contains("usage") ?? false)
        XCTAssertEqual(cmd("sql"), [])
        XCTAssertEqual(s.screen, .query)
        _ = s.handle(.tab)
        XCTAssertEqual(cmd("sql SELECT 1"), [.runQuery("SELECT 1")])
        _ = s.handle(.esc)
        XCTAssertEqual(cmd("bogus"), [])
        XCTAssertTrue(s.message?.contains("unknown command") ?? false)
        XCTAssertEqual(cmd("q"), [.quit])
    }

    func testSortCyclesColumnsAndReverses() {
        var s = Fixture.state()
        XCTAssertEqual(s.siteRows().first?.siteId, "shop-seoul")
        _ = s.handle(.char("s"))          // by site name, A→Z
        XCTAssertEqual(s.siteRows().first?.siteId, "app-lagos")
        _ = s.handle(.char("S"))          // Z→A
        XCTAssertEqual(s.siteRows().first?.siteId, "ショップ-tokyo-1", "code-point order puts kana after ASCII")
        for _ in 0..<4 { _ = s.handle(.char("s")) }
        XCTAssertEqual(s.sites.sortIndex, 0)
        XCTAssertEqual(s.siteRows().first?.siteId, "shop-seoul")
    }

    func testPauseHoldsSnapshotsUntilResumed() {
        var s = Fixture.state()
        let first = s.snapshot
        _ = s.handle(.char("p"))
        XCTAssertTrue(s.paused)
        var next = Fixture.snapshot(); next.takenAtMs += 5000
        s.receive(next)
        XCTAssertEqual(s.snapshot, first, "display frozen")
        XCTAssertTrue(Fixture.render(s, 120, 40).contains("paused"))
        _ = s.handle(.char("p"))
        XCTAssertEqual(s.snapshot?.takenAtMs, next.takenAtMs, "newest shown on resume")
    }

    func testQuitKeys() {
        var s = Fixture.state()
        XCTAssertEqual(s.handle(.char("q")), [.quit])
        XCTAssertEqual(s.handle(.ctrl("c")), [.quit])
    }

    func testQueryEditorRunCancelHistoryAndNamedQueries() {
        var s = Fixture.state()
        _ = s.handle(.char("4"))
        for ch in "SELECT 1 q" { _ = s.handle(.char(ch)) }
        XCTAssertEqual(s.query.editor.text, "SELECT 1 q", "q and digits type in the editor")
        _ = s.handle(.enter)
        for ch in "2" { _ = s.handle(.char(ch)) }
        XCTAssertEqual(s.query.editor.text, "SELECT 1 q\n2")
        XCTAssertEqual(s.handle(.f(5)), [.runQuery("SELECT 1 q\n2")])
        XCTAssertTrue(s.query.running)
        XCTAssertEqual(s.handle(.ctrl("r")), [], "no second run while one is running")
        XCTAssertEqual(s.handle(.ctrl("c")), [.cancelQuery])
        s.queryCancelled()
        XCTAssertFalse(s.query.running)
        XCTAssertEqual(s.handle(.ctrl("c")), [], "Ctrl-C in the editor with nothing running does not quit")
        _ = s.handle(.f(7))
        XCTAssertEqual(s.query.editor.text, NamedQuery.defaults[1].sql)
        _ = s.handle(.ctrl("p"))
        XCTAssertEqual(s.query.editor.text, "SELECT 1 q\n2", "history")
        _ = s.handle(.ctrl("n"))
        XCTAssertEqual(s.query.editor.text, "")
        // results focus: arrows scroll rows, c charts, i edits
        s.queryFinished(QueryResult(columns: ["a", "b"], rows: (0..<50).map { ["r\($0)", "\($0)"] }, elapsedMs: 3))
        XCTAssertFalse(s.query.editing)
        _ = s.handle(.down); _ = s.handle(.down)
        XCTAssertEqual(s.query.rows.selectedIndex, 2)
        _ = s.handle(.char("c")); XCTAssertTrue(s.query.showChart)
        _ = s.handle(.char("i")); XCTAssertTrue(s.query.editing)
        _ = s.handle(.esc); XCTAssertFalse(s.query.editing)
        _ = s.handle(.esc); XCTAssertEqual(s.screen, .overview, "Esc again goes back")
    }

    func testMouseClickOnTabAndRowAndWheel() {
        var s = Fixture.state()
        let (_, layout) = Frame.render(s, width: 120, height: 40, ctx: DrawContext())
        s.adopt(layout)
        let shardsTab = layout.tabs.first { $0.screen == .shards }!
        _ = s.handle(.mouse(.init(.press, x: shardsTab.x0 + 1, y: 0)))
        XCTAssertEqual(s.screen, .shards)
        _ = s.handle(.char("1"))
        s.adopt(Frame.render(s, width: 120, height: 40, ctx: DrawContext()).1)
        _ = s.handle(.mouse(.init(.press, x: 10, y: s.layout.listTop + 3)))
        XCTAssertEqual(s.selectedSiteId(), "blog-lisbon")
        XCTAssertEqual(s.screen, .overview)
        _ = s.handle(.mouse(.init(.press, x: 10, y: s.layout.listTop + 3)))
        XCTAssertEqual(s.screen, .site("blog-lisbon"), "second click opens")
        _ = s.handle(.esc)
        _ = s.handle(.mouse(.init(.wheelDown, x: 10, y: 10)))
        XCTAssertEqual(s.selectedSiteId(), "app-lagos")
    }

    func testLagHistoryAndReshardEventsAccumulate() {
        var s = DashboardState()
        var snap = Fixture.snapshot()
        for i in 0..<5 { snap.takenAtMs += 1000; snap.consumers[0].millisBehindLatest = Int64(i * 100); s.receive(snap) }
        XCTAssertEqual(s.lagHistory["shard-0001"]?.count, 5)
        XCTAssertEqual(s.lagHistory["shard-0001"]?.last, 650, "max over consumers (lake 650ms > live)")
        snap.shards.append(ShardStats(shardId: "shard-0009", parentShardId: "shard-0003", adjacentParentShardId: "shard-0004"))
        s.receive(snap)
        XCTAssertEqual(s.reshardEvents.count, 1)
        XCTAssertTrue(s.reshardEvents[0].hasSuffix("shard-0009 merged from shard-0003 + shard-0004"))
    }

    func testDurationParsing() {
        XCTAssertEqual(DashboardState.parseDuration("500ms"), 500)
        XCTAssertEqual(DashboardState.parseDuration("1.5s"), 1500)
        XCTAssertEqual(DashboardState.parseDuration("1m"), 60_000)
        XCTAssertEqual(DashboardState.parseDuration("250"), 250)
        XCTAssertNil(DashboardState.parseDuration("fast"))
    }

    func testKeymapHasNoAmbiguousBindingInOneContext() {
        let km = Keymap.standard()
        for ctx in KeyContext.allCases {
            var seen: [Key: Action] = [:]
            for b in km.bindings where b.context == ctx {
                for k in b.keys {
                    XCTAssertNil(seen[k], "\(k.label) bound twice in \(ctx)")
                    seen[k] = b.action
                }
            }
        }
    }
}

final class SourceAdapterTests: XCTestCase {
    func testClosureAdaptersForward() async throws {
        let src = SnapshotSourceFunction { Fixture.snapshot(sites: 2) }
        let s = try await src.latest()
        XCTAssertEqual(s?.sites.count, 2)
        let q = QueryServiceFunction { sql in QueryResult(columns: ["sql"], rows: [[sql]], elapsedMs: 1) }
        let r = try await q.run(sql: "SELECT 1")
        XCTAssertEqual(r.rows, [["SELECT 1"]])
    }

    func testMailboxDropsTheResultOfACancelledQuery() async throws {
        let mb = Mailbox(refreshMs: 1000)
        mb.startQuery {
            try await Task.sleep(nanoseconds: 200_000_000)
            return QueryResult(columns: ["a"], rows: [], elapsedMs: 200)
        }
        mb.cancelQuery()
        try await Task.sleep(nanoseconds: 400_000_000)
        XCTAssertNil(mb.takeQueryOutcome(), "a cancelled query reports nothing; the UI already said 'cancelled'")
        mb.startQuery { QueryResult(columns: ["a"], rows: [["1"]], elapsedMs: 1) }
        for _ in 0..<500 where !(mb.peekHasOutcome) { try await Task.sleep(nanoseconds: 10_000_000) } // up to 5 s on a loaded machine
        guard case .finished(let r)? = mb.takeQueryOutcome() else { return XCTFail("expected a result") }
        XCTAssertEqual(r.rows, [["1"]])
    }
}
