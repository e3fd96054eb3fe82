import CSQLite
import Foundation
import Metrics
import XCTest
@testable import Pipeline

/// A fresh data directory per test, removed afterwards.
func makeTempDataDir(_ name: String = #function) -> String {
    let dir = NSTemporaryDirectory() + "eddy-wh-\(name.filter(\.isLetter))-\(UUID().uuidString.prefix(8))"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Paths of the manifest files below `dir` (any depth: `dt=…/hr=…/` or the older flat layout), sorted.
func manifestFiles(under dir: String) -> [String] {
    var out: [String] = []
    let e = FileManager.default.enumerator(atPath: dir)
    while let rel = e?.nextObject() as? String { if rel.hasSuffix(".json") { out.append(dir + "/" + rel) } }
    return out.sorted()
}

/// A hand-built enriched lake line.
func lakeLine(id: String, site: String = "a", visitor: String, ts: Int64, type: String = "page_view", path: String = "/",
              value: Double? = nil, bot: Bool = false, channel: String = "Direct", country: String = "DE",
              device: String = "desktop") -> String {
    var o = "{\"event_id\":\"\(id)\",\"site_id\":\"\(site)\",\"type\":\"\(type)\",\"ts\":\(ts),\"anon_id\":\"\(visitor)\","
    o += "\"url\":\"https://\(site).example\(path)\",\"arrival_ms\":\(ts + 100),\"seq\":\"1\",\"shard\":\"shardId-000000000000\","
    o += "\"url_host\":\"\(site).example\",\"url_path\":\"\(path)\",\"url_query\":null,\"ref_host\":null,\"channel\":\"\(channel)\","
    o += "\"device\":\"\(bot ? "bot" : device)\",\"is_bot\":\(bot),\"bot_reason\":\(bot ? "\"ua:bot\"" : "null"),\"geo_country\":\"\(country)\","
    o += "\"fingerprint\":\"00000000000000aa\""
    if let value { o += ",\"value\":\(value),\"currency\":\"EUR\"" }
    return o + "}\n"
}

final class WarehouseLoadingTests: XCTestCase {
    let t0: Int64 = 1_795_651_200_000 // 2026-11-26T00:00:00Z

    func warehouse(_ dir: String) throws -> Warehouse {
        var c = WarehouseConfig()
        c.rawRetentionDays = 100_000 // fixed-date fixtures must not expire
        c.rollupRetentionDays = 100_000
        return try Warehouse(dataDirectory: dir, config: c)
    }

    func count(_ w: Warehouse, _ sql: String) throws -> Int64 {
        let r = try w.query(sql)
        if case .integer(let n) = r.rows[0][0] { return n }
        if case .real(let d) = r.rows[0][0] { return Int64(d) }
        return -1
    }

    func testReplayedManifestsAndRedeliveredObjectsLoadEachRecordOnce() throws {
        let dir = makeTempDataDir()
        let lake = LakeFixture(dataDirectory: dir)
        let written = try lake.writeSimulated(events: 6_000, sites: 5, objectRecords: 500, objectsPerManifest: 3)
        let w = try warehouse(dir)
        let first = try w.loadPending()
        XCTAssertEqual(first.errors, [])
        XCTAssertEqual(first.rowsInserted, written)
        XCTAssertEqual(try count(w, "SELECT count(*) FROM events"), Int64(written))
        // Replay every manifest under new names (a flush retried after a crash) and load again.
        // The copies go to the flat layout of older lakes, which loaders still read.
        let mdir = dir + "/lake/_manifests/events"
        for path in manifestFiles(under: mdir) {
            let n = (path as NSString).lastPathComponent
            try FileManager.default.copyItem(atPath: path, toPath: mdir + "/99999999999999999999-replay-" + n)
        }
        let second = try w.loadPending()
        XCTAssertEqual(second.rowsInserted, 0)
        XCTAssertEqual(second.objectsAlreadyLoaded, first.objectsLoaded)
        XCTAssertEqual(try count(w, "SELECT count(*) FROM events"), Int64(written))
        XCTAssertEqual(try count(w, "SELECT sum(events) FROM rollup_minute") + (try count(w, "SELECT sum(bot_events) FROM rollup_minute")), Int64(written))
        XCTAssertEqual(w.stats().objectsPending, 0)
        XCTAssertEqual(w.stats().rowsLoaded, Int64(written))
    }

