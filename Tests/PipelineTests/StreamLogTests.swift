import Foundation
import XCTest
@testable import Pipeline

final class StreamLogTests: XCTestCase {
    private func shard0Segments(_ dir: String) -> [String] {
        let d = dir + "/stream/clickstream/shardId-000000000000"
        return ((try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []).filter { $0.hasSuffix(".log") }.sorted().map { d + "/" + $0 }
    }

    func testAppendedRecordsReadBackInOrderAcrossSegmentRolls() async throws {
        let dir = makeStreamTempDir(self)
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 1, segmentBytes: 4096))
        defer { s.close() }
        for round in 0..<10 {
            let r = try await s.append(makeBatch(50, prefix: "b\(round)"))
            XCTAssertTrue(r.allSatisfy { $0.succeeded })
        }
        XCTAssertGreaterThanOrEqual(shard0Segments(dir).count, 3, "16 KiB of frames in 4 KiB segments (rolls happen between batches)")
        XCTAssertTrue(shard0Segments(dir)[0].hasSuffix("/00000000000000000000.log"))
        var got: [String] = []
        var off: UInt64 = 0
        while true {
            let b = try s.read(shardId: "shardId-000000000000", from: off, maxRecords: 37)
            if b.records.isEmpty { break }
            XCTAssertEqual(b.records.first?.offset, off)
            got += b.strings
            off = b.nextOffset
        }
        XCTAssertEqual(got.count, 500)
        XCTAssertEqual(got[0], "b0-0")
        XCTAssertEqual(got[499], "b9-49")
        // Seek into the middle (sparse index) and a byte limit that still returns one record.
        let mid = try s.read(shardId: "shardId-000000000000", from: 321, maxRecords: 3)
        XCTAssertEqual(mid.strings, ["b6-21", "b6-22", "b6-23"])
        let one = try s.read(shardId: "shardId-000000000000", from: 10, maxRecords: 100, maxBytes: 1)
        XCTAssertEqual(one.count, 1)
        let few = try s.read(shardId: "shardId-000000000000", from: 10, maxRecords: 100, maxBytes: 30)
        XCTAssertEqual(few.count, 3, "each record is 4 bytes of data + 2–3 of key = about 8 bytes")
    }

    func testSealedSegmentsHoldNoDescriptorAndStillReadBackAfterReopen() async throws {
        // A day of 64 MB segments is thousands of files: only each shard's active segment may
        // keep a descriptor, or a long-running node runs out of them (the soak saw fds climb).
        func openSegmentFDs(_ dir: String) -> Int {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            return fds.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0))?
                .hasPrefix(dir) == true }.count
        }
        let dir = makeStreamTempDir(self)
        do {
            let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 1, segmentBytes: 4096))
            for round in 0..<40 { _ = try await s.append(makeBatch(50, prefix: "b\(round)")) }
            XCTAssertGreaterThanOrEqual(shard0Segments(dir).count, 12)
            XCTAssertLessThanOrEqual(openSegmentFDs(dir), 2, "the active segment (and at most a directory) stay open")
            let b = try s.read(shardId: "shardId-000000000000", from: 0, maxRecords: 2000)
            XCTAssertEqual(b.count, 2000)
            XCTAssertEqual(b.strings.last, "b39-49")
            XCTAssertLessThanOrEqual(openSegmentFDs(dir), 2, "a read closes what it opened")
            s.close()
        }
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 1, segmentBytes: 4096))
        defer { s.close() }
        XCTAssertLessThanOrEqual(openSegmentFDs(dir), 2, "reopening opens only the active segment")
        let r = try await s.append(makeBatch(5, prefix: "after"))
        XCTAssertTrue(r.allSatisfy { $0.succeeded })
        let all = try s.read(shardId: "shardId-000000000000", from: 0, maxRecords: 3000)
        XCTAssertEqual(all.count, 2005)
        XCTAssertEqual(all.strings.last, "after-4")
    }

    func testEveryIteratorTypeStartsWhereKinesisSays() async throws {
        let dir = makeStreamTempDir(self)
        let clock = ManualClock(nowMs: 1_000_000)
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 1), clock: clock)
        defer { s.close() }
        for i in 0..<5 {
            _ = try await s.append(makeBatch(2, prefix: "t\(i)"))
            clock.advance(byMs: 1000)
        }
        let id = "shardId-000000000000"
        let th = try s.getRecords(try s.shardIterator(shardId: id, type: .trimHorizon), limit: 3)
        XCTAssertEqual(th.batch.strings, ["t0-0", "t0-1", "t1-0"])
        XCTAssertEqual(th.millisBehindLatest, 4000 - 1000, "tip arrived at +4 s, last returned at +1 s")
        let next = try s.getRecords(th.nextIterator!, limit: 100)
        XCTAssertEqual(next.batch.count, 7)
        XCTAssertEqual(next.millisBehindLatest, 0)
        let latest = try s.shardIterator(shardId: id, type: .latest)
        XCTAssertEqual(try s.getRecords(latest).batch.count, 0)
        _ = try await s.append(makeBatch(1, prefix: "new"))
        XCTAssertEqual(try s.getRecords(latest).batch.strings, ["new-0"], "LATEST sees what comes after it")
        let seq = th.batch.sequenceNumber(1)
        XCTAssertEqual(try s.getRecords(try s.shardIterator(shardId: id, type: .atSequenceNumber(seq)), limit: 1).batch.strings, ["t0-1"])
        XCTAssertEqual(try s.getRecords(try s.shardIterator(shardId: id, type: .afterSequenceNumber(seq)), limit: 1).batch.strings, ["t1-0"])
        XCTAssertEqual(try s.getRecords(try s.shardIterator(shardId: id, type: .atTimestamp(1_002_000)), limit: 1).batch.strings, ["t2-0"])
        XCTAssertEqual(try s.getRecords(try s.shardIterator(shardId: id, type: .atTimestamp(1_002_001)), limit: 1).batch.strings, ["t3-0"])
        XCTAssertEqual(try s.getRecords(try s.shardIterator(shardId: id, type: .atTimestamp(0)), limit: 1).batch.strings, ["t0-0"],
                       "older than the trim horizon behaves as TRIM_HORIZON")
        XCTAssertEqual(try s.getRecords(try s.shardIterator(shardId: id, type: .atTimestamp(9_999_999))).batch.count, 0)
        // Wrong shard's sequence number, unknown shard, expiry, token round trip.
        XCTAssertThrowsError(try s.shardIterator(shardId: id, type: .atSequenceNumber(SequenceNumber(shardIndex: 1, offset: 0))))
        let huge = SequenceNumber("1" + String(UInt64.max))!
        XCTAssertThrowsError(try s.shardIterator(shardId: id, type: .afterSequenceNumber(huge))) {
            XCTAssertEqual(($0 as? StreamError)?.code, .invalidArgument)
        }
        XCTAssertThrowsError(try s.shardIterator(shardId: "shardId-000000000009", type: .trimHorizon)) {
            XCTAssertEqual(($0 as? StreamError)?.code, .resourceNotFound)
        }
        let it = try s.shardIterator(shardId: id, type: .trimHorizon)
        XCTAssertEqual(try ShardIterator(token: it.token), it)
        XCTAssertThrowsError(try ShardIterator(token: "garbage"))
        var forged = it; forged.issuedAtMs = .min
        XCTAssertThrowsError(try s.getRecords(try ShardIterator(token: forged.token))) {
            XCTAssertEqual(($0 as? StreamError)?.code, .expiredIterator)
        }
        clock.advance(byMs: 5 * 60 * 1000 + 1)
        XCTAssertThrowsError(try s.getRecords(it)) { XCTAssertEqual(($0 as? StreamError)?.code, .expiredIterator) }
    }

    func testRecoveryTruncatesTornTailAndReportsWhatItDropped() async throws {
        let dir = makeStreamTempDir(self)
        do {
            let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 1))
            _ = try await s.append(makeBatch(10))
            s.close()
        }
        let seg = shard0Segments(dir).last!
        let h = FileHandle(forWritingAtPath: seg)!
        let size = h.seekToEndOfFile()
        // Half a frame: a plausible length field then too few bytes.
        var torn: [UInt8] = [60, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7]
        torn += [UInt8](repeating: 9, count: 20)
        h.write(Data(torn)); h.closeFile()
        let sink = LogSink()
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 1, log: sink))
        defer { s.close() }
        XCTAssertEqual(s.recoveryReports.count, 1)
        XCTAssertEqual(s.recoveryReports.first?.droppedBytes, Int64(torn.count))
        XCTAssertEqual(s.recoveryReports.first?.droppedRecords, 1)
        XCTAssertEqual(s.recoveryReports.first?.keptRecords, 10)
        XCTAssertTrue(sink.all.contains { $0.contains("truncated") })
        let attrs = try FileManager.default.attributesOfItem(atPath: seg)
        XCTAssertEqual((attrs[.size] as? NSNumber)?.uint64Value, size, "file cut back to the last whole frame")
        XCTAssertEqual(try s.read(shardId: "shardId-000000000000", from: 0).count, 10)
        let r = try await s.append(makeBatch(1, prefix: "after"))
        XCTAssertEqual(r[0].offset, 10, "appends continue right after the kept records")
    }

    func testRecoveryStopsAtACorruptedFrameAndDropsEverythingAfterIt() async throws {
        let dir = makeStreamTempDir(self)
        do {
            let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 1))
            _ = try await s.append(makeBatch(10))
            s.close()
        }
        let seg = shard0Segments(dir).last!
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: seg)))
        // Frames are 26 + key("kN" = 2) + data("r-N" = 3) = 31 bytes: flip a data byte of record 4.
        let frame = 31
        bytes[4 * frame + 29] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: seg))
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 1))
        defer { s.close() }
        XCTAssertEqual(s.recoveryReports.count, 1)
        XCTAssertTrue(s.recoveryReports[0].reason.contains("CRC"), s.recoveryReports[0].reason)
        XCTAssertEqual(s.recoveryReports[0].keptRecords, 4)
        XCTAssertEqual(s.recoveryReports[0].droppedRecords, 6)
        XCTAssertEqual(s.recoveryReports[0].droppedBytes, Int64(6 * frame))
        XCTAssertEqual(try s.read(shardId: "shardId-000000000000", from: 0).strings, ["r-0", "r-1", "r-2", "r-3"])
    }

    func testManyConcurrentWritersAllAckedRecordsReadableAndOrdered() async throws {
        let dir = makeStreamTempDir(self)
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 4, segmentBytes: 64 << 10))
        defer { s.close() }
        let writers = 16, batches = 10, perBatch = 50
        let acked: [[AppendResult]] = try await withThrowingTaskGroup(of: [AppendResult].self) { g in
            for w in 0..<writers {
                g.addTask {
                    var all: [AppendResult] = []
                    for b in 0..<batches {
                        all += try await s.append(makeBatch(perBatch, prefix: "w\(w)b\(b)", key: { "w\(w)-\($0 % 7)" }))
                    }
                    return all
                }
            }
            var out: [[AppendResult]] = []
            for try await r in g { out.append(r) }
            return out
        }
        let flat = acked.flatMap { $0 }
        XCTAssertEqual(flat.count, writers * batches * perBatch)
        XCTAssertTrue(flat.allSatisfy { $0.succeeded })
        // Every (shard, offset) is unique and each shard's offsets are exactly 0..<n.
        var perShard: [Int32: [UInt64]] = [:]
        for r in flat { perShard[r.shardIndex, default: []].append(r.offset) }
        var total = 0
        for (shard, offs) in perShard {
            XCTAssertEqual(offs.sorted(), Array(0..<UInt64(offs.count)), "shard \(shard)")
            let b = try s.read(shardId: ShardID.make(Int(shard)), from: 0, maxRecords: 10_000)
            XCTAssertEqual(b.count, offs.count, "every acked record is readable")
            let seqs = (0..<b.count).map { b.sequenceNumber($0) }
            XCTAssertEqual(seqs, seqs.sorted())
            XCTAssertEqual(Set(seqs.map { $0.description }).count, seqs.count, "strictly increasing")
            total += b.count
        }
        XCTAssertEqual(total, flat.count)
    }

    func testEachFsyncPolicyAcksDurableRecordsAndReopens() async throws {
        for policy in [FsyncPolicy.always, .never, .group(windowMs: 2)] {
            let dir = makeStreamTempDir(self)
            do {
                let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 2, fsync: policy))
                let r = try await s.append(makeBatch(20))
                XCTAssertTrue(r.allSatisfy { $0.succeeded }, "\(policy)")
                let blocking = try s.appendBlocking(makeBatch(5, prefix: "blk"))
                XCTAssertTrue(blocking.allSatisfy { $0.succeeded })
                s.close()
                do { _ = try await s.append(makeBatch(1)); XCTFail("append after close must fail") } catch {
                    XCTAssertEqual((error as? StreamError)?.code, .closed)
                }
            }
            let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 2, fsync: policy))
            defer { s.close() }
            let n = try s.read(shardId: "shardId-000000000000", from: 0).count + (try s.read(shardId: "shardId-000000000001", from: 0).count)
            XCTAssertEqual(n, 25, "\(policy)")
            XCTAssertTrue(s.recoveryReports.isEmpty)
        }
    }
}

