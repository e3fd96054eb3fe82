import Foundation
import XCTest
@testable import Pipeline

final class StreamReshardTests: XCTestCase {
    func testSplitAndMergeFollowKinesisRulesAndPersist() async throws {
        let dir = makeStreamTempDir(self)
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 2))
        _ = try await s.append(makeBatch(10))
        let mid = HashKey(decimal: "85070591730234615865843651857942052864")!
        let (a, b) = try s.splitShard("shardId-000000000000", newStartingHashKey: mid)
        XCTAssertEqual(a.shardId, "shardId-000000000002")
        XCTAssertEqual(b.shardId, "shardId-000000000003")
        XCTAssertEqual(a.endingHashKey.description, "85070591730234615865843651857942052863")
        XCTAssertEqual(b.startingHashKey, mid)
        XCTAssertEqual(a.parentShardId, "shardId-000000000000")
        var map = s.shardMap()
        XCTAssertEqual(map.shard(id: "shardId-000000000000")?.state, .closed)
        XCTAssertNotNil(map.shard(id: "shardId-000000000000")?.endingSequenceNumber)
        XCTAssertThrowsError(try s.splitShard("shardId-000000000000", newStartingHashKey: mid)) {
            XCTAssertEqual(($0 as? StreamError)?.code, .resourceInUse)
        }
        XCTAssertThrowsError(try s.splitShard("shardId-000000000002", newStartingHashKey: .zero), "key must be inside")
        XCTAssertThrowsError(try s.mergeShards("shardId-000000000002", adjacentShardId: "shardId-000000000001"), "not adjacent")
        let c = try s.mergeShards("shardId-000000000003", adjacentShardId: "shardId-000000000001")
        XCTAssertEqual(c.shardId, "shardId-000000000004")
        XCTAssertEqual(c.parentShardId, "shardId-000000000003")
        XCTAssertEqual(c.adjacentParentShardId, "shardId-000000000001")
        XCTAssertEqual(c.startingHashKey, mid)
        XCTAssertEqual(c.endingHashKey, .max)
        map = s.shardMap()
        XCTAssertEqual(map.problems(), [])
        XCTAssertEqual(map.openShards.map { $0.shardId }, ["shardId-000000000002", "shardId-000000000004"])
        XCTAssertEqual(s.reshardCounts.splits, 1)
        XCTAssertEqual(s.reshardCounts.merges, 1)
        s.close()
        let again = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 7))
        defer { again.close() }
        XCTAssertEqual(again.shardMap(), map, "shards.json survives a restart; shardCount only applies to new streams")
    }

    func testPerKeyOrderHoldsAcrossASplitAndAMerge() async throws {
        let dir = makeStreamTempDir(self)
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 2))
        defer { s.close() }
        let keys = (0..<20).map { "user-\($0)" }
        var seqPerKey: [String: Int] = [:]
        func write(_ round: Int) async throws {
            var b = RecordBatch()
            for k in keys { b.append(data: "\(k)|\(round)", partitionKey: k); seqPerKey[k, default: 0] += 1 }
            let r = try await s.append(b)
            XCTAssertTrue(r.allSatisfy { $0.succeeded })
        }
        let consumer = try s.consumer("order")
        var seen: [String: [Int]] = [:]
        func drain() throws {
            for batch in try consumer.poll(maxRecordsPerShard: 7) {
                for str in batch.strings {
                    let parts = str.split(separator: "|")
                    seen[String(parts[0]), default: []].append(Int(parts[1])!)
                }
            }
        }
        for r in 0..<5 { try await write(r) }
        try drain() // partly read before the split
        let m = HashKey.midpoint(.zero, HashKey(decimal: "170141183460469231731687303715884105727")!)
        try s.splitShard("shardId-000000000000", newStartingHashKey: m.adding(1).0)
        for r in 5..<10 { try await write(r) }
        try s.mergeShards("shardId-000000000003", adjacentShardId: "shardId-000000000001")
        for r in 10..<15 { try await write(r) }
        for _ in 0..<50 { try drain() }
        for k in keys {
            XCTAssertEqual(seen[k], Array(0..<15), "order of \(k)")
        }
    }

    func testUpdateShardCountReachesTheUniformLayout() async throws {
        let dir = makeStreamTempDir(self)
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 4))
        defer { s.close() }
        _ = try await s.append(makeBatch(40))
        try s.updateShardCount(6)
        var open = s.shardMap().openShards
        XCTAssertEqual(open.count, 6)
        let want = HashLayout.evenRanges(count: 6)
        XCTAssertEqual(open.map { $0.startingHashKey }, want.map { $0.start })
        XCTAssertEqual(open.map { $0.endingHashKey }, want.map { $0.end })
        try s.updateShardCount(3)
        open = s.shardMap().openShards
        XCTAssertEqual(open.map { $0.startingHashKey }, HashLayout.evenRanges(count: 3).map { $0.start })
        XCTAssertEqual(s.shardMap().problems(), [])
        XCTAssertThrowsError(try s.updateShardCount(7), "more than double")
        // All 40 records are still readable by a consumer walking the lineage.
        let c = try s.consumer("all")
        var n = 0
        for _ in 0..<20 { n += try c.poll().reduce(0) { $0 + $1.count } }
        XCTAssertEqual(n, 40)
    }

    func testGetRecordsAtTheEndOfAClosedShardNamesItsChildren() async throws {
        let dir = makeStreamTempDir(self)
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 1))
        defer { s.close() }
        _ = try await s.append(makeBatch(3))
        try s.splitShard("shardId-000000000000", newStartingHashKey: HashKey(hi: 1 << 63, lo: 0))
        let it = try s.shardIterator(shardId: "shardId-000000000000", type: .trimHorizon)
        let first = try s.getRecords(it, limit: 2)
        XCTAssertNotNil(first.nextIterator)
        XCTAssertNil(first.childShards)
        let last = try s.getRecords(first.nextIterator!, limit: 10)
        XCTAssertEqual(last.batch.count, 1)
        XCTAssertNil(last.nextIterator, "closed shard read to its end")
        XCTAssertEqual(last.childShards?.map { $0.shardId }, ["shardId-000000000001", "shardId-000000000002"])
    }

    func testOnDemandModeSplitsAHotShardOnlyAfterItStaysHot() async throws {
        let dir = makeStreamTempDir(self)
        let clock = ManualClock(nowMs: 5_000_000)
        var cfg = testConfig(shards: 2)
        cfg.autoScale = AutoScaleConfig(splitBytesPerSec: 10_000, mergeBytesPerSec: 100, sustainTicks: 3, coldTicks: 5,
                                        cooldownTicks: 2, minShards: 1, maxShards: 8)
        let s = try ShardedStream(dataDirectory: dir, config: cfg, clock: clock)
        defer { s.close() }
        let payload = [UInt8](repeating: 65, count: 400)
        func second(hot: Bool) async throws -> [ReshardEvent] {
            if hot {
                var b = RecordBatch()
                for _ in 0..<50 { b.append(data: payload, partitionKey: "the-hot-key") } // 20 KB in one second
                _ = try await s.append(b)
            }
            clock.advance(byMs: 1000)
            return try s.tick()
        }
        let hotShard = s.shardId(forPartitionKey: "the-hot-key")
        let e1 = try await second(hot: true)
        XCTAssertTrue(e1.isEmpty)
        XCTAssertTrue(s.shardStats().first { $0.shardId == hotShard }!.hot)
        let e2 = try await second(hot: true)
        XCTAssertTrue(e2.isEmpty, "hysteresis: not after two hot seconds")
        let ev = try await second(hot: true)
        XCTAssertEqual(ev, [.split(parent: hotShard, children: ["shardId-000000000002", "shardId-000000000003"])])
        XCTAssertEqual(s.shardMap().openShards.count, 3)
        XCTAssertGreaterThan(s.shardStats().first { $0.shardId == hotShard }!.bytesPerSec, 10_000)
        // Cold for long enough: adjacent cold shards merge back, but not before coldTicks.
        var merged: [ReshardEvent] = []
        for _ in 0..<4 { merged += try await second(hot: false) }
        XCTAssertTrue(merged.isEmpty)
        for _ in 0..<3 { merged += try await second(hot: false) }
        XCTAssertFalse(merged.isEmpty)
        XCTAssertTrue(merged.allSatisfy { if case .merged = $0 { return true } else { return false } })
        XCTAssertEqual(s.shardMap().problems(), [])
    }

    func testProvisionedLimitsThrottleRecordsWithATypedError() async throws {
        let dir = makeStreamTempDir(self)
        let clock = ManualClock(nowMs: 7_000_000)
        var cfg = testConfig(shards: 1)
        cfg.writeLimits = ShardWriteLimits(recordsPerSec: 10, bytesPerSec: 1 << 20)
        let s = try ShardedStream(dataDirectory: dir, config: cfg, clock: clock)
        defer { s.close() }
        let r = try await s.append(makeBatch(15))
        XCTAssertEqual(r.filter { $0.succeeded }.count, 10)
        XCTAssertEqual(r[12].error, .throughputExceeded)
        XCTAssertEqual(StreamError(.throughputExceeded, "").kinesisErrorType, "ProvisionedThroughputExceededException")
        XCTAssertEqual(s.shardStats()[0].throttles, 5)
        clock.advance(byMs: 1000)
        let r2 = try await s.append(makeBatch(10))
        XCTAssertTrue(r2.allSatisfy { $0.succeeded }, "next second has a fresh budget")
    }
}

