import Foundation
import XCTest
@testable import Pipeline

final class WarehouseQueryRunnerTests: XCTestCase {
    func loaded() throws -> (Warehouse, String) {
        let dir = makeTempDataDir()
        let lake = LakeFixture(dataDirectory: dir)
        try lake.writeSimulated(events: 2_000, sites: 3, objectRecords: 500)
        var c = WarehouseConfig(); c.rawRetentionDays = 100_000; c.rollupRetentionDays = 100_000
        let w = try Warehouse(dataDirectory: dir, config: c)
        _ = try w.loadPending()
        return (w, dir)
    }

    func testEveryWriteOrEscapeAttemptIsRefused() throws {
        let (w, dir) = try loaded()
        let q = try w.queryRunner()
        let before = try q.run("SELECT count(*) FROM events").rows
        let escape = dir + "/escaped.sqlite"
        let attempts = [
            "INSERT INTO events (event_id, visitor) VALUES ('x', 'y')",
            "UPDATE events SET type = 'x'",
            "DELETE FROM events",
            "DROP TABLE events",
            "DROP INDEX events_site_ts",
            "CREATE TABLE t (x)",
            "CREATE TEMP TABLE t (x)",
            "CREATE VIEW v AS SELECT 1",
            "CREATE VIRTUAL TABLE t USING lake_events",
            "ALTER TABLE events ADD COLUMN z",
            "ATTACH DATABASE '\(escape)' AS x",
            "DETACH DATABASE main",
            "PRAGMA query_only = 0",
            "PRAGMA journal_mode = DELETE",
            "PRAGMA writable_schema = 1",
            "SELECT load_extension('/tmp/evil')",
            "VACUUM INTO '\(escape)'",
            "VACUUM",
            "REINDEX",
            "ANALYZE",
            "BEGIN IMMEDIATE",
            "SELECT 1; DELETE FROM events",
            "WITH x AS (SELECT 1) DELETE FROM events",
            "EXPLAIN DELETE FROM events",
            "REPLACE INTO sites VALUES ('x', 1, 1, 1)",
        ]
        for sql in attempts {
            XCTAssertThrowsError(try q.run(sql), sql) { e in
                guard let qe = e as? QueryError else { return XCTFail("\(sql): \(e)") }
                XCTAssertTrue([.refused, .syntax].contains(qe.kind), "\(sql): \(qe)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: escape))
        XCTAssertEqual(try q.run("SELECT count(*) FROM events").rows, before)
        // Reads still work after all that, including catalogue pragmas.
        XCTAssertGreaterThan(try q.run("PRAGMA table_info(events)").rows.count, 40)
    }

    func testTheTimeLimitStopsALongRecursiveQuery() throws {
        let (w, _) = try loaded()
        let q = try QueryRunner(databasePath: w.databasePath, lakeRoot: w.lakeRoot, timeLimit: 0.3)
        XCTAssertThrowsError(try q.run("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")) { e in
            XCTAssertEqual((e as? QueryError)?.kind, .timeLimit, "\(e)")
        }
        XCTAssertEqual(try q.run("SELECT 1").rows, [[.integer(1)]], "the connection is usable afterwards")
    }

    func testCancelFromAnotherThreadStopsTheQuery() throws {
        let (w, _) = try loaded()
        let q = try QueryRunner(databasePath: w.databasePath, lakeRoot: w.lakeRoot, timeLimit: 60)
        let t = Thread { while true { Thread.sleep(forTimeInterval: 0.05); q.cancel() } }
        t.start()
        XCTAssertThrowsError(try q.run("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")) { e in
            XCTAssertEqual((e as? QueryError)?.kind, .cancelled, "\(e)")
        }
        t.cancel()
    }

    func testErrorsCarryTheirPositionAndRowLimitTruncates() throws {
        let (w, _) = try loaded()
        let q = try w.queryRunner()
        XCTAssertThrowsError(try q.run("SELECT event_id FROM events WHERE nosuchcolumn = 1")) { e in
            let qe = e as! QueryError
            XCTAssertEqual(qe.offset, 34, "\(qe)")
            XCTAssertTrue(qe.description.contains("column 35"), qe.description)
        }
        let plan = try q.run("SELECT count(*) FROM events WHERE site_id = 'x'", explain: true)
        XCTAssertTrue(plan.stringRows.contains { $0.last!.contains("events_site") }, "\(plan.stringRows)")
        let r = try q.run("SELECT * FROM events", rowLimit: 10)
        XCTAssertEqual(r.rows.count, 10)
        XCTAssertTrue(r.truncated)
        XCTAssertNil(r.bytesScanned)
    }

    func testTheNamedQueriesRun() throws {
        let (w, _) = try loaded()
        let site = try w.query("SELECT site_id FROM sites ORDER BY events DESC LIMIT 1").stringRows[0][0]
        for nq in NamedQueries.all {
            let r = try w.query(nq.sql(site: site))
            XCTAssertFalse(r.columns.isEmpty, nq.name)
        }
        let top = try w.query(NamedQueries.named("top-pages")!.sql(site: site))
        XCTAssertFalse(top.rows.isEmpty)
    }
}

final class WarehouseLakeTableTests: XCTestCase {
    func testPartitionPruningReadsOnlyTheMatchingObjects() throws {
        let dir = makeTempDataDir()
        let lake = LakeFixture(dataDirectory: dir)
        let t0: Int64 = 1_795_651_200_000
        var bytes: [String: Int] = [:]
        var entries: [LakeFixture.Entry] = []
        for (i, (site, codec)) in [("a", LakeFixture.Codec.zstd), ("b", .gzip), ("c", .plain)].enumerated() {
            for h in 0..<3 {
                let ts = t0 + Int64(h) * 3_600_000
                let lines = (0..<50).map { lakeLine(id: "\(site)-\(h)-\($0)", site: site, visitor: "v\($0 % 7)", ts: ts + Int64($0) * 1000) }
                let e = try lake.writeObject(Array(lines.joined().utf8), records: 50, site: site, oldestArrivalMs: ts,
                                             firstSeq: i * 1000 + h * 100, lastSeq: i * 1000 + h * 100 + 49, codec: codec)
                entries.append(e)
                bytes["\(site)/\(h)"] = e.bytes
            }
        }
        try lake.writeManifest(entries, timeMs: t0, firstSeq: 1)
        let w = try Warehouse(dataDirectory: dir)
        let q = try w.queryRunner()
        let all = try q.run("SELECT count(*) FROM lake_events")
        XCTAssertEqual(all.rows, [[.integer(450)]])
        XCTAssertEqual(all.bytesScanned, Int64(bytes.values.reduce(0, +)))
        XCTAssertEqual(all.objectsScanned, 9)
        let b = try q.run("SELECT count(*), count(DISTINCT visitor) FROM lake_events WHERE site_id = 'b'")
        XCTAssertEqual(b.rows, [[.integer(150), .integer(7)]])
        XCTAssertEqual(b.bytesScanned, Int64(bytes["b/0"]! + bytes["b/1"]! + bytes["b/2"]!))
        let ch = try q.run("SELECT count(*) FROM lake_events WHERE site_id = 'c' AND dt = '2026-11-26' AND hr >= '01'")
        XCTAssertEqual(ch.rows, [[.integer(100)]])
        XCTAssertEqual(ch.bytesScanned, Int64(bytes["c/1"]! + bytes["c/2"]!))
        XCTAssertEqual(ch.objectsScanned, 2)
        let none = try q.run("SELECT count(*) FROM lake_events WHERE dt = '2020-01-01'")
        XCTAssertEqual(none.bytesScanned, 0)
        XCTAssertEqual(none.priceUSD!, 10 * 5.0 / 1_048_576, accuracy: 1e-12, "10 MB minimum")
        XCTAssertEqual(LakeTable.price(bytes: 1 << 40), 5.0, accuracy: 1e-9)
        XCTAssertEqual(LakeTable.price(bytes: 11 * 1_048_576 + 1), 12 * 5.0 / 1_048_576, accuracy: 1e-12, "rounded up to the MB")
    }

    func testLakeEventsAgreesWithEventsOnTheSameLake() throws {
        let dir = makeTempDataDir()
        let lake = LakeFixture(dataDirectory: dir)
        let n = try lake.writeSimulated(events: 8_000, sites: 4, objectRecords: 700, codec: .gzip)
        var c = WarehouseConfig(); c.rawRetentionDays = 100_000; c.rollupRetentionDays = 100_000
        let w = try Warehouse(dataDirectory: dir, config: c)
        _ = try w.loadPending()
        let q = try w.queryRunner()
        let sql = "SELECT count(*), count(DISTINCT visitor), round(sum(value), 2), sum(is_bot), count(props), sum(ts % 1000), count(DISTINCT channel) FROM "
        let a = try q.run(sql + "events"), b = try q.run(sql + "lake_events")
        XCTAssertEqual(a.rows, b.rows)
        XCTAssertEqual(a.rows[0][0], .integer(Int64(n)))
        let byColumn = try q.run("SELECT * FROM (SELECT \(EventColumn.names.joined(separator: ",")) FROM events EXCEPT SELECT \(EventColumn.names.joined(separator: ",")) FROM lake_events)")
        XCTAssertEqual(byColumn.rows.count, 0, "every typed column reads the same from both")
    }

    func testEscapedStringsDecode() throws {
        var p = ParsedLine()
        let line = Array(#"{"event_id":"e\"1","title":"caf\u00e9 \ud83d\ude00 \\ ok","site_id":"s","ts":5,"props":{"a":"}"}}"#.utf8)
        try line.withUnsafeBufferPointer { try LakeLineParser.parse($0, into: &p) }
        let t = EventColumn.title.rawValue
        XCTAssertEqual(String(decoding: p.scratch[p.starts[t]..<p.ends[t]], as: UTF8.self), "café 😀 \\ ok")
        let pr = EventColumn.props.rawValue
        XCTAssertEqual(String(decoding: line[p.starts[pr]..<p.ends[pr]], as: UTF8.self), #"{"a":"}"}"#)
    }
}

final class WarehouseOutputAndLoopTests: XCTestCase {
    func testTableOutputAlignsWideCharactersByTerminalCells() {
        XCTAssertEqual(ResultFormat.displayWidth("日本語"), 6)
        XCTAssertEqual(ResultFormat.displayWidth("😀a"), 3)
        XCTAssertEqual(ResultFormat.displayWidth("e\u{301}"), 1)
        let r = SQLQueryResult(columns: ["name", "n"], rows: [[.text("日本"), .integer(5)], [.text("abcde"), .integer(12)]], elapsedMs: 1)
        let lines = ResultFormat.table.render(r).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[2], "日本  │  5")
        XCTAssertEqual(lines[3], "abcde │ 12")
        XCTAssertEqual(ResultFormat.csv.render(SQLQueryResult(columns: ["a"], rows: [[.text("x,\"y\"")], [.null]], elapsedMs: 0)), "a\r\n\"x,\"\"y\"\"\"\r\n\r\n")
    }

    func testTheBackgroundLoopLoadsNewManifestsAndStopsCleanly() throws {
        let dir = makeTempDataDir()
        var c = WarehouseConfig(); c.pollInterval = 0.05; c.rawRetentionDays = 100_000; c.rollupRetentionDays = 100_000
        let w = try Warehouse(dataDirectory: dir, config: c)
        w.start()
        let lake = LakeFixture(dataDirectory: dir)
        let t0: Int64 = 1_795_651_200_000
        let o = try lake.writeObject(Array(lakeLine(id: "bg1", visitor: "v", ts: t0).utf8), records: 1, site: "a", oldestArrivalMs: t0, firstSeq: 1, lastSeq: 1)
        try lake.writeManifest([o], timeMs: t0, firstSeq: 1)
        var loaded: Int64 = 0
        for _ in 0..<400 where loaded == 0 {
            Thread.sleep(forTimeInterval: 0.05)
            loaded = w.stats().rowsLoaded
        }
        w.stop()
        XCTAssertEqual(loaded, 1)
        XCTAssertEqual(w.stats().objectsPending, 0)
        XCTAssertNil(w.lastError)
    }
}