    func testTheSameEventIdInTwoObjectsIsCountedOnce() throws {
        let dir = makeTempDataDir()
        let lake = LakeFixture(dataDirectory: dir)
        let a = try lake.writeObject(Array(lakeLine(id: "e1", visitor: "v", ts: t0).utf8), records: 1, site: "a", oldestArrivalMs: t0, firstSeq: 1, lastSeq: 1)
        let b = try lake.writeObject(Array((lakeLine(id: "e1", visitor: "v", ts: t0) + lakeLine(id: "e2", visitor: "v", ts: t0 + 1000)).utf8),
                                     records: 2, site: "a", oldestArrivalMs: t0, firstSeq: 2, lastSeq: 3, codec: .gzip)
        try lake.writeManifest([a, b], timeMs: t0, firstSeq: 1)
        let w = try warehouse(dir)
        let r = try w.loadPending()
        XCTAssertEqual(r.rowsInserted, 2)
        XCTAssertEqual(r.duplicateRows, 1)
        XCTAssertEqual(try count(w, "SELECT count(*) FROM events"), 2)
        XCTAssertEqual(try count(w, "SELECT events FROM sessions"), 2)
    }

    func testAFailureMidObjectLeavesNoPartialRowsAndTheReloadCompletes() throws {
        let dir = makeTempDataDir()
        let lake = LakeFixture(dataDirectory: dir)
        // Two manifests of 4 objects; the crash hits the third object of the second manifest.
        let written = try lake.writeSimulated(events: 3_000, sites: 3, objectRecords: 400, objectsPerManifest: 4)
        let w = try warehouse(dir)
        struct Crash: Error {}
        // The third object of the second manifest fails at its 100th row, every time it is loaded
        // (the loader retries a failed manifest's group without it, and the manifest alone).
        let seen = LockedCounter()
        let doomed = LockedURL()
        w.faultInjection = { url, n in
            if n == 1 { seen.objects += 1; if seen.objects == 7 { doomed.url = url } }
            if url == doomed.url, n == 100 { throw Crash() }
        }
        let r1 = try w.loadPending()
        XCTAssertEqual(r1.errors.count, 1)
        XCTAssertGreaterThanOrEqual(r1.objectsLoaded, 4, "the first manifest committed")
        let loaded = try count(w, "SELECT sum(rows_inserted) FROM loaded_objects")
        XCTAssertGreaterThan(loaded, 0)
        XCTAssertEqual(try count(w, "SELECT count(*) FROM events"), loaded, "no rows of the crashed manifest remain")
        XCTAssertEqual(try count(w, "SELECT sum(events) + sum(bot_events) FROM rollup_minute"), loaded)
        XCTAssertEqual(try count(w, "SELECT sum(events) FROM sessions"), loaded)
        XCTAssertGreaterThan(w.stats().objectsPending, 0)
        w.faultInjection = nil
        let r2 = try w.loadPending()
        XCTAssertEqual(r2.errors, [])
        XCTAssertEqual(r2.objectsLoaded, 4, "the crashed manifest rolled back whole and loads whole")
        XCTAssertEqual(try count(w, "SELECT count(*) FROM events"), Int64(written))
        XCTAssertEqual(try count(w, "SELECT sum(events) FROM sessions"), Int64(written))
        XCTAssertEqual(w.stats().objectsPending, 0)
    }

