import Foundation
import XCTest
@testable import Pipeline

final class StreamConsumerTests: XCTestCase {
    func testCheckpointsAreReplacedAtomicallyAndResumeAfterRestart() async throws {
        let dir = makeStreamTempDir(self)
        do {
            let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 1))
            _ = try await s.append(makeBatch(10))
            let c = try s.consumer("lake-events")
            let b = try c.poll(maxRecordsPerShard: 4)
            XCTAssertEqual(b.first?.strings, ["r-0", "r-1", "r-2", "r-3"])
            try c.checkpoint(b[0].sequenceNumber(3))
            _ = try c.poll(maxRecordsPerShard: 2) // read further but do not checkpoint
            s.close()
        }
        let ckpt = dir + "/consumers/lake-events/shardId-000000000000.ckpt"
        XCTAssertTrue(FileManager.default.fileExists(atPath: ckpt))
        XCTAssertFalse(FileManager.default.fileExists(atPath: ckpt + ".tmp"), "no temporary file left behind")
        let text = try String(contentsOfFile: ckpt, encoding: .utf8)
        XCTAssertTrue(text.contains("\"nextOffset\":4"), text)
        // A crash mid-write leaves a stray .tmp: it must not be taken for the checkpoint.
        try Data("{\"garbage".utf8).write(to: URL(fileURLWithPath: ckpt + ".tmp"))
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 1))
        defer { s.close() }
        XCTAssertEqual(s.consumerApps, ["lake-events"])
        let c = try s.consumer("lake-events")
        XCTAssertEqual(try c.poll().first?.strings, ["r-4", "r-5", "r-6", "r-7", "r-8", "r-9"], "resumes after the checkpoint")
        try c.checkpointAll()
        XCTAssertEqual(try c.checkpointedOffset(shardId: "shardId-000000000000"), 10)
        XCTAssertThrowsError(try c.checkpoint(SequenceNumber(shardIndex: 0, offset: 10)), "past the end")
        XCTAssertThrowsError(try s.consumer("bad/name"))
    }

    func testLatestConsumerSkipsExistingRecords() async throws {
        let dir = makeStreamTempDir(self)
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 2))
        defer { s.close() }
        _ = try await s.append(makeBatch(10))
        let c = try s.consumer("live", initialPosition: .latest)
        XCTAssertTrue(try c.poll().isEmpty)
        _ = try await s.append(makeBatch(3, prefix: "n"))
        XCTAssertEqual(try c.poll().flatMap { $0.strings }.sorted(), ["n-0", "n-1", "n-2"])
    }

    func testLagNumbersMatchHandComputedValues() async throws {
        let dir = makeStreamTempDir(self)
        let clock = ManualClock(nowMs: 10_000)
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 1), clock: clock)
        defer { s.close() }
        // Records arrive at 10 000, 11 000, …, 14 000 ms.
        for i in 0..<5 { _ = try await s.append(makeBatch(1, prefix: "a\(i)")); clock.advance(byMs: 1000) }
        let c = try s.consumer("live")
        clock.set(20_000)
        var st = s.consumerStats().first { $0.app == "live" }!
        // Nothing read: 5 behind; the next unread record arrived at 10 000, the tip at 14 000.
        XCTAssertEqual(st.recordsBehind, 5)
        XCTAssertEqual(st.millisBehindLatest, 4000)
        XCTAssertEqual(st.iteratorAgeMs, 10_000)
        _ = try c.poll(maxRecordsPerShard: 2) // reads a0 (10 000) and a1 (11 000)
        st = s.consumerStats().first { $0.app == "live" }!
        XCTAssertEqual(st.recordsBehind, 3)
        XCTAssertEqual(st.millisBehindLatest, 14_000 - 11_000)
        XCTAssertEqual(st.iteratorAgeMs, 20_000 - 11_000)
        XCTAssertNil(st.checkpoint)
        try c.checkpointAll()
        _ = try c.poll()
        st = s.consumerStats().first { $0.app == "live" }!
        XCTAssertEqual(st.recordsBehind, 0)
        XCTAssertEqual(st.millisBehindLatest, 0)
        XCTAssertEqual(st.iteratorAgeMs, 0)
        XCTAssertEqual(st.checkpoint, SequenceNumber(shardIndex: 0, offset: 1).description)
    }

    func testRetentionByAgeDeletesWholeSegmentsButKeepsWhatAConsumerNeeds() async throws {
        let dir = makeStreamTempDir(self)
        let clock = ManualClock(nowMs: 1_000_000)
        var cfg = testConfig(shards: 1, segmentBytes: 4096)
        cfg.retentionMs = 60_000
        let s = try ShardedStream(dataDirectory: dir, config: cfg, clock: clock)
        defer { s.close() }
        for _ in 0..<6 { _ = try await s.append(makeBatch(140)); clock.advance(byMs: 1000) } // ~4.3 KiB each: one segment per batch
        let c = try s.consumer("slow")
        _ = try c.poll(maxRecordsPerShard: 300)
        try c.checkpointAll() // has read 300: segments 0 and 1 (280 records) are done, segment 2 is not
        clock.advance(byMs: 120_000)
        let r = try s.enforceRetention()
        XCTAssertEqual(r.deletedSegments, 2)
        XCTAssertEqual(r.deletedRecords, 280)
        XCTAssertGreaterThan(r.keptForConsumers, 0)
        let (trim, end) = try s.bounds(shardId: "shardId-000000000000")
        XCTAssertEqual(trim, 280)
        XCTAssertEqual(end, 840)
        XCTAssertEqual(try c.poll(maxRecordsPerShard: 1).first?.records.first?.offset, 300, "consumer continues untouched")
        // TRIM_HORIZON follows the trim; reading below it reports the skipped records.
        XCTAssertEqual(try s.shardIterator(shardId: "shardId-000000000000", type: .trimHorizon).offset, 280)
        XCTAssertEqual(try s.read(shardId: "shardId-000000000000", from: 0, maxRecords: 1).skippedByRetention, 280)
    }

    func testRetentionBySizeForcesDeletionAndTellsTheConsumerWhatItLost() async throws {
        let dir = makeStreamTempDir(self)
        let clock = ManualClock(nowMs: 1_000_000)
        var cfg = testConfig(shards: 1, segmentBytes: 4096)
        cfg.retentionBytes = 10_000
        let s = try ShardedStream(dataDirectory: dir, config: cfg, clock: clock)
        defer { s.close() }
        let c = try s.consumer("lagging")
        for _ in 0..<6 { _ = try await s.append(makeBatch(140)); clock.advance(byMs: 1000) }
        _ = try c.poll(maxRecordsPerShard: 100)
        try c.checkpointAll() // at offset 100
        let r = try s.enforceRetention()
        // 6 segments of 140 frames (~4.3 KiB each) → keep at most 10 000 bytes: delete the 4 oldest.
        XCTAssertEqual(r.deletedSegments, 4)
        XCTAssertEqual(r.lostByConsumer["lagging"]?["shardId-000000000000"], 560 - 100)
        XCTAssertEqual(c.lostRecords["shardId-000000000000"], 460)
        XCTAssertEqual(try c.poll(maxRecordsPerShard: 1).first?.records.first?.offset, 560)
    }
}