final class StreamRecoveryAcrossSegmentsTests: XCTestCase {
    func testACorruptFrameInAnOlderSegmentDropsTheLaterSegmentsAndSaysSo() async throws {
        let dir = makeStreamTempDir(self)
        do {
            let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 1, segmentBytes: 4096))
            for _ in 0..<4 { _ = try await s.append(makeBatch(140)) } // one segment per batch
            s.close()
        }
        let d = dir + "/stream/clickstream/shardId-000000000000"
        let segs = try FileManager.default.contentsOfDirectory(atPath: d).filter { $0.hasSuffix(".log") }.sorted()
        XCTAssertEqual(segs.count, 4)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: d + "/" + segs[1])))
        bytes[29] ^= 0x01 // inside the first frame's payload of segment 1 (frames are ~31 bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: d + "/" + segs[1]))
        XCTAssertFalse(StreamChecker.check(dataDirectory: dir).ok, "check sees it before any repair")
        // With its index cache the sealed segment is trusted at open; the bad frame surfaces as
        // a .corrupt read error (never as wrong data) and later segments stay readable.
        XCTAssertTrue(FileManager.default.fileExists(atPath: d + "/" + segs[1].replacingOccurrences(of: ".log", with: ".idx")))
        do {
            let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 1, segmentBytes: 4096))
            XCTAssertTrue(s.recoveryReports.isEmpty)
            XCTAssertThrowsError(try s.read(shardId: "shardId-000000000000", from: 140, maxRecords: 5)) {
                XCTAssertEqual(($0 as? StreamError)?.code, .corrupt)
            }
            XCTAssertEqual(try s.read(shardId: "shardId-000000000000", from: 280, maxRecords: 1).strings, ["r-0"])
            s.close()
        }
        // Without the cache, open scans it and truncates there, dropping what follows.
        for f in try FileManager.default.contentsOfDirectory(atPath: d) where f.hasSuffix(".idx") {
            try FileManager.default.removeItem(atPath: d + "/" + f)
        }
        let sink = LogSink()
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 1, segmentBytes: 4096, log: sink))
        defer { s.close() }
        XCTAssertEqual(s.recoveryReports.count, 3, "the corrupted segment plus the two after it")
        XCTAssertEqual(s.recoveryReports[0].keptRecords, 0)
        XCTAssertEqual(s.recoveryReports.reduce(0) { $0 + $1.droppedRecords }, 140 * 3)
        XCTAssertEqual(try s.bounds(shardId: "shardId-000000000000").end, 140)
        let r = try await s.append(makeBatch(1, prefix: "next"))
        XCTAssertEqual(r[0].offset, 140)
        XCTAssertTrue(StreamChecker.check(dataDirectory: dir).ok)
    }

    func testReadersRunningBesideWritersSeeOnlyDurableRecordsInOrder() async throws {
        let dir = makeStreamTempDir(self)
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 2, segmentBytes: 16 << 10))
        defer { s.close() }
        let c = try s.consumer("tail")
        async let written: Int = withThrowingTaskGroup(of: Int.self) { g in
            for w in 0..<4 {
                g.addTask {
                    var n = 0
                    for b in 0..<25 { n += try await s.append(makeBatch(40, prefix: "w\(w)b\(b)")).filter { $0.succeeded }.count }
                    return n
                }
            }
            var t = 0
            for try await x in g { t += x }
            return t
        }
        var next: [Int: UInt64] = [:]
        var seen = 0
        var rounds = 0
        while seen < 4000 {
            rounds += 1
            if rounds > 2_000_000 { XCTFail("reader never saw all 4000 records (saw \(seen))"); break }
            for b in try c.poll(maxRecordsPerShard: 97) {
                for r in b.records {
                    XCTAssertEqual(r.offset, next[b.shardIndex, default: 0], "no gap, no repeat")
                    next[b.shardIndex] = r.offset + 1
                }
                seen += b.count
            }
            await Task.yield()
        }
        let total = try await written
        XCTAssertEqual(total, 4000)
        XCTAssertEqual(seen, 4000)
    }
}