    func testAStopDuringABacklogReturnsAfterTheManifestInProgress() throws {
        let dir = makeTempDataDir()
        let lake = LakeFixture(dataDirectory: dir)
        // Six manifests of 2 objects.
        let written = try lake.writeSimulated(events: 3_000, sites: 3, objectRecords: 250, objectsPerManifest: 2)
        let w = try warehouse(dir)
        // The stop arrives while the second manifest loads (as `stop()` sets it from another thread).
        let seen = LockedCounter()
        w.faultInjection = { [weak w] _, n in
            if n == 1 { seen.objects += 1 }
            if seen.objects == 3, n == 1 { w?.requestStop() }
        }
        let r1 = try w.loadPending()
        XCTAssertEqual(r1.errors, [])
        XCTAssertEqual(r1.manifestsCompleted, 2, "the manifest in progress finishes, no later one starts")
        XCTAssertEqual(try count(w, "SELECT count(*) FROM events"), try count(w, "SELECT sum(rows_inserted) FROM loaded_objects"))
        XCTAssertGreaterThan(w.stats().objectsPending, 0)
        // The flag is for the load it cut short; once the loop has stopped, a flush loads the rest.
        w.faultInjection = nil
        w.start(); w.stop()
        let r2 = try w.loadPending()
        XCTAssertEqual(r2.errors, [])
        XCTAssertEqual(try count(w, "SELECT count(*) FROM events"), Int64(written))
        XCTAssertEqual(w.stats().objectsPending, 0)
    }

    /// SQLite's memory is reported, and the soft limit keeps the writer's page cache under it (the
    /// writer's cache_size alone, 64 MiB, would keep every page of this load).
    func testSQLiteMemoryIsReportedAndHeldUnderTheConfiguredLimit() throws {
        defer { sqlite3_soft_heap_limit64(WarehouseConfig().memoryLimitBytes) }
        func loadedMemory(limit: Int64) throws -> (used: Int64, reported: WarehouseStats) {
            let dir = makeTempDataDir("mem\(limit)")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try LakeFixture(dataDirectory: dir).writeSimulated(events: 12_000, sites: 4, objectRecords: 2_000, objectsPerManifest: 3)
            var c = WarehouseConfig()
            c.rawRetentionDays = 100_000; c.rollupRetentionDays = 100_000
            c.memoryLimitBytes = limit
            if limit == 0 { sqlite3_soft_heap_limit64(0) }
            let w = try Warehouse(dataDirectory: dir, config: c)
            let before = sqlite3_memory_used()
            XCTAssertEqual(try w.loadPending().errors, [])
            let st = w.stats()
            return (sqlite3_memory_used() - before, st)
        }
        let unlimited = try loadedMemory(limit: 0)
        let limited = try loadedMemory(limit: 2 << 20)
        XCTAssertEqual(unlimited.reported.sqliteMemoryLimitBytes, 0)
        XCTAssertEqual(limited.reported.sqliteMemoryLimitBytes, 2 << 20)
        XCTAssertGreaterThan(limited.reported.sqliteMemoryBytes, 0)
        XCTAssertGreaterThan(unlimited.used, 6 << 20, "the fixture should fill more cache than the limit allows")
        XCTAssertLessThan(limited.used, 3 << 20, "SQLite held \(limited.used) bytes past a 2 MiB limit")
    }

    func testACorruptLineStopsTheManifestWithoutPartialRows() throws {
        let dir = makeTempDataDir()
        let lake = LakeFixture(dataDirectory: dir)
        let good = lakeLine(id: "g1", visitor: "v", ts: t0)
        let bad = try lake.writeObject(Array((good + lakeLine(id: "g2", visitor: "v", ts: t0 + 1) + "{\"event_id\": oops\n").utf8),
                                       records: 3, site: "a", oldestArrivalMs: t0, firstSeq: 1, lastSeq: 3, codec: .plain)
        try lake.writeManifest([bad], timeMs: t0, firstSeq: 1)
        let w = try warehouse(dir)
        let r = try w.loadPending()
        XCTAssertEqual(r.errors.count, 1)
        XCTAssertTrue(r.errors[0].contains(":3:"), r.errors[0])
        XCTAssertEqual(try count(w, "SELECT count(*) FROM events"), 0)
        // Delivery rewrites the object under the same name (a redelivery): it loads.
        try lake.writeObject(Array((good + lakeLine(id: "g2", visitor: "v", ts: t0 + 1)).utf8), records: 2, site: "a",
                             oldestArrivalMs: t0, firstSeq: 1, lastSeq: 3, codec: .plain)
        XCTAssertEqual(try w.loadPending().errors, [])
        XCTAssertEqual(try count(w, "SELECT count(*) FROM events"), 2)
    }

