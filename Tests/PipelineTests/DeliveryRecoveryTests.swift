import Foundation
import XCTest
@testable import Pipeline

final class DeliveryRecoveryTests: XCTestCase {
    private func eventIds(_ h: DeliveryHarness) throws -> [String] { try h.lines().map { $0["event_id"] as! String }.sorted() }

    func testCrashAfterObjectsBeforeManifestRedeliversUnderTheSameNames() async throws {
        try await crashAfterObjectsThenRestart(afterMs: 0)
    }

    /// Crashes between a flush's objects and its manifest, restarts `afterMs` later and flushes:
    /// the orphans are replaced under the same names and every event is in the lake once.
    @discardableResult
    private func crashAfterObjectsThenRestart(afterMs: Int64, beforeFlush: (DeliveryHarness, DeliveryStream) throws -> Void = { _, _ in }) async throws -> DeliveryHarness {
        let h = try DeliveryHarness(self)
        var d: DeliveryStream? = try h.delivery()
        try await h.append((0..<50).map { simpleEvent(site: "s\($0 % 3)", i: $0) })
        d!.crashPoint = .afterObjects
        XCTAssertThrowsError(try d!.flush())
        let before = try h.lake.list(prefix: "events")
        XCTAssertFalse(before.isEmpty)
        XCTAssertTrue(try h.lake.list(prefix: "_manifests").isEmpty)
        d = nil
        h.clock.advance(byMs: afterMs)
        try h.reopen()
        let d2 = try h.delivery()
        try beforeFlush(h, d2)
        try d2.flush()
        XCTAssertEqual(try h.lake.list(prefix: "events"), before, "redelivery overwrote the same names")
        let ids = try eventIds(h)
        XCTAssertEqual(ids.count, 50)
        XCTAssertEqual(Set(ids).count, 50)
        return h
    }

    /// An object no manifest lists whose named (lowest-shard) range is behind the checkpoint is
    /// read at recovery: with a record of another shard still ahead it is removed (that record is
    /// delivered again); with every record behind it stays, as a one-shard object behind does.
    func testAnUnlistedObjectOfSeveralShardsIsRemovedWhenAnyOfItsRecordsIsAhead() async throws {
        let h = try DeliveryHarness(self)
        var d: DeliveryStream? = try h.delivery()
        try await h.append((0..<40).map { simpleEvent(site: "s\($0 % 3)", i: $0) })
        try d!.flush()
        let consumer = try h.stream.consumer("lake-events")
        let next1 = try XCTUnwrap(try consumer.checkpointedOffset(shardId: ShardID.make(1)))
        XCTAssertGreaterThan(next1, 1)
        func seq(_ shard: Int, _ o: UInt64) -> SequenceNumber { SequenceNumber(shardIndex: shard, offset: o) }
        func orphan(site: String, shard1Offset: UInt64) throws -> String {
            let ranges = [SequenceRange(first: seq(0, 0), last: seq(0, 1)), SequenceRange(first: seq(1, shard1Offset), last: seq(1, shard1Offset))]
            let key = "events/site=\(site)/dt=2025-11-26/hr=09/" + LakeLayout.objectName(delivery: "events", ranges: ranges, ext: ".ndjson.zst")
            let lines = [seq(0, 0), seq(0, 1), seq(1, shard1Offset)].map {
                "{\"site_id\":\"\(site)\",\"seq\":\"\($0)\",\"shard\":\"\(ShardID.make($0.shardIndex))\"}\n"
            }.joined()
            try h.lake.put(key, try Compressor(.zstd(level: 1)).compress(Array(lines.utf8)))
            return key
        }
        let ahead = try orphan(site: "x1", shard1Offset: next1)       // shard 1's next record: ahead
        let behind = try orphan(site: "x2", shard1Offset: next1 - 1)  // every record behind
        try await h.append((40..<50).map { simpleEvent(site: "s\($0 % 3)", i: $0) })
        d = nil
        try h.reopen()
        _ = try h.delivery()
        XCTAssertFalse(h.lake.exists(ahead), "a record after its shard's checkpoint: removed, delivered again")
        XCTAssertTrue(h.lake.exists(behind), "every record behind its checkpoint: kept")
    }

