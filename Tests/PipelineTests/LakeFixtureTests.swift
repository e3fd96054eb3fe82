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
}