    func testAManifestWhoseObjectAppearsLaterCompletesWhenItDoes() throws {
        let dir = makeTempDataDir()
        let lake = LakeFixture(dataDirectory: dir)
        let a = try lake.writeObject(Array(lakeLine(id: "a1", visitor: "v", ts: t0).utf8), records: 1, site: "a", oldestArrivalMs: t0, firstSeq: 1, lastSeq: 1)
        let bBody = Array((lakeLine(id: "b1", visitor: "w", ts: t0 + 5) + lakeLine(id: "b2", visitor: "w", ts: t0 + 6)).utf8)
        let bURL = "events/site=a/dt=2026-11-26/hr=00/events-shardId-000000000000-00000000000000000002-00000000000000000003.ndjson.zst"
        try lake.writeManifest([a, .init(url: bURL, bytes: 0, records: 2)], timeMs: t0, firstSeq: 1)
        let w = try warehouse(dir)
        let r1 = try w.loadPending()
        XCTAssertEqual(r1.errors.count, 1)
        XCTAssertTrue(r1.errors[0].contains("mandatory object missing"))
        XCTAssertEqual(try count(w, "SELECT count(*) FROM events"), 1)
        let st = w.stats()
        XCTAssertEqual(st.objectsPending, 1)
        XCTAssertEqual(st.recordsPending, 2)
        let b = try lake.writeObject(bBody, records: 2, site: "a", oldestArrivalMs: t0, firstSeq: 2, lastSeq: 3)
        XCTAssertEqual(b.url, bURL)
        let r2 = try w.loadPending()
        XCTAssertEqual(r2.errors, [])
        XCTAssertEqual(r2.manifestsCompleted, 1)
        XCTAssertEqual(try count(w, "SELECT count(*) FROM events"), 3)
        XCTAssertEqual(w.stats().objectsPending, 0)
        XCTAssertEqual(w.stats().newestEventLoadedMs, t0 + 6)
    }

    func testRetentionDeletesOldRawEventsAndKeepsRollups() throws {
        let dir = makeTempDataDir()
        let lake = LakeFixture(dataDirectory: dir)
        let o = try lake.writeObject(Array((lakeLine(id: "x1", visitor: "v", ts: t0) + lakeLine(id: "x2", visitor: "v", ts: t0 + 40 * 86_400_000)).utf8),
                                     records: 2, site: "a", oldestArrivalMs: t0, firstSeq: 1, lastSeq: 2)
        try lake.writeManifest([o], timeMs: t0, firstSeq: 1)
        var c = WarehouseConfig(); c.rawRetentionDays = 30; c.rollupRetentionDays = 400
        let w = try Warehouse(dataDirectory: dir, config: c)
        w.now = { 1_795_651_200_000 + 41 * 86_400_000 }
        _ = try w.loadPending()
        // The 41-day-old row was dropped at load; the rollup keeps what was loaded.
        XCTAssertEqual(try count(w, "SELECT count(*) FROM events"), 1)
        w.now = { 1_795_651_200_000 + 80 * 86_400_000 }
        try w.applyRetention()
        XCTAssertEqual(try count(w, "SELECT count(*) FROM events"), 0)
        XCTAssertEqual(try count(w, "SELECT sum(pageviews) FROM rollup_minute"), 1)
    }
}

final class LockedURL: @unchecked Sendable {
    private let l = NSLock()
    private var _url: String?
    var url: String? {
        get { l.lock(); defer { l.unlock() }; return _url }
        set { l.lock(); _url = newValue; l.unlock() }
    }
}

final class LockedCounter: @unchecked Sendable {
    private let l = NSLock()
    private var _n = 0
    var objects: Int {
        get { l.lock(); defer { l.unlock() }; return _n }
        set { l.lock(); _n = newValue; l.unlock() }
    }
}

final class WarehouseSessionTests: XCTestCase {
    let t0: Int64 = 1_795_651_200_000
    let m: Int64 = 60_000

