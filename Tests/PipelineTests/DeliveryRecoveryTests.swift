import Foundation
import XCTest
@testable import Pipeline

final class DeliveryRecoveryTests: XCTestCase {
    private func eventIds(_ h: DeliveryHarness) throws -> [String] { try h.lines().map { $0["event_id"] as! String }.sorted() }

    func testCrashAfterObjectsBeforeManifestRedeliversUnderTheSameNames() async throws {
        let h = try DeliveryHarness(self)
        var d: DeliveryStream? = try h.delivery()
        try await h.append((0..<50).map { simpleEvent(site: "s\($0 % 3)", i: $0) })
        d!.crashPoint = .afterObjects
        XCTAssertThrowsError(try d!.flush())
        let before = try h.lake.list(prefix: "events")
        XCTAssertFalse(before.isEmpty)
        XCTAssertTrue(try h.lake.list(prefix: "_manifests").isEmpty)
        d = nil
        try h.reopen()
        let d2 = try h.delivery()
        try d2.flush()
        XCTAssertEqual(try h.lake.list(prefix: "events"), before, "redelivery overwrote the same names")
        let ids = try eventIds(h)
        XCTAssertEqual(ids.count, 50)
        XCTAssertEqual(Set(ids).count, 50)
    }

    func testCrashAfterManifestBeforeCheckpointWritesNothingTwice() async throws {
        let h = try DeliveryHarness(self)
        var d: DeliveryStream? = try h.delivery()
        try await h.append((0..<50).map { simpleEvent(site: "s\($0 % 3)", i: $0) })
        d!.crashPoint = .afterManifests
        XCTAssertThrowsError(try d!.flush())
        let objects = try h.lake.list(prefix: "events")
        let manifests = try h.lake.list(prefix: "_manifests")
        XCTAssertNil(try h.stream.consumer("lake-events").checkpointedOffset(shardId: "shardId-000000000000"))
        d = nil
        try h.reopen()
        let d2 = try h.delivery()
        try d2.flush()
        XCTAssertEqual(try h.lake.list(prefix: "events"), objects)
        XCTAssertEqual(try h.lake.list(prefix: "_manifests"), manifests, "no second manifest for the same records")
        XCTAssertEqual(d2.recordsSkippedAsRedelivered, 50)
        XCTAssertEqual(try eventIds(h).count, 50)
        // The checkpoint now covers them, so a third start reads nothing.
        try h.reopen()
        let d3 = try h.delivery()
        XCTAssertEqual(try d3.runOnce(), 0)
    }

    /// One partition flushed by size while another still buffers: the checkpoint must stay before
    /// the buffered one, and after a crash the flushed records must not be delivered again.
    func testCheckpointStaysBehindBufferedPartitionsAndRestartSkipsDeliveredOnes() async throws {
        let h = try DeliveryHarness(self, shards: 1)
        var d: DeliveryStream? = try h.delivery()
        let pad = String(repeating: "z", count: 1000)
        var events = [simpleEvent(site: "small", i: 0)]
        events += (1...1200).map { simpleEvent(site: "big", i: $0, extra: #","title":"\#(pad)""#) }
        events.append(simpleEvent(site: "small", i: 1201))
        try await h.append(events)
        try d!.runOnce()
        let bigObjects = try h.lake.list(prefix: "events/site=big")
        XCTAssertEqual(bigObjects.count, 1, "big crossed the 1 MiB hint")
        XCTAssertTrue(try h.lake.list(prefix: "events/site=small").isEmpty)
        XCTAssertNil(try h.stream.consumer("lake-events").checkpointedOffset(shardId: "shardId-000000000000"),
                     "record 0 (small) is still only in memory, so no checkpoint may cover it")
        d = nil // crash: the small buffer is lost
        try h.reopen()
        let d2 = try h.delivery()
        try d2.flush()
        let ids = try eventIds(h)
        XCTAssertEqual(ids.count, 1202)
        XCTAssertEqual(Set(ids).count, 1202, "no record is delivered twice")
        XCTAssertTrue(try h.lake.list(prefix: "events/site=big").starts(with: bigObjects))
        XCTAssertGreaterThan(d2.recordsSkippedAsRedelivered, 0)
    }
}