final class StreamIndexCacheTests: XCTestCase {
    func testReopenUsesIndexCachesAndRejectsAStaleOne() async throws {
        let dir = makeStreamTempDir(self)
        let clock = ManualClock(nowMs: 3_000_000)
        do {
            let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 1, segmentBytes: 4096), clock: clock)
            for _ in 0..<5 { _ = try await s.append(makeBatch(140)); clock.advance(byMs: 1000) }
            s.close()
        }
        let d = dir + "/stream/clickstream/shardId-000000000000"
        let idx = try FileManager.default.contentsOfDirectory(atPath: d).filter { $0.hasSuffix(".idx") }.sorted()
        XCTAssertEqual(idx.count, 4, "one per sealed segment")
        // A stale cache (its segment grew) must be ignored, not trusted.
        let h = FileHandle(forWritingAtPath: d + "/" + idx[0])!
        h.seekToEndOfFile(); h.write(Data([1, 2, 3])); h.closeFile()
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 1, segmentBytes: 4096), clock: clock)
        defer { s.close() }
        XCTAssertTrue(s.recoveryReports.isEmpty)
        XCTAssertEqual(try s.bounds(shardId: "shardId-000000000000").end, 700)
        // Seeks by offset and by time still land right with cached indexes.
        XCTAssertEqual(try s.read(shardId: "shardId-000000000000", from: 433, maxRecords: 1).strings, ["r-13"])
        XCTAssertEqual(try s.offset(shardId: "shardId-000000000000", atTimestamp: 3_002_000), 280)
        XCTAssertTrue(StreamChecker.check(dataDirectory: dir).ok, StreamChecker.check(dataDirectory: dir).problems.joined())
    }
}

final class StreamFsyncFailureTests: XCTestCase {
    func testAFailedFsyncIsNeverAcknowledgedAndStopsFurtherWrites() async throws {
        let dir = makeStreamTempDir(self)
        let sink = LogSink()
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 2, log: sink))
        defer { s.close() }
        let ok = try await s.append(makeBatch(10))
        XCTAssertTrue(ok.allSatisfy { $0.succeeded })
        s.setFsyncFaultInjector { path in throw StreamError(.io, "injected EIO", path: path) }
        do {
            _ = try await s.append(makeBatch(10, prefix: "lost"))
            XCTFail("an append whose fsync failed must not be acknowledged")
        } catch {
            XCTAssertEqual((error as? StreamError)?.code, .io)
        }
        do { _ = try await s.append(makeBatch(1)); XCTFail("the stream must refuse writes after a failed fsync") } catch {
            XCTAssertEqual((error as? StreamError)?.code, .io)
        }
        XCTAssertTrue(sink.all.contains { $0.contains("fsync failed") })
        // Readers still see exactly the records that were durable before the failure.
        let n = try s.read(shardId: "shardId-000000000000", from: 0).count + (try s.read(shardId: "shardId-000000000001", from: 0).count)
        XCTAssertEqual(n, 10)
    }
}