    func load(_ dir: String, _ lines: [String], seq: Int, codec: LakeFixture.Codec = .zstd) throws {
        let lake = LakeFixture(dataDirectory: dir)
        let o = try lake.writeObject(Array(lines.joined().utf8), records: lines.count, site: "a", oldestArrivalMs: t0,
                                     firstSeq: seq, lastSeq: seq, codec: codec)
        try lake.writeManifest([o], timeMs: t0 + Int64(seq), firstSeq: seq)
    }

    func sessions(_ w: Warehouse) throws -> [[String]] {
        try w.query("SELECT visitor, start_ms, end_ms, events, pageviews, bounce, entry_page, exit_page, converted, revenue FROM sessions ORDER BY visitor, start_ms").stringRows
    }

    func testInactivityOver30MinutesStartsANewSessionAndASingleEventIsABounce() throws {
        let dir = makeTempDataDir()
        try load(dir, [
            lakeLine(id: "1", visitor: "v", ts: t0, path: "/a"),
            lakeLine(id: "2", visitor: "v", ts: t0 + 10 * m, path: "/b"),
            lakeLine(id: "3", visitor: "v", ts: t0 + 10 * m + 5, type: "purchase", path: "/b", value: 12.5),
            lakeLine(id: "4", visitor: "v", ts: t0 + 41 * m, path: "/c"),       // 31 min gap: new session
            lakeLine(id: "5", visitor: "w", ts: t0 + 3 * m, path: "/x"),
            lakeLine(id: "6", visitor: "z", ts: t0 + 3 * m, path: "/y"),
            lakeLine(id: "7", visitor: "z", ts: t0 + 33 * m, path: "/y"),      // exactly 30 min: same session
        ], seq: 1)
        let w = try Warehouse(dataDirectory: dir)
        XCTAssertEqual(try w.loadPending().errors, [])
        let s = try sessions(w)
        XCTAssertEqual(s, [
            ["v", "\(t0)", "\(t0 + 10 * m + 5)", "3", "2", "0", "/a", "/b", "1", "12.5"],
            ["v", "\(t0 + 41 * m)", "\(t0 + 41 * m)", "1", "1", "1", "/c", "/c", "0", "0.0"],
            ["w", "\(t0 + 3 * m)", "\(t0 + 3 * m)", "1", "1", "1", "/x", "/x", "0", "0.0"],
            ["z", "\(t0 + 3 * m)", "\(t0 + 33 * m)", "2", "2", "0", "/y", "/y", "0", "0.0"],
        ])
        XCTAssertEqual(try w.query("SELECT sum(sessions), sum(bounces) FROM rollup_minute").stringRows, [["4", "2"]])
    }

    func testAnEventArrivingLaterThatBridgesTwoSessionsMergesThem() throws {
        let dir = makeTempDataDir()
        try load(dir, [lakeLine(id: "1", visitor: "v", ts: t0, path: "/a"), lakeLine(id: "3", visitor: "v", ts: t0 + 50 * m, path: "/c")], seq: 1)
        let w = try Warehouse(dataDirectory: dir)
        _ = try w.loadPending()
        XCTAssertEqual(try sessions(w).count, 2)
        XCTAssertEqual(try w.query("SELECT sum(sessions), sum(bounces) FROM rollup_channel_day").stringRows, [["2", "2"]])
        try load(dir, [lakeLine(id: "2", visitor: "v", ts: t0 + 25 * m, path: "/b")], seq: 2)
        _ = try w.loadPending()
        XCTAssertEqual(try sessions(w), [["v", "\(t0)", "\(t0 + 50 * m)", "3", "3", "0", "/a", "/c", "0", "0.0"]])
        XCTAssertEqual(try w.query("SELECT sum(sessions), sum(bounces) FROM rollup_minute").stringRows, [["1", "0"]])
        XCTAssertEqual(try w.query("SELECT sum(sessions), sum(bounces), sum(pageviews) FROM rollup_channel_day").stringRows, [["1", "0", "3"]])
        XCTAssertEqual(try w.query("SELECT sum(sessions), sum(bounces) FROM rollup_geo_device_day").stringRows, [["1", "0"]])
    }

