import Foundation
import XCTest
@testable import Pipeline

final class LakeTests: XCTestCase {
    func testKeysThatWouldLeaveTheLakeAreRefused() throws {
        let dir = makeStreamTempDir(self)
        let lake = try LocalLake(root: dir + "/lake")
        for bad in ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/..", "", "a/.hidden", "a\\..\\b", "a\u{0}b"] {
            XCTAssertThrowsError(try lake.put(bad, [1]), bad) { e in XCTAssertEqual((e as? LakeError)?.code, .invalidKey, bad) }
        }
        // A symlink inside the lake that points outside it.
        try FileManager.default.createDirectory(atPath: dir + "/outside", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/lake/link", withDestinationPath: dir + "/outside")
        XCTAssertThrowsError(try lake.put("link/x", [1]))
        XCTAssertThrowsError(try lake.read("link/x"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/outside/x"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/x"))
    }

    func testPutIsAtomicListReadDelete() throws {
        let dir = makeStreamTempDir(self)
        let lake = try LocalLake(root: dir + "/lake")
        try lake.put("p/site=a/x.ndjson", Array("one".utf8))
        try lake.put("p/site=a/x.ndjson", Array("two".utf8))
        try lake.put("p/site=b/y.ndjson", Array("3".utf8))
        XCTAssertEqual(try lake.list(prefix: "p"), ["p/site=a/x.ndjson", "p/site=b/y.ndjson"])
        XCTAssertEqual(try lake.list(prefix: "nothing"), [])
        XCTAssertEqual(String(decoding: try lake.read("p/site=a/x.ndjson"), as: UTF8.self), "two")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/lake/p/site=a"), ["x.ndjson"], "no temp files left")
        try lake.delete("p/site=a/x.ndjson")
        XCTAssertFalse(lake.exists("p/site=a/x.ndjson"))
    }

    /// A batch's renames run on two threads, a directory at a time. When one fails, the error goes
    /// up, no temp file is left anywhere, and every object in place is whole.
    func testAFailedRenameInABatchLeavesNoTempFilesAndOnlyWholeObjects() throws {
        defer { FileIO.setFaultRule(nil) }
        let dir = makeStreamTempDir(self)
        let lake = try LocalLake(root: dir + "/lake")
        let objects = (0..<24).map { i in (key: "p/site=s\(i % 6)/o\(i).ndjson", bytes: Array("object \(i)\n".utf8)) }
        FileIO.setFaultRule { op, path in op == .rename && path.hasSuffix("/o15.ndjson") ? EIO : nil }
        XCTAssertThrowsError(try lake.putAll(objects)) { e in
            XCTAssertEqual((e as? LakeError)?.key, "p/site=s3/o15.ndjson")
        }
        FileIO.setFaultRule(nil)
        var files: [String] = []
        let e = FileManager.default.enumerator(atPath: dir + "/lake")
        while let f = e?.nextObject() as? String { if f.hasSuffix(".ndjson") || f.contains(".tmp") { files.append(f) } }
        XCTAssertTrue(files.allSatisfy { !$0.contains(".tmp") }, "temp files left: \(files)")
        XCTAssertFalse(lake.exists("p/site=s3/o15.ndjson"))
        for o in objects where lake.exists(o.key) { XCTAssertEqual(try lake.read(o.key), o.bytes, o.key) }
        // The same batch succeeds once the fault is gone.
        try lake.putAll(objects)
        for o in objects { XCTAssertEqual(try lake.read(o.key), o.bytes, o.key) }
    }

    /// A write-back error that syncfs reports to one batch fails every batch written while it
    /// could have happened: syncfs tells only one caller, and the data lost may be the other's.
    func testAWriteBackErrorReportedToAnotherBatchFailsTheBatchWrittenMeanwhile() throws {
        defer { FileIO.setFaultRule(nil) }
        let dir = makeStreamTempDir(self)
        let lake = try LocalLake(root: dir + "/lake")
        let n = LocalLake.filesystemSyncThreshold
        let other = (0..<n).map { (key: "b/o\($0).ndjson", bytes: Array("b\($0)".utf8)) }
        FileIO.setFaultRule { op, path in op == .sync && path.contains("/lake/b/") ? EIO : nil }
        var otherFailed = false
        XCTAssertThrowsError(try lake.putAll(keys: (0..<n).map { "a/o\($0).ndjson" }, workers: 1) { i in
            if i == 0 { do { try lake.putAll(other) } catch { otherFailed = true } }
            return Array("a\(i)".utf8)
        }) { e in XCTAssertTrue("\(e)".contains("reported while this batch was written"), "\(e)") }
        XCTAssertTrue(otherFailed, "the batch whose sync got the error fails too")
        // A batch that starts after the error is not failed by it.
        try lake.putAll(keys: (0..<n).map { "a/o\($0).ndjson" }, workers: 1) { Array("a\($0)".utf8) }
        XCTAssertEqual(try lake.read("a/o3.ndjson"), Array("a3".utf8))
    }

