import CSQLite
import Foundation
import XCTest
@testable import Pipeline

/// Sessions and distinct-visitor rollups kept from session summaries and marks (no per-visitor
/// index on events): they must equal a recount from `events` however late the events arrive.
final class WarehouseMarksTests: XCTestCase {
    let t0: Int64 = 1_795_651_200_000 // 2026-11-26T00:00:00Z
    let m: Int64 = 60_000

    func config() -> WarehouseConfig {
        var c = WarehouseConfig(); c.rawRetentionDays = 100_000; c.rollupRetentionDays = 100_000
        return c
    }

    /// ~1,600 events of 40 visitors on two sites over 5 hours: page views on five paths, clicks,
    /// purchases; four visitors are bots and two mix bot and human events.
    func events() -> [String] {
        var rng = SplitMix64(seed: 42)
        var lines: [String] = []
        for v in 0..<40 {
            let site = v % 2 == 0 ? "a" : "b"
            var ts = t0 + Int64(rng.next() % 60) * m
            for e in 0..<40 {
                // Mostly within a session's gap, sometimes an hour's pause (a new session).
                ts += rng.next() % 10 == 0 ? 40 * m + Int64(rng.next() % UInt64(30 * m)) : Int64(rng.next() % UInt64(12 * m))
                let r = rng.next() % 10
                let type = r < 6 ? "page_view" : r < 8 ? "click" : r < 9 ? "purchase" : "scroll"
                let bot = v < 4 || (v >= 38 && e % 3 == 0)
                lines.append(lakeLine(id: "v\(v)e\(e)", site: site, visitor: "v\(v)", ts: ts, type: type, path: "/p\(rng.next() % 5)",
                                      value: type == "purchase" ? Double(rng.next() % 10_000) / 100 : nil, bot: bot,
                                      channel: ["Direct", "Organic Search", "Email"][Int(rng.next() % 3)],
                                      country: ["DE", "US", "JP"][Int(rng.next() % 3)], device: rng.next() % 2 == 0 ? "mobile" : "desktop"))
            }
        }
        return lines
    }

    /// Loads `lines` as `parts` manifests, one load each, in the given order.
    func loadInParts(_ w: Warehouse, _ dir: String, _ lines: [String], parts: Int, firstSeq: Int = 1) throws {
        let lake = LakeFixture(dataDirectory: dir)
        let size = (lines.count + parts - 1) / parts
        for p in 0..<parts {
            let chunk = Array(lines[min(lines.count, p * size)..<min(lines.count, (p + 1) * size)])
            guard !chunk.isEmpty else { continue }
            let o = try lake.writeObject(Array(chunk.joined().utf8), records: chunk.count, site: "a", oldestArrivalMs: t0,
                                         firstSeq: firstSeq + p, lastSeq: firstSeq + p, codec: .zstd)
            try lake.writeManifest([o], timeMs: t0 + Int64(firstSeq + p), firstSeq: firstSeq + p)
            XCTAssertEqual(try w.loadPending().errors, [])
        }
    }

    /// Sessions as a from-scratch sessionisation of `events` gives them: 30-minute gaps per visitor,
    /// entry and exit the first and last page view by (ts, id), attributes of the first event.
    static let sessionsFromEvents = """
        WITH o AS (SELECT *, CASE WHEN ts - lag(ts) OVER (PARTITION BY site_id, visitor ORDER BY ts, id) <= 1800000 THEN 0 ELSE 1 END AS new FROM events),
        n AS MATERIALIZED (SELECT *, sum(new) OVER (PARTITION BY site_id, visitor ORDER BY ts, id ROWS UNBOUNDED PRECEDING) AS k FROM o),
        s AS (SELECT site_id, visitor, k, min(ts) AS start_ms, max(ts) AS end_ms, count(*) AS events, sum(type = 'page_view') AS pageviews,
                     max(type = 'purchase') AS converted, round(sum(CASE WHEN type = 'purchase' THEN value ELSE 0 END), 2) AS revenue,
                     max(is_bot) AS is_bot FROM n GROUP BY 1, 2, 3)
        SELECT s.site_id, s.visitor, start_ms, end_ms, events, pageviews, events = 1, converted, revenue, is_bot,
          (SELECT url_path FROM n WHERE n.site_id = s.site_id AND n.visitor = s.visitor AND n.k = s.k AND type = 'page_view' ORDER BY ts, id LIMIT 1),
          (SELECT url_path FROM n WHERE n.site_id = s.site_id AND n.visitor = s.visitor AND n.k = s.k AND type = 'page_view' ORDER BY ts DESC, id DESC LIMIT 1),
          (SELECT ts FROM n WHERE n.site_id = s.site_id AND n.visitor = s.visitor AND n.k = s.k AND type = 'page_view' ORDER BY ts, id LIMIT 1),
          (SELECT ts FROM n WHERE n.site_id = s.site_id AND n.visitor = s.visitor AND n.k = s.k AND type = 'page_view' ORDER BY ts DESC, id DESC LIMIT 1),
          (SELECT channel || '|' || device || '|' || geo_country FROM n WHERE n.site_id = s.site_id AND n.visitor = s.visitor AND n.k = s.k ORDER BY ts, id LIMIT 1)
        FROM s
        """
    static let storedSessions = """
        SELECT site_id, visitor, start_ms, end_ms, events, pageviews, bounce, converted, round(revenue, 2), is_bot,
               entry_page, exit_page, entry_ms, exit_ms, channel || '|' || device || '|' || country FROM sessions
        """