    /// A loyal visitor: the stored-session lookup walks back from the newest session and stops at
    /// the first that ended before its window. Late events that land between (and inside) older
    /// sessions must still find exactly the sessions around them.
    func testALoyalVisitorsLateEventsJoinTheRightStoredSessions() throws {
        let dir = makeTempDataDir()
        let day: Int64 = 86_400_000
        var seq = 1
        // Ten days with one session each: two pageviews 10 minutes apart.
        for d in 0..<10 {
            let base = t0 + Int64(d) * day
            try load(dir, [lakeLine(id: "d\(d)a", visitor: "v", ts: base, path: "/a"),
                           lakeLine(id: "d\(d)b", visitor: "v", ts: base + 10 * m, path: "/b")], seq: seq)
            seq += 1
        }
        let w = try Warehouse(dataDirectory: dir, config: { var c = WarehouseConfig(); c.rawRetentionDays = 100_000; c.rollupRetentionDays = 100_000; return c }())
        XCTAssertEqual(try w.loadPending().errors, [])
        XCTAssertEqual(try sessions(w).count, 10)
        // Late: one event inside day 5's session, one 20 minutes after day 3's (joins it), one
        // 2 hours after day 7's (a session of its own), all older than the newest sessions.
        try load(dir, [lakeLine(id: "late5", visitor: "v", ts: t0 + 5 * day + 5 * m, path: "/c"),
                       lakeLine(id: "late3", visitor: "v", ts: t0 + 3 * day + 30 * m, path: "/d"),
                       lakeLine(id: "late7", visitor: "v", ts: t0 + 7 * day + 120 * m, path: "/e")], seq: seq)
        XCTAssertEqual(try w.loadPending().errors, [])
        let s = try sessions(w)
        XCTAssertEqual(s.count, 11)
        XCTAssertEqual(s.first { $0[1] == "\(t0 + 3 * day)" }, ["v", "\(t0 + 3 * day)", "\(t0 + 3 * day + 30 * m)", "3", "3", "0", "/a", "/d", "0", "0.0"])
        XCTAssertEqual(s.first { $0[1] == "\(t0 + 5 * day)" }, ["v", "\(t0 + 5 * day)", "\(t0 + 5 * day + 10 * m)", "3", "3", "0", "/a", "/b", "0", "0.0"])
        XCTAssertEqual(s.first { $0[1] == "\(t0 + 7 * day + 120 * m)" }?[3], "1")
        XCTAssertEqual(try w.query("SELECT sum(sessions) FROM rollup_minute").stringRows, [["11"]])
        // Distinct visitors per day stay one per day (the late events add none).
        XCTAssertEqual(try w.query("SELECT count(*), sum(visitors) FROM rollup_site_day").stringRows, [["10", "10"]])
    }

    func testOutOfOrderRowsWithinOneObjectGiveTheSameSessions() throws {
        let lines = [
            lakeLine(id: "1", visitor: "v", ts: t0, path: "/a"), lakeLine(id: "2", visitor: "v", ts: t0 + 20 * m, path: "/b"),
            lakeLine(id: "3", visitor: "v", ts: t0 + 45 * m, path: "/c"), lakeLine(id: "4", visitor: "v", ts: t0 + 90 * m, path: "/d"),
        ]
        let d1 = makeTempDataDir("ordered"), d2 = makeTempDataDir("shuffled")
        try load(d1, lines, seq: 1)
        try load(d2, [lines[3], lines[1], lines[0], lines[2]], seq: 1)
        let w1 = try Warehouse(dataDirectory: d1), w2 = try Warehouse(dataDirectory: d2)
        _ = try w1.loadPending(); _ = try w2.loadPending()
        XCTAssertEqual(try sessions(w1), try sessions(w2))
        XCTAssertEqual(try sessions(w1).count, 2)
    }
}

