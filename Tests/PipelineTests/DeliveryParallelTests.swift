import Foundation
import XCTest
@testable import Pipeline

/// The parallel delivery path: pieces parsed on workers while the lock-holding thread buffers
/// them, objects compressed and written in one pass, and the lake's byte-level key checks.
final class DeliveryParallelTests: XCTestCase {
    /// Same stream, one delivery on one thread and one on two workers with a small size hint (so
    /// size-hint flushes run while workers are still parsing later pieces): the same objects
    /// (names and decompressed bytes), every record once, each object in stream order.
    func testTwoWorkersWriteTheSameObjectsAsOneThread() async throws {
        let h = try DeliveryHarness(self, shards: 4)
        var events: [String] = []
        let sites = ["a", "b", "c"]
        let pad = String(repeating: "t", count: 2_000)
        for i in 0..<6_000 {
            // Several pieces per shard (512 records each), with bad records among them; ~2.7 kB
            // lines, so each site crosses the 1 MiB size hint about five times.
            events.append(i % 997 == 5 ? #"{"site_id":"a","type":"x""#
                          : simpleEvent(site: sites[i % sites.count], i: i, extra: #","title":"\#(pad)""#))
        }
        try await h.append(events)
        let bad = events.filter { !$0.hasSuffix("}") }.count
        func run(_ name: String, workers: Int) throws -> [String: [UInt8]] {
            let d = try h.delivery {
                $0.name = name; $0.prefix = "out-" + name; $0.workers = workers
                $0.sizeHintBytes = 1 << 20; $0.intervalMs = 900_000
            }
            try d.flush()
            XCTAssertEqual(d.recordsDelivered, Int64(events.count - bad), name)
            var out: [String: [UInt8]] = [:]
            for key in try h.lake.list(prefix: "out-" + name) {
                // The name without prefix and delivery name: partition path + shard + sequence range.
                let rel = key.dropFirst(("out-" + name + "/").count).replacingOccurrences(of: name + "-shardId", with: "shardId")
                out[rel] = try Compressor.decompress(try h.lake.read(key), key: key)
            }
            return out
        }
        let one = try run("one", workers: 1)
        let two = try run("two", workers: 2)
        XCTAssertGreaterThan(one.count, sites.count * 4, "size-hint flushes split partitions into several objects")
        XCTAssertEqual(Set(one.keys), Set(two.keys))
        for (k, v) in one { XCTAssertEqual(two[k], v, k) }
        var seen = 0
        for (k, bytes) in two {
            let seqs = bytes.split(separator: 0x0A).map { line -> String in
                let obj = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any]
                return obj?["seq"] as? String ?? ""
            }
            XCTAssertEqual(seqs, seqs.sorted(), "records of \(k) in stream order")
            XCTAssertEqual(Set(seqs).count, seqs.count, k)
            seen += seqs.count
        }
        XCTAssertEqual(seen, events.count - bad)
        let errs = try h.lake.list(prefix: "errors/format-conversion-failed")
        XCTAssertFalse(errs.isEmpty)
    }

    /// Lanes add one to the previous record's sequence number in place; it must equal the one
    /// written from scratch, carries included.
    func testTheNextSequenceNumberInPlaceEqualsTheOneWrittenFromScratch() {
        var rng = SplitMix64(seed: 7)
        let offsets: [UInt64] = [0, 8, 9, 99, 1_999, 9_999_999, 18_446_744_073_709_551_614]
            + (0..<200).map { _ in rng.next() >> UInt64(rng.next() % 60) }
        for shard in [0, 8, 41] {
            for o in offsets where o < .max {
                var inPlace: [UInt8] = [], fresh: [UInt8] = []
                DeliveryStream.sequenceBytes(shard: shard, offset: o, into: &inPlace)
                DeliveryStream.nextSequenceBytes(&inPlace)
                DeliveryStream.sequenceBytes(shard: shard, offset: o + 1, into: &fresh)
                XCTAssertEqual(String(decoding: inPlace, as: UTF8.self), String(decoding: fresh, as: UTF8.self), "shard \(shard) offset \(o)")
                XCTAssertEqual(String(decoding: fresh, as: UTF8.self), SequenceNumber(shardIndex: shard, offset: o + 1).description)
            }
        }
    }

    func testPutAllFromAProducerWritesEveryObjectOnceAndLeavesNoTempFiles() throws {
        let dir = makeStreamTempDir(self)
        let lake = try LocalLake(root: dir + "/lake")
        let keys = (0..<40).map { "p/site=s\($0 % 5)/dt=2026-11-26/hr=09/o\($0).ndjson" }
        let calls = NSLock()
        var produced = [Int](repeating: 0, count: keys.count)
        try lake.putAll(keys: keys, workers: 2) { i in
            calls.lock(); produced[i] += 1; calls.unlock()
            return Array("object \(i)".utf8)
        }
        XCTAssertEqual(produced, [Int](repeating: 1, count: keys.count))
        for (i, k) in keys.enumerated() { XCTAssertEqual(String(decoding: try lake.read(k), as: UTF8.self), "object \(i)") }
        XCTAssertEqual(try lake.list(prefix: "p").count, keys.count)
        let tmp = FileManager.default.enumerator(atPath: dir + "/lake")?.compactMap { $0 as? String }.filter { $0.contains(".tmp-") } ?? []
        XCTAssertEqual(tmp, [])
    }

    func testPutAllFromAFailingProducerRenamesNothing() throws {
        let dir = makeStreamTempDir(self)
        let lake = try LocalLake(root: dir + "/lake")
        let keys = (0..<20).map { "q/site=s\($0 % 3)/o\($0).ndjson" }
        struct Boom: Error {}
        XCTAssertThrowsError(try lake.putAll(keys: keys, workers: 2) { i in
            if i == 13 { throw Boom() }
            return [0x31]
        }) { XCTAssertTrue($0 is Boom, "\($0)") }
        XCTAssertEqual(try lake.list(prefix: "q"), [], "no object appears when one of the batch failed")
        let tmp = FileManager.default.enumerator(atPath: dir + "/lake")?.compactMap { $0 as? String }.filter { $0.contains(".tmp-") } ?? []
        XCTAssertEqual(tmp, [])
    }

    /// A batch creates its missing directories while its objects are produced: objects in new,
    /// existing and partly existing directories all land, and a second batch reuses them.
    func testPutAllCreatesDirectoriesWhileProducing() throws {
        let dir = makeStreamTempDir(self)
        let lake = try LocalLake(root: dir + "/lake")
        try lake.put("r/site=old/dt=2026-11-26/hr=08/first.ndjson", [0x30])
        var keys = (0..<30).map { "r/site=s\($0 % 7)/dt=2026-11-2\($0 % 3)/hr=0\($0 % 4)/o\($0).ndjson" }
        keys += ["r/site=old/dt=2026-11-26/hr=08/second.ndjson", "r/site=old/dt=2026-11-26/hr=09/third.ndjson", "top.ndjson"]
        try lake.putAll(keys: keys, workers: 3) { Array("object \($0)".utf8) }
        for (i, k) in keys.enumerated() { XCTAssertEqual(String(decoding: try lake.read(k), as: UTF8.self), "object \(i)", k) }
        XCTAssertEqual(try lake.list(prefix: "r").count, keys.count)   // "top.ndjson" is outside r/, "first" inside
        let again = keys.map { $0.replacingOccurrences(of: ".ndjson", with: "-b.ndjson") }
        try lake.putAll(keys: again, workers: 2) { Array("again \($0)".utf8) }
        for (i, k) in again.enumerated() { XCTAssertEqual(String(decoding: try lake.read(k), as: UTF8.self), "again \(i)", k) }
        let tmp = FileManager.default.enumerator(atPath: dir + "/lake")?.compactMap { $0 as? String }.filter { $0.contains(".tmp-") } ?? []
        XCTAssertEqual(tmp, [])
    }

    /// Workers claim a directory's objects together, in order, each object exactly once.
    func testDirectoryRunsGroupConsecutiveObjectsOfADirectory() {
        let paths = ["/l/a/x/1", "/l/a/x/2", "/l/a/y/3", "/l/b/4", "/l/b/5", "/l/b/6", "/l/a/x/7", "top"]
        let runs = DirectoryRuns(paths)
        var got: [Range<Int>] = []
        while let r = runs.claim() { got.append(r) }
        XCTAssertEqual(got, [0..<2, 2..<3, 3..<6, 6..<7, 7..<8])
        XCTAssertNil(runs.claim())
        let cancelled = DirectoryRuns(paths)
        XCTAssertEqual(cancelled.claim(), 0..<2)
        cancelled.cancel()
        XCTAssertNil(cancelled.claim())
        XCTAssertNil(DirectoryRuns([]).claim())
    }

    /// A directory that cannot be created fails the batch (no hang of the producers waiting for
    /// it, no object, no temp file), whichever object needed it.
    func testPutAllFailsCleanlyWhenADirectoryCannotBeCreated() throws {
        let dir = makeStreamTempDir(self)
        let lake = try LocalLake(root: dir + "/lake")
        try lake.put("s/blocker", [0x31])   // a file where a directory should go
        for bad in [0, 5, 11] {
            var keys = (0..<12).map { "s/site=s\($0)/o\($0).ndjson" }
            keys[bad] = "s/blocker/site=x/o\(bad).ndjson"
            XCTAssertThrowsError(try lake.putAll(keys: keys, workers: 2) { Array("object \($0)".utf8) }) { e in
                XCTAssertEqual((e as? LakeError)?.code, .io, "\(e)")
            }
            let tmp = FileManager.default.enumerator(atPath: dir + "/lake")?.compactMap { $0 as? String }.filter { $0.contains(".tmp-") } ?? []
            XCTAssertEqual(tmp, [], "bad index \(bad)")
            XCTAssertEqual(try lake.list(prefix: "s"), ["s/blocker"], "bad index \(bad)")
        }
    }

    /// ASCII keys take a byte-level path; it must answer exactly as the general rules do.
    func testKeyChecksOnBytesGiveTheSameAnswers() {
        let cases: [(String, String?)] = [
            ("events/site=a/dt=2026-11-26/hr=09/x.ndjson.zst", nil),
            ("a", nil), ("a.b/c..d/e.", nil),
            ("", "empty key"),
            ("/etc/passwd", "absolute key"),
            ("a//b", "empty path component"), ("a/", "empty path component"),
            ("./a", "'.' path component"), ("a/..", "'..' path component"), ("a/../b", "'..' path component"),
            ("a/.hidden", "hidden path component '.hidden'"), ("a/.../b", "hidden path component '...'"),
            ("a\\b", "control character or backslash in key"), ("a\u{1}b", "control character or backslash in key"),
            (String(repeating: "x", count: 1025), "key longer than 1024 bytes"),
        ]
        for (key, want) in cases { XCTAssertEqual(LakeKey.problem(key), want, key) }
        // Non-ASCII keys keep the general path and the same rules.
        XCTAssertNil(LakeKey.problem("site=café/x"))
        XCTAssertEqual(LakeKey.problem("café/../x"), "'..' path component")
        XCTAssertEqual(LakeKey.problem("café/.x"), "hidden path component '.x'")
        XCTAssertEqual(LocalLake.parent("/r/a/b"), "/r/a")
        XCTAssertEqual(LocalLake.parent("/r"), "/")
        XCTAssertEqual(LocalLake.parent("r"), "")
        XCTAssertEqual(LocalLake.lastComponent("/r/café/b.zst"), "b.zst")
    }

    /// A lane finds a record's partition by the site's bytes: the same bytes give the same entry
    /// (and its chunk) through the table's growth, other bytes another entry, each with its name.
    func testTheLaneSiteTableFindsEachSiteByItsBytesThroughGrowth() {
        var t = SiteTable()
        let names = [""] + (0..<1_000).map { "site-\($0)" } + ["site-1\u{0}", "Site-1", "ünïcødé-site"]
        var first: [Int] = []
        for n in names { first.append(Array(n.utf8).withUnsafeBytes { t.entry($0) }) }
        XCTAssertEqual(Set(first).count, names.count, "one entry per distinct site")
        let chunk = ShardChunk(firstOffset: 0, lastOffset: 0, oldestArrivalMs: 0)
        t.setChunk(first[7], chunk)
        for (k, n) in names.enumerated() {
            let again = Array(n.utf8).withUnsafeBytes { t.entry($0) }
            XCTAssertEqual(again, first[k], n)
            XCTAssertEqual(t.site(again), n)
            XCTAssertTrue(k == 7 ? t.chunk(again) === chunk : t.chunk(again) == nil, n)
        }
        t.setChunk(first[7], nil)
        XCTAssertNil(t.chunk(first[7]))
    }


    /// A chunk keeps its records' arrival times as runs (a collector request's events share one),
    /// with every record counted once, in order.
    func testAChunkKeepsArrivalTimesAsRunsWithEveryRecordCounted() {
        let c = ShardChunk(firstOffset: 10, lastOffset: 10, oldestArrivalMs: 500)
        let arrivals: [Int64] = [500, 500, 500, 520, 520, 480, 480, 480, 480, 520]
        for (k, a) in arrivals.enumerated() { c.add(offset: UInt64(10 + k), arrivalMs: a) }
        XCTAssertEqual(c.arrivals.map(\.ms), [500, 520, 480, 520])
        XCTAssertEqual(c.arrivals.map(\.count), [3, 2, 4, 1])
        XCTAssertEqual(c.records, arrivals.count)
        XCTAssertEqual(c.lastOffset, 19)
        XCTAssertEqual(c.oldestArrivalMs, 480)
    }

}