    func assertMatchesARecount(_ w: Warehouse, file: StaticString = #filePath, line: UInt = #line) throws {
        func diff(_ a: String, _ b: String) throws {
            let r = try w.query("SELECT (SELECT count(*) FROM (SELECT * FROM (\(a)) EXCEPT SELECT * FROM (\(b)))) + (SELECT count(*) FROM (SELECT * FROM (\(b)) EXCEPT SELECT * FROM (\(a)))), (SELECT count(*) FROM (\(a)))")
            XCTAssertEqual(r.rows[0][0], .integer(0), "differs from a recount: \(a)", file: file, line: line)
            XCTAssertNotEqual(r.rows[0][1], .integer(0), "nothing to compare: \(a)", file: file, line: line)
        }
        try diff(Self.storedSessions, Self.sessionsFromEvents)
        try diff("SELECT site_id, minute_ms, events, pageviews, visitors FROM rollup_minute WHERE events > 0",
                 "SELECT site_id, ts / 60000 * 60000, sum(is_bot = 0), sum(is_bot = 0 AND type = 'page_view'), count(DISTINCT CASE WHEN is_bot = 0 THEN visitor END) FROM events GROUP BY 1, 2 HAVING sum(is_bot = 0) > 0")
        try diff("SELECT site_id, minute_ms, sessions, bounces FROM rollup_minute WHERE sessions > 0",
                 "SELECT site_id, start_ms / 60000 * 60000, count(*), sum(bounce) FROM sessions WHERE is_bot = 0 GROUP BY 1, 2")
        try diff("SELECT site_id, hour_ms, url_path, pageviews, visitors FROM rollup_page_hour WHERE pageviews > 0",
                 "SELECT site_id, ts / 3600000 * 3600000, url_path, count(*), count(DISTINCT visitor) FROM events WHERE is_bot = 0 AND type = 'page_view' GROUP BY 1, 2, 3")
        try diff("SELECT site_id, hour_ms, url_path, entries, exits, bounces FROM rollup_page_hour WHERE entries > 0 OR exits > 0",
                 """
                 SELECT site_id, h, p, sum(e), sum(x), sum(b) FROM (
                   SELECT site_id, start_ms / 3600000 * 3600000 AS h, entry_page AS p, 1 AS e, 0 AS x, bounce AS b FROM sessions WHERE is_bot = 0 AND entry_page IS NOT NULL
                   UNION ALL SELECT site_id, start_ms / 3600000 * 3600000, exit_page, 0, 1, 0 FROM sessions WHERE is_bot = 0 AND exit_page IS NOT NULL)
                 GROUP BY 1, 2, 3
                 """)
        try diff("SELECT site_id, day, channel, sessions, bounces, pageviews, conversions, round(revenue, 2) FROM rollup_channel_day WHERE sessions > 0",
                 "SELECT site_id, date(start_ms / 1000, 'unixepoch'), channel, count(*), sum(bounce), sum(pageviews), sum(converted), round(sum(revenue), 2) FROM sessions WHERE is_bot = 0 GROUP BY 1, 2, 3")
        try diff("SELECT site_id, day, visitors FROM rollup_site_day WHERE visitors > 0",
                 "SELECT site_id, date(ts / 1000, 'unixepoch'), count(DISTINCT visitor) FROM events WHERE is_bot = 0 GROUP BY 1, 2")
    }