final class WarehouseRollupTests: XCTestCase {
    func testRollupsEqualTheSameAggregatesComputedFromEvents() throws {
        let dir = makeTempDataDir()
        let lake = LakeFixture(dataDirectory: dir)
        // Low rate: 20k events over ~2 hours, so sessions cross object and manifest boundaries.
        try lake.writeSimulated(events: 20_000, sites: 6, rate: 3, objectRecords: 300, objectsPerManifest: 4)
        var c = WarehouseConfig(); c.rawRetentionDays = 100_000; c.rollupRetentionDays = 100_000
        let w = try Warehouse(dataDirectory: dir, config: c)
        XCTAssertEqual(try w.loadPending().errors, [])
        func diff(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) throws {
            let r = try w.query("SELECT (SELECT count(*) FROM (SELECT * FROM (\(a)) EXCEPT SELECT * FROM (\(b)))) + (SELECT count(*) FROM (SELECT * FROM (\(b)) EXCEPT SELECT * FROM (\(a)))), (SELECT count(*) FROM (\(a)))")
            XCTAssertEqual(r.rows[0][0], .integer(0), "rollup differs from events: \(a)", file: file, line: line)
            XCTAssertNotEqual(r.rows[0][1], .integer(0), file: file, line: line)
        }
        try diff("SELECT site_id, minute_ms, events, pageviews, visitors, purchases, round(revenue, 2), bot_events FROM rollup_minute",
                 """
                 SELECT site_id, ts / 60000 * 60000, sum(is_bot = 0), sum(is_bot = 0 AND type = 'page_view'),
                        count(DISTINCT CASE WHEN is_bot = 0 THEN visitor END), sum(is_bot = 0 AND type = 'purchase'),
                        round(coalesce(sum(CASE WHEN is_bot = 0 AND type = 'purchase' THEN value END), 0), 2), sum(is_bot = 1)
                 FROM events GROUP BY 1, 2
                 """)
        try diff("SELECT site_id, minute_ms, sessions, bounces FROM rollup_minute WHERE sessions > 0",
                 "SELECT site_id, start_ms / 60000 * 60000, count(*), sum(bounce) FROM sessions WHERE is_bot = 0 GROUP BY 1, 2")
        try diff("SELECT site_id, hour_ms, url_path, pageviews, visitors FROM rollup_page_hour WHERE pageviews > 0",
                 "SELECT site_id, ts / 3600000 * 3600000, url_path, count(*), count(DISTINCT visitor) FROM events WHERE is_bot = 0 AND type = 'page_view' GROUP BY 1, 2, 3")
        try diff("SELECT site_id, day, channel, ref_host, sessions, bounces, pageviews, conversions, round(revenue, 2) FROM rollup_channel_day WHERE sessions > 0",
                 "SELECT site_id, date(start_ms / 1000, 'unixepoch'), coalesce(channel, ''), coalesce(ref_host, ''), count(*), sum(bounce), sum(pageviews), sum(converted), round(sum(revenue), 2) FROM sessions WHERE is_bot = 0 GROUP BY 1, 2, 3, 4")
        try diff("SELECT site_id, day, country, device, events, pageviews FROM rollup_geo_device_day WHERE events > 0",
                 "SELECT site_id, date(ts / 1000, 'unixepoch'), coalesce(geo_country, ''), coalesce(device, ''), count(*), sum(type = 'page_view') FROM events WHERE is_bot = 0 GROUP BY 1, 2, 3, 4")
        try diff("SELECT site_id, day, visitors FROM rollup_site_day WHERE visitors > 0",
                 "SELECT site_id, date(ts / 1000, 'unixepoch'), count(DISTINCT visitor) FROM events WHERE is_bot = 0 GROUP BY 1, 2")
        // Sessions are what a from-scratch sessionisation of events gives: 30-minute gaps per visitor.
        let fromScratch = """
            WITH o AS (SELECT site_id, visitor, ts, CASE WHEN ts - lag(ts) OVER (PARTITION BY site_id, visitor ORDER BY ts, id) <= 1800000 THEN 0 ELSE 1 END AS new FROM events),
            n AS (SELECT site_id, visitor, ts, sum(new) OVER (PARTITION BY site_id, visitor ORDER BY ts ROWS UNBOUNDED PRECEDING) AS k FROM o)
            SELECT site_id, visitor, min(ts), max(ts), count(*) FROM n GROUP BY site_id, visitor, k
            """
        try diff("SELECT site_id, visitor, start_ms, end_ms, events FROM sessions", fromScratch)
        XCTAssertEqual(try w.query("SELECT count(*) FROM sites").rows[0][0], .integer(6))
    }
}
