import Foundation
import XCTest
@testable import Pipeline

/// The second-thread reader (`LinePipeline`) under the loader and `lake_events`: objects larger than
/// one block, escaped strings (decoded into the block), empty lines, and errors that must still name
/// the right line after crossing block boundaries.
final class WarehouseLinePipelineTests: XCTestCase {
    let t0: Int64 = 1_795_651_200_000 // 2026-11-26T00:00:00Z

    func warehouse(_ dir: String) throws -> Warehouse {
        var c = WarehouseConfig()
        c.rawRetentionDays = 100_000
        c.rollupRetentionDays = 100_000
        return try Warehouse(dataDirectory: dir, config: c)
    }

    func int(_ r: SQLQueryResult) -> Int64 {
        if case .integer(let n) = r.rows[0][0] { return n }
        return -1
    }

    /// 2 600 lines (three blocks of ≤ 1024), an empty line after line 1 500, and every 100th line
    /// with an escaped url_path.
    func bigObject(lines n: Int, prefix: String) -> String {
        var s = ""
        for i in 0..<n {
            if i == 1_500 { s += "\n" }
            var l = lakeLine(id: "\(prefix)\(i)", visitor: "v\(i % 37)", ts: t0 + Int64(i) * 1_000, path: "/p\(i % 5)")
            if i % 100 == 0 { l = l.replacingOccurrences(of: "\"url_path\":\"/p\(i % 5)\"", with: "\"url_path\":\"\\/caf\\u00e9\"") }
            s += l
        }
        return s
    }

    func testObjectsLargerThanABlockLoadWithDecodedStringsAndTheRightLineNumbers() throws {
        let dir = makeTempDataDir()
        let lake = LakeFixture(dataDirectory: dir)
        let n = 2_600
        let a = try lake.writeObject(Array(bigObject(lines: n, prefix: "a").utf8), records: n, site: "a", oldestArrivalMs: t0,
                                     firstSeq: 1, lastSeq: n, codec: .zstd)
        try lake.writeManifest([a], timeMs: t0, firstSeq: 1)
        let w = try warehouse(dir)
        let r = try w.loadPending()
        XCTAssertEqual(r.errors, [])
        XCTAssertEqual(r.rowsInserted, n)
        XCTAssertEqual(int(try w.query("SELECT count(*) FROM events")), Int64(n))
        XCTAssertEqual(int(try w.query("SELECT count(*) FROM events WHERE url_path = '/café'")), Int64(n / 100))
        XCTAssertEqual(int(try w.query("SELECT count(*) FROM lake_events WHERE url_path = '/café'")), Int64(n / 100))
        // Rows keep their order across blocks: ids follow the lines.
        XCTAssertEqual(try w.query("SELECT event_id FROM events ORDER BY id LIMIT 1 OFFSET 2000").stringRows[0][0], "a2000")
        XCTAssertEqual(int(try w.query("SELECT sum(records) FROM loaded_objects")), Int64(n))

        // A corrupt line in a second object, past two block boundaries (the empty line counts as a line).
        var body = bigObject(lines: n, prefix: "b")
        body += "{\"event_id\": oops\n"
        let b = try lake.writeObject(Array(body.utf8), records: n + 1, site: "b", oldestArrivalMs: t0 + 3_600_000,
                                     firstSeq: n + 1, lastSeq: 2 * n + 1, codec: .zstd)
        try lake.writeManifest([b], timeMs: t0 + 3_600_000, firstSeq: n + 1)
        let r2 = try w.loadPending()
        XCTAssertEqual(r2.errors.count, 1)
        XCTAssertTrue(r2.errors.first?.contains(":\(n + 2):") ?? false, r2.errors.first ?? "")
        XCTAssertEqual(int(try w.query("SELECT count(*) FROM events")), Int64(n), "the failed object leaves no rows")
        // lake_events reports the same line when it reads past it.
        XCTAssertThrowsError(try w.query("SELECT count(event_id) FROM lake_events WHERE site_id = 'b'")) { e in
            XCTAssertTrue("\(e)".contains(":\(n + 2)"), "\(e)")
        }
        // count(*) reads no keys, only the brace of each line: the bad line still counts.
        XCTAssertEqual(int(try w.query("SELECT count(*) FROM lake_events")), Int64(2 * n + 1))
    }

    func testEveryColumnNameIsFoundInTheKeyTableAndOthersAreNot() {
        for (i, n) in EventColumn.names.enumerated() {
            let b = Array(n.utf8)
            XCTAssertEqual(b.withUnsafeBufferPointer { EventColumn.column(key: $0.baseAddress!, b.count, table: EventColumn.keyTable) }, i, n)
        }
        for n in ["", "x", "event_i", "event_idx", "site_ID", "browser_versio", "browser_version_", "a_very_long_key_name_indeed"] {
            let b = Array(n.utf8) + [0x22]
            XCTAssertEqual(b.withUnsafeBufferPointer { EventColumn.column(key: $0.baseAddress!, n.utf8.count, table: EventColumn.keyTable) }, -1, n)
        }
    }

    func testAnObjectThatCannotBeReadFailsItsManifestAndLaterManifestsStillLoad() throws {
        let dir = makeTempDataDir()
        let lake = LakeFixture(dataDirectory: dir)
        let bad = try lake.writeObject(Array("not zstd at all".utf8), records: 1, site: "a", oldestArrivalMs: t0,
                                       firstSeq: 1, lastSeq: 1, codec: .plain)
        // Make the plain bytes sit under a .zst name: the decoder must fail, not the loader crash.
        let zst = bad.url.replacingOccurrences(of: ".ndjson", with: ".ndjson.zst")
        try FileManager.default.moveItem(atPath: dir + "/lake/" + bad.url, toPath: dir + "/lake/" + zst)
        var e = bad; e.url = zst
        try lake.writeManifest([e], timeMs: t0, firstSeq: 1)
        let good = try lake.writeObject(Array(lakeLine(id: "g", visitor: "v", ts: t0).utf8), records: 1, site: "a",
                                        oldestArrivalMs: t0 + 1, firstSeq: 2, lastSeq: 2, codec: .zstd)
        try lake.writeManifest([good], timeMs: t0 + 1, firstSeq: 2)
        let w = try warehouse(dir)
        let r = try w.loadPending()
        XCTAssertEqual(r.errors.count, 1)
        XCTAssertTrue(r.errors.first?.contains("zstd") ?? false, r.errors.first ?? "")
        XCTAssertEqual(r.rowsInserted, 1)
        XCTAssertEqual(int(try w.query("SELECT count(*) FROM events")), 1)
    }
}
