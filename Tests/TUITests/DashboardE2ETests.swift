import XCTest
import Foundation
import Metrics
@testable import TUI

/// A source that moves: each call advances the fixture clock and scales traffic a little.
final class FixtureSource: SnapshotSource {
    private let lock = NSLock()
    nonisolated(unsafe) private var tick: Int64 = 0
    /// Built once: generating 320 sites' histories costs far more than drawing them, and would
    /// swamp a CPU measurement of the dashboard.
    private let base = Fixture.snapshot(sites: 320)
    func latest() async throws -> NodeSnapshot? {
        let t: Int64 = lock.withLock { tick += 1; return tick }
        var s = base
        s.takenAtMs += t * 1000
        s.collector.eventsPerSec += Double(t)
        s.consumers = s.consumers.map { var c = $0; c.millisBehindLatest += (t % 7) * 100; return c }
        return s
    }
}

/// Answers every query after 300 ms (long enough to see "running" and to cancel it).
struct FixtureQueryService: QueryService {
    func run(sql: String) async throws -> QueryResult {
        try await Task.sleep(nanoseconds: 300_000_000)
        if sql.contains("fail") { throw DashboardError(message: "no such table: fail") }
        return QueryResult(columns: ["site_id", "events"], rows: [["shop-seoul", "120400"], ["news-berlin", "60210"], ["docs-oslo", "3300"]],
                           elapsedMs: 300, bytesScanned: 7_340_032, priceUSD: 0.0000367)
    }
}

final class DashboardE2ETests: XCTestCase {
    /// Not a unit test: Tests/TUITests/e2e-tmux.sh runs this inside a tmux pane with
    /// EDDY_TUI_E2E=1 and drives it with send-keys. Skipped otherwise.
    func testInteractiveUnderTmux() async throws {
        guard ProcessInfo.processInfo.environment["EDDY_TUI_E2E"] == "1" else { throw XCTSkip("run by e2e-tmux.sh") }
        try await Dashboard.run(source: FixtureSource(), query: FixtureQueryService(), theme: "default",
                                options: DashboardOptions(ascii: ProcessInfo.processInfo.environment["EDDY_TUI_ASCII"] == "1",
                                                          refreshMs: 500, themeSearchPaths: []))
    }

    func testNotATerminalIsAClearError() async {
        // under `swift test` stdout is a pipe (or the check below is skipped when run from a terminal)
        guard isatty(1) == 0 || isatty(0) == 0 else { return }
        do {
            try await Dashboard.run(source: FixtureSource(), query: nil)
            XCTFail("expected an error")
        } catch {
            XCTAssertTrue("\(error)".contains("needs a terminal"), "\(error)")
        }
    }

    func testFrameBenchRuns() {
        let r = FrameBench.measure(width: 200, height: 60, sites: 320, iterations: 5)
        XCTAssertGreaterThan(r.medianMs, 0)
        XCTAssertGreaterThanOrEqual(r.p99Ms, r.medianMs)
    }
}

final class FrameBenchReport: XCTestCase {
    /// `EDDY_TUI_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter TUITests.FrameBenchReport`
    func testReportFrameTime() {
        guard ProcessInfo.processInfo.environment["EDDY_TUI_BENCH"] == "1" else { return }
        let r = FrameBench.measureDetailed(width: 200, height: 60, sites: 320, iterations: 1000)
        print("FRAMEBENCH 200x60 320 sites: wall median \(Fmt.fixed(r.wall.median, 3)) ms, p99 \(Fmt.fixed(r.wall.p99, 3)) ms;"
              + " cpu median \(Fmt.fixed(r.cpu.median, 3)) ms, p99 \(Fmt.fixed(r.cpu.p99, 3)) ms")
    }
}
