import Foundation
import XCTest
@testable import Pipeline

/// Builds a small lake from simulated traffic and checks delivery's own counts. With
/// EDDY_LAKE_OUT=<dir> set, it builds it there and leaves it (plus `expected.json`) for
/// Tests/lake/test_duckdb.py, which reads it with DuckDB (scripts/test-lake.sh runs both).
final class LakeFixtureTests: XCTestCase {
    func testSimulatedTrafficLandsInTheLakeExactlyOnce() async throws {
        let out = ProcessInfo.processInfo.environment["EDDY_LAKE_OUT"]
        let dir: String
        if let out {
            try? FileManager.default.removeItem(atPath: out)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            dir = out
        } else { dir = makeStreamTempDir(self) }
        let h = try DeliveryHarness(self, shards: 2, dir: dir)
        let d = try h.delivery { $0.intervalMs = 300_000 }
        var sim = Simulator(SimulatorConfig(sites: 40, seed: 7, rate: 2_000, startMs: deliveryT0 - 60_000))
        var perSite: [String: Int] = [:]
        var total = 0
        let parser = EventParser()
        // 12 chunks, 10 simulated minutes apart: three hour partitions, flushes by age in between.
        for _ in 0..<12 {
            let body = sim.batch(count: 500)
            let parsed = parser.parse(body, nowMs: h.clock.nowMs())
            var b = RecordBatch()
            for e in parsed.events {
                b.append(data: Array(parsed.recordBytes(e)), partitionKey: parsed.string(e.defaultPartitionKey) ?? "k")
                perSite[parsed.string(e.siteId)!, default: 0] += 1
                total += 1
            }
            _ = try await h.stream.append(b)
            try d.runOnce()
            h.clock.advance(byMs: 600_000)
        }
        // A few records that must end in errors/, not in the table.
        try await h.append(["{\"site_id\":\"x\"}", "garbage"])
        try d.flush()
        XCTAssertEqual(Int(d.recordsDelivered), total)
        let lines = try h.lines()
        XCTAssertEqual(lines.count, total)
        XCTAssertEqual(Set(lines.map { $0["seq"] as! String }).count, total)
        XCTAssertEqual(try h.lines("errors/format-conversion-failed").count, 2)
        let hours = Set(try h.lake.list(prefix: "events").compactMap { $0.split(separator: "/").first { $0.hasPrefix("hr=") } })
        XCTAssertGreaterThanOrEqual(hours.count, 2)
        let expected: [String: Any] = ["events": total, "per_site": perSite, "errors": 2]
        try JSONSerialization.data(withJSONObject: expected, options: [.sortedKeys]).write(to: URL(fileURLWithPath: dir + "/expected.json"))
        h.stream.close()
    }

    /// Issue #6 "done when", in compressed time: a simulated day (24 chunks an hour of simulated
    /// time apart) goes simulator → stream → delivery → lake; after the flush the warehouse load
    /// gives count(*) FROM events, the rollup totals and count(*) FROM lake_events equal to what
    /// the stream holds, and every named query answers.
    func testASimulatedDayIngestedAndFlushedAgreesInEventsRollupsAndLakeEvents() async throws {
        let dir = makeStreamTempDir(self)
        let h = try DeliveryHarness(self, shards: 2, dir: dir)
        let d = try h.delivery { $0.intervalMs = 300_000 }
        // 400 events per simulated hour, so event times span the day as arrival times do.
        var sim = Simulator(SimulatorConfig(sites: 12, seed: 5, rate: 400.0 / 3_600, startMs: deliveryT0))
        let parser = EventParser()
        var appended = 0
        for _ in 0..<24 {
            let body = sim.batch(count: 400)
            let parsed = parser.parse(body, nowMs: h.clock.nowMs())
            var b = RecordBatch()
            for e in parsed.events {
                b.append(data: Array(parsed.recordBytes(e)), partitionKey: parsed.string(e.defaultPartitionKey) ?? "k")
                appended += 1
            }
            _ = try await h.stream.append(b)
            try d.runOnce()
            h.clock.advance(byMs: 3_600_000)
        }
        try d.flush()
        let inStream = h.stream.shardStats().reduce(0) { $0 + $1.records }
        XCTAssertEqual(Int(inStream), appended)
        XCTAssertEqual(Int(d.recordsDelivered), appended)

        var c = WarehouseConfig(); c.rawRetentionDays = 100_000; c.rollupRetentionDays = 100_000
        let w = try Warehouse(dataDirectory: dir, config: c)
        let r = try w.loadPending()
        XCTAssertEqual(r.errors, [])
        func count(_ sql: String) throws -> Int64 {
            let q = try w.query(sql)
            guard case .integer(let n)? = q.rows.first?.first else { XCTFail("no count from \(sql)"); return -1 }
            return n
        }
        let n = Int64(appended)
        XCTAssertEqual(try count("SELECT count(*) FROM events"), n)
        XCTAssertEqual(try count("SELECT count(DISTINCT event_id) FROM events"), n)
        XCTAssertEqual(try count("SELECT sum(events) + sum(bot_events) FROM rollup_minute"), n)
        XCTAssertEqual(try count("SELECT sum(events) FROM sites"), n)
        XCTAssertEqual(try count("SELECT sum(events) FROM rollup_geo_device_day"), try count("SELECT count(*) FROM events WHERE is_bot = 0"))
        XCTAssertEqual(try count("SELECT sum(events) FROM sessions"), n)
        XCTAssertEqual(try count("SELECT sum(sessions) FROM rollup_minute"), try count("SELECT count(*) FROM sessions WHERE is_bot = 0"))
        let runner = try w.queryRunner()
        let lake = try runner.run("SELECT count(*) FROM lake_events")
        XCTAssertEqual(lake.rows.first?.first, .integer(n))
        XCTAssertGreaterThan(lake.bytesScanned ?? 0, 0)
        XCTAssertGreaterThanOrEqual(try count("SELECT count(DISTINCT ts / 3600000) FROM events"), 24, "the events span the day")
        // An object's hour partition is its oldest record's arrival hour and a buffer may span hours.
        XCTAssertGreaterThanOrEqual(try count("SELECT count(DISTINCT hr) FROM lake_events"), 12)
        let site = try w.query("SELECT site_id FROM sites ORDER BY events DESC LIMIT 1").stringRows[0][0]
        for q in NamedQueries.all {
            let res = try runner.run(q.sql(site: site))
            XCTAssertFalse(res.rows.isEmpty, q.name)
        }
        h.stream.close()
    }
}