    func testSessionsAndDistinctVisitorsMatchARecountWhenEventsArriveInAnyOrder() throws {
        let lines = events()
        // In time order, 10 loads: sessions cross loads at their ends.
        let inOrder = lines.sorted { a, b in tsOf(a) < tsOf(b) }
        // Shuffled, 25 loads: late rows land inside, before, after and between stored sessions.
        var rng = SplitMix64(seed: 7)
        var shuffled = lines
        for i in stride(from: shuffled.count - 1, to: 0, by: -1) { shuffled.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        for (name, order, parts) in [("ordered", inOrder, 10), ("shuffled", shuffled, 25)] {
            let dir = makeTempDataDir(name)
            let w = try Warehouse(dataDirectory: dir, config: config())
            try loadInParts(w, dir, order, parts: parts)
            XCTAssertEqual(try w.query("SELECT count(*) FROM events").rows[0][0], .integer(Int64(lines.count)))
            try assertMatchesARecount(w)
        }
    }

    func testALateRowInsideAStoredSessionTakesItsPlaceAsEntryExitAndMark() throws {
        let dir = makeTempDataDir()
        let w = try Warehouse(dataDirectory: dir, config: config())
        // Stored: a click at t0, a view of /b at t0+10m, a view of /c at t0+20m.
        try loadInParts(w, dir, [lakeLine(id: "1", visitor: "v", ts: t0, type: "click", path: "/a"),
                                 lakeLine(id: "2", visitor: "v", ts: t0 + 10 * m, path: "/b"),
                                 lakeLine(id: "3", visitor: "v", ts: t0 + 20 * m, path: "/c")], parts: 1)
        // Late, inside: a view of /x at t0+5m (the new entry) and one of /c at t0+20m (same ts as
        // the stored exit: loaded later, so it is the exit, and /c in that hour is no new visitor).
        try loadInParts(w, dir, [lakeLine(id: "4", visitor: "v", ts: t0 + 5 * m, path: "/x"),
                                 lakeLine(id: "5", visitor: "v", ts: t0 + 20 * m, path: "/c")], parts: 1, firstSeq: 2)
        XCTAssertEqual(try w.query("SELECT entry_page, exit_page, entry_ms, exit_ms, events, pageviews FROM sessions").stringRows,
                       [["/x", "/c", "\(t0 + 5 * m)", "\(t0 + 20 * m)", "5", "4"]])
        XCTAssertEqual(try w.query("SELECT url_path, pageviews, visitors, entries, exits FROM rollup_page_hour ORDER BY url_path").stringRows,
                       [["/b", "1", "1", "0", "0"], ["/c", "2", "1", "0", "1"], ["/x", "1", "1", "1", "0"]])
        try assertMatchesARecount(w)
    }

    /// A database from before migration 7 (no marks, the visitor index) is filled from its events.
    func testMigrationSevenFillsTheMarksOfExistingSessions() throws {
        let dir = makeTempDataDir()
        let path = dir + "/warehouse/eddy.sqlite"
        let before: [[String]]
        do {
            let w = try Warehouse(dataDirectory: dir, config: config())
            try loadInParts(w, dir, events(), parts: 6)
            before = try w.query("SELECT id, entry_ms, exit_ms, hex(marks) FROM sessions ORDER BY id").stringRows
            XCTAssertGreaterThan(before.count, 40)
        }
        // Back to schema 6 as that version left it.
        let c = try SQLiteConnection(path: path)
        try c.exec("""
            ALTER TABLE sessions DROP COLUMN marks; ALTER TABLE sessions DROP COLUMN entry_ms; ALTER TABLE sessions DROP COLUMN exit_ms;
            CREATE INDEX events_site_visitor_ts ON events(site_id, visitor, ts); DROP INDEX events_site_ts;
            DELETE FROM schema_migrations WHERE version >= 7;
            """)
        let w = try Warehouse(dataDirectory: dir, config: config())
        let after = try w.query("SELECT id, entry_ms, exit_ms, hex(marks) FROM sessions ORDER BY id").stringRows
        XCTAssertEqual(after.count, before.count)
        for (a, b) in zip(after, before) where a != b { XCTFail("session \(b[0]): filled \(a.dropFirst()), loaded \(b.dropFirst())") }
        XCTAssertEqual(try w.query("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'events' ORDER BY name").stringRows,
                       [["events_site_ts"], ["events_ts_event_id"]])
        _ = c
    }

    func tsOf(_ line: String) -> Int64 {
        guard let r = line.range(of: "\"ts\":") else { return 0 }
        return Int64(line[r.upperBound...].prefix { $0.isNumber }) ?? 0
    }
}