    /// One level of names, as S3's list with delimiter gives: the local lake reads one directory;
    /// the protocol's default derives the same from the recursive listing. Temp files are not
    /// objects, a missing prefix lists nothing, and a prefix cannot leave the lake.
    func testChildrenListOneLevelAndAgreeWithTheRecursiveListing() throws {
        let dir = makeStreamTempDir(self)
        let lake = try LocalLake(root: dir + "/lake")
        for k in ["p/site=a/dt=2026-11-26/hr=09/o1.ndjson", "p/site=a/dt=2026-11-26/hr=10/o2.ndjson",
                  "p/site=b/dt=2026-11-25/hr=23/o3.ndjson", "p/loose.json"] { try lake.put(k, [1]) }
        FileManager.default.createFile(atPath: dir + "/lake/p/.loose.json.tmp-1-1", contents: Data([1]))
        struct ViaList: Lake {   // a store with only the recursive listing
            let inner: LocalLake
            func put(_ key: String, _ bytes: [UInt8]) throws { try inner.put(key, bytes) }
            func list(prefix: String) throws -> [String] { try inner.list(prefix: prefix) }
            func read(_ key: String) throws -> [UInt8] { try inner.read(key) }
            func delete(_ key: String) throws { try inner.delete(key) }
            func exists(_ key: String) -> Bool { inner.exists(key) }
        }
        let other = ViaList(inner: lake)
        for (prefix, want) in [("p", ["loose.json", "site=a", "site=b"]), ("p/", ["loose.json", "site=a", "site=b"]),
                               ("p/site=a", ["dt=2026-11-26"]), ("p/site=a/dt=2026-11-26", ["hr=09", "hr=10"]),
                               ("nothing", [])] {
            XCTAssertEqual(try lake.children(of: prefix), want, prefix)
            XCTAssertEqual(try other.children(of: prefix), want, prefix)
        }
        XCTAssertThrowsError(try lake.children(of: "p/../.."))
    }

    func testObjectNamesRoundTrip() {
        let n = LakeLayout.parseObjectName("events/site=a/dt=2025-11-26/hr=09/my-delivery-shardId-000000000003-400000000000000000007-400000000000000000042.ndjson.zst")
        XCTAssertEqual(n?.delivery, "my-delivery")
        XCTAssertEqual(n?.shardIndex, 3)
        XCTAssertEqual(n?.first.offset, 7)
        XCTAssertEqual(n?.last.offset, 42)
        XCTAssertNil(LakeLayout.parseObjectName("events/site=a/readme.txt"))
        XCTAssertEqual(n?.shardCount, 1)
    }

    /// An object of several shards is named by its lowest shard's range and the shard count; one
    /// shard's object keeps the plain name.
    func testObjectNamesOfSeveralShardsCarryTheFirstRangeAndTheCount() {
        func r(_ s: Int, _ f: UInt64, _ l: UInt64) -> SequenceRange {
            SequenceRange(first: SequenceNumber(shardIndex: s, offset: f), last: SequenceNumber(shardIndex: s, offset: l))
        }
        let one = LakeLayout.objectName(delivery: "events", ranges: [r(2, 5, 9)], ext: ".ndjson.zst")
        XCTAssertEqual(one, LakeLayout.objectName(delivery: "events", shardId: ShardID.make(2), first: SequenceNumber(shardIndex: 2, offset: 5),
                                                  last: SequenceNumber(shardIndex: 2, offset: 9), ext: ".ndjson.zst"))
        let many = LakeLayout.objectName(delivery: "my-events", ranges: [r(0, 7, 42), r(1, 3, 4), r(4, 0, 0)], ext: ".ndjson.gz")
        XCTAssertEqual(many, "my-events-shardId-000000000000-100000000000000000007-100000000000000000042-shards-3.ndjson.gz")
        XCTAssertLessThan(many.utf8.count, 255)
        let n = LakeLayout.parseObjectName("events/site=a/dt=2025-11-26/hr=09/" + many)
        XCTAssertEqual(n, LakeLayout.ObjectName(delivery: "my-events", shardIndex: 0, first: SequenceNumber(shardIndex: 0, offset: 7),
                                                last: SequenceNumber(shardIndex: 0, offset: 42), shardCount: 3))
        XCTAssertNil(LakeLayout.parseObjectName("x/events-shardId-000000000000-100000000000000000007-100000000000000000042-shards-1.ndjson"),
                     "one shard is never written with a count")
        XCTAssertNil(LakeLayout.parseObjectName("x/events-shardId-000000000000-100000000000000000007-100000000000000000042-shards-x.ndjson"))
        // The manifest entry carries every range, and reads back.
        let e = ManifestEntry(url: "events/site=a/" + many, contentLength: 10, records: 12, ranges: [r(0, 7, 42), r(1, 3, 4), r(4, 0, 0)])
        let back = Manifest.decode(Manifest.encode([e]))
        XCTAssertEqual(back?.first?.ranges, e.ranges)
        XCTAssertEqual(back?.first?.records, 12)
        XCTAssertEqual(Manifest.decode(Manifest.encode([ManifestEntry(url: "u", contentLength: 1, records: 1)]))?.first?.ranges, [])
    }
}