final class StreamRetentionAfterRestartTests: XCTestCase {
    func testACheckpointPinsDataAcrossARestartButAnAppThatNeverCheckpointedDoesNot() async throws {
        let dir = makeStreamTempDir(self)
        let clock = ManualClock(nowMs: 2_000_000)
        var cfg = testConfig(shards: 1, segmentBytes: 4096)
        cfg.retentionMs = 10_000
        do {
            let s = try ShardedStream(dataDirectory: dir, config: cfg, clock: clock)
            for _ in 0..<4 { _ = try await s.append(makeBatch(140)) }
            _ = try s.consumer("never-checkpoints").poll(maxRecordsPerShard: 10)
            let keeper = try s.consumer("keeper")
            _ = try keeper.poll(maxRecordsPerShard: 150)
            try keeper.checkpointAll() // offset 150: needs segment 1 onward
            s.close()
        }
        clock.advance(byMs: 60_000)
        let s = try ShardedStream(dataDirectory: dir, config: cfg, clock: clock)
        defer { s.close() }
        XCTAssertEqual(s.consumerApps, ["keeper"], "no directory for an app that never checkpointed")
        let r = try s.enforceRetention()
        XCTAssertEqual(r.deletedRecords, 140, "only the segment the keeper finished")
        XCTAssertEqual(try s.bounds(shardId: "shardId-000000000000").trimHorizon, 140)
        try FileManager.default.removeItem(atPath: dir + "/consumers/keeper")
        let s2Dir = dir // a restart without the keeper releases the rest (except the active segment, rolled then deleted)
        s.close()
        let s2 = try ShardedStream(dataDirectory: s2Dir, config: cfg, clock: clock)
        defer { s2.close() }
        let r2 = try s2.enforceRetention()
        XCTAssertEqual(r2.deletedRecords, 420)
        XCTAssertEqual(try s2.bounds(shardId: "shardId-000000000000").trimHorizon, 560)
        let next = try await s2.append(makeBatch(1))
        XCTAssertEqual(next[0].offset, 560)
    }
}