final class StreamAutoSplitPointTests: XCTestCase {
    func testAutoSplitSeparatesTwoHotKeysOfOneShard() async throws {
        let dir = makeStreamTempDir(self)
        let clock = ManualClock(nowMs: 9_000_000)
        var cfg = testConfig(shards: 1)
        cfg.autoScale = AutoScaleConfig(splitBytesPerSec: 10_000, mergeBytesPerSec: 1, sustainTicks: 2, coldTicks: 100,
                                        cooldownTicks: 5, minShards: 1, maxShards: 8)
        let s = try ShardedStream(dataDirectory: dir, config: cfg, clock: clock)
        defer { s.close() }
        // Two keys whose hashes sit in the same (upper) half of the range: a midpoint split would
        // leave both in one child; the median of the written keys puts one on each side.
        let a = "abc", b = "session-7f3a"   // MD5 ≈ 0.5625·2^128 and ≈ 0.694·2^128
        let payload = [UInt8](repeating: 66, count: 300)
        var events: [ReshardEvent] = []
        for _ in 0..<2 {
            var batch = RecordBatch()
            for i in 0..<80 { batch.append(data: payload, partitionKey: i % 2 == 0 ? a : b) }
            _ = try await s.append(batch)
            clock.advance(byMs: 1000)
            events += try s.tick()
        }
        XCTAssertEqual(events.count, 1)
        let open = s.shardMap().openShards
        XCTAssertEqual(open.count, 2)
        XCTAssertNotEqual(s.shardId(forPartitionKey: a), s.shardId(forPartitionKey: b), "the split separates the two hot keys")
        XCTAssertEqual(open[1].startingHashKey, HashKey.md5(of: b))
    }
}