    func testCrashAfterManifestBeforeCheckpointWritesNothingTwice() async throws {
        let h = try DeliveryHarness(self)
        var d: DeliveryStream? = try h.delivery()
        try await h.append((0..<50).map { simpleEvent(site: "s\($0 % 3)", i: $0) })
        d!.crashPoint = .afterManifests
        XCTAssertThrowsError(try d!.flush())
        let objects = try h.lake.list(prefix: "events")
        let manifests = try h.lake.list(prefix: "_manifests")
        // Each site has records in both shards: its object names shard 0's range only, and the
        // ledger must take shard 1's from the manifest entry, or those records come again.
        XCTAssertEqual(objects.count, 3)
        XCTAssertTrue(objects.allSatisfy { $0.hasSuffix("-shards-2.ndjson.zst") }, "\(objects)")
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

    /// A start reads the hours that can hold records after the checkpoints, not the whole lake:
    /// what sits three days back is not touched, what sits in the current hour is reconciled.
    func testRecoveryReadsOnlyTheHoursThatCanHoldRecordsAfterTheCheckpoints() async throws {
        let h = try DeliveryHarness(self)
        var d: DeliveryStream? = try h.delivery()
        try await h.append((0..<30).map { simpleEvent(site: "s\($0 % 3)", i: $0) })
        try d!.flush()
        d = nil
        func seq(_ o: UInt64) -> String { SequenceNumber(shardIndex: 0, offset: o).description }
        // What only a full scan would read: an unreadable manifest, and an object no manifest lists
        // whose name says it holds records after the checkpoint (a full scan removes it).
        let old = LakeLayout.dateHour(deliveryT0 - 3 * 86_400_000)
        let oldManifest = "_manifests/events/dt=\(old.0)/hr=\(old.1)/00000001763890200000-shardId-000000000000-\(seq(900)).json"
        let oldObject = "events/site=s0/dt=\(old.0)/hr=\(old.1)/events-shardId-000000000000-\(seq(900))-\(seq(999)).ndjson.zst"
        try h.lake.put(oldManifest, Array("not a manifest".utf8))
        try h.lake.put(oldObject, [1, 2, 3])
        // Two hours later, new records; the same two things in their hour.
        h.clock.advance(byMs: 2 * 3_600_000)
        try await h.append((30..<50).map { simpleEvent(site: "s\($0 % 3)", i: $0) })
        let now = LakeLayout.dateHour(deliveryT0 + 2 * 3_600_000)
        let newManifest = "_manifests/events/dt=\(now.0)/hr=\(now.1)/00000001764156600000-shardId-000000000000-\(seq(800)).json"
        let newObject = "events/site=s0/dt=\(now.0)/hr=\(now.1)/events-shardId-000000000000-\(seq(900))-\(seq(999)).ndjson.zst"
        try h.lake.put(newManifest, Array("not a manifest".utf8))
        try h.lake.put(newObject, [1, 2, 3])
        try h.reopen()
        let d2 = try h.delivery()
        XCTAssertTrue(h.lake.exists(oldObject), "three days back is before the first record after the checkpoints")
        XCTAssertFalse(h.lake.exists(newObject), "the current hour is read: an object no manifest lists is removed")
        XCTAssertTrue(h.logs.all.contains { $0.contains("unreadable manifest \(newManifest)") })
        XCTAssertFalse(h.logs.all.contains { $0.contains(oldManifest) })
        try d2.flush()
        try h.lake.delete(oldObject)
        let ids = try eventIds(h)
        XCTAssertEqual(ids.count, 50)
        XCTAssertEqual(Set(ids).count, 50)
    }

    /// The horizon follows the records' arrival, not the time of the restart: objects written
    /// without their manifest a day and a half before the restart are still found and replaced.
    func testCrashAfterObjectsIsReconciledWhenTheRestartComesADayLater() async throws {
        let h = try await crashAfterObjectsThenRestart(afterMs: 36 * 3_600_000) { h, d in
            XCTAssertEqual(d.recoveryHorizonMs(), deliveryT0 - DeliveryStream.recoveryClockMarginMs)
            XCTAssertTrue(h.logs.all.contains { $0.contains("written without a manifest") }, "\(h.logs.all)")
        }
        // Everything is checkpointed now: a start looks back only to the shards' last records.
        try await h.append([simpleEvent(site: "s0", i: 50)])   // arrives 36 h after the others
        try h.delivery().flush()
        try h.reopen()
        XCTAssertEqual(try h.delivery().recoveryHorizonMs(), deliveryT0 - DeliveryStream.recoveryClockMarginMs,
                       "one shard's last record is from T0")
        XCTAssertNil(try DeliveryHarness(self).delivery().recoveryHorizonMs(), "an empty stream has nothing to reconcile")
    }
}
