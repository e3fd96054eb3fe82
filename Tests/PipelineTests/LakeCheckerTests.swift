import Foundation
import XCTest
@testable import Pipeline

final class LakeCheckerTests: XCTestCase {
    /// A delivered lake checks clean, with every record counted; each way of breaking the contract
    /// that a reader would feel (a record lost, an object listed twice, records in two objects) is
    /// a problem; an object no manifest lists is a warning only.
    func testADeliveredLakeIsCleanAndEachBreachIsFound() async throws {
        let h = try DeliveryHarness(self)
        let d = try h.delivery()
        try await h.append((0..<60).map { simpleEvent(site: "s\($0 % 3)", i: $0) })
        try d.flush()
        var r = LakeChecker.check(dataDirectory: h.dir)
        XCTAssertTrue(r.ok, r.problems.joined(separator: "; "))
        XCTAssertEqual(r.records, 60)
        XCTAssertEqual(r.objects, 3)
        XCTAssertEqual(r.warnings, [])

        let manifestKey = try XCTUnwrap(try h.lake.list(prefix: "_manifests").first)
        let entries = try XCTUnwrap(Manifest.decode(try h.lake.read(manifestKey)))
        let a = entries[0]

        // Records in two objects: a copy of an object under a name whose first range is one wider,
        // listed by a second manifest.
        var wider = a.ranges
        wider[0].last = SequenceNumber(shardIndex: wider[0].last.shardIndex, offset: wider[0].last.offset + 1)
        let copyKey = a.url.split(separator: "/").dropLast().joined(separator: "/") + "/"
            + LakeLayout.objectName(delivery: "events", ranges: wider, ext: ".ndjson.zst")
        try h.lake.put(copyKey, try h.lake.read(a.url))
        let second = "_manifests/events/dt=2025-11-26/hr=09/00000001764150000001-shardId-000000000000-1.json"
        try h.lake.put(second, Manifest.encode([ManifestEntry(url: copyKey, contentLength: a.contentLength, records: a.records, ranges: wider)]))
        r = LakeChecker.check(dataDirectory: h.dir)
        XCTAssertFalse(r.ok)
        XCTAssertTrue(r.problems.contains { $0.contains("overlapping") && $0.contains(copyKey) }, r.problems.joined(separator: "; "))
        XCTAssertEqual(r.records, 60 + Int64(a.records))

        // An object listed twice.
        try h.lake.put(second, Manifest.encode([a]))
        try h.lake.delete(copyKey)
        r = LakeChecker.check(dataDirectory: h.dir)
        XCTAssertTrue(r.problems.contains { $0.contains("listed by") }, r.problems.joined(separator: "; "))
        XCTAssertEqual(r.problems.count, 1, r.problems.joined(separator: "; "))
        try h.lake.delete(second)

        // A record lost from an object: its manifest's size and record count no longer hold.
        let raw = try Compressor.decompress(try h.lake.read(a.url), key: a.url)
        let lines = raw.split(separator: 0x0A)
        let shorter = Array(lines.dropLast().map { Array($0) + [0x0A] }.joined())
        try h.lake.put(a.url, try Compressor(.zstd(level: 1)).compress(shorter))
        r = LakeChecker.check(dataDirectory: h.dir)
        XCTAssertTrue(r.problems.contains { $0.contains("\(a.records - 1) records, its manifest says \(a.records)") }, r.problems.joined(separator: "; "))
        XCTAssertTrue(r.problems.contains { $0.contains("bytes, its manifest says") }, r.problems.joined(separator: "; "))

        // A record of another shard's range in an object.
        let foreign = "{\"site_id\":\"s0\",\"seq\":\"\(SequenceNumber(shardIndex: 1, offset: 999_999))\"}\n"
        try h.lake.put(a.url, try Compressor(.zstd(level: 1)).compress(Array(raw) + Array(foreign.utf8)))
        r = LakeChecker.check(dataDirectory: h.dir)
        XCTAssertTrue(r.problems.contains { $0.contains("1 record(s) without a \"seq\" in the object's ranges") }, r.problems.joined(separator: "; "))

        // Restored: clean again; an object no manifest lists is a warning, not a problem.
        try h.lake.put(a.url, try Compressor(.zstd(level: 1)).compress(raw))
        // (Compressed in one call, not streamed from chunks: the size may differ from the original's.)
        try h.lake.put(manifestKey, Manifest.encode(entries.map { var e = $0; e.contentLength = Int(h.lake.size(e.url)!); return e }))
        try h.lake.put("events/site=s9/dt=2025-11-26/hr=09/events-shardId-000000000000-100000000000000000000-100000000000000000000.ndjson.zst",
                       try Compressor(.zstd(level: 1)).compress(Array(foreign.utf8)))
        r = LakeChecker.check(dataDirectory: h.dir)
        XCTAssertTrue(r.ok, r.problems.joined(separator: "; "))
        XCTAssertEqual(r.warnings.count, 1)
        XCTAssertTrue(r.warnings[0].contains("site=s9"), r.warnings[0])
    }

    func testTheLastSeqFieldIsTheDeliverysOwn() {
        let line = Array(#"{"seq":"7","n":1,"arrival_ms":5,"seq":"100000000000000000042","shard":"shardId-000000000000"}"#.utf8)
        XCTAssertEqual(LakeLayout.lastSequenceNumber(in: line[...]), SequenceNumber(shardIndex: 0, offset: 42))
        XCTAssertNil(LakeLayout.lastSequenceNumber(in: Array(#"{"a":1}"#.utf8)[...]))
    }
}
