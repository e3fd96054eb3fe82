import Foundation
import HTTPTypes
import NIOCore
import XCTest
import CSQLite
@testable import Pipeline

/// Disk pressure and injected I/O failures (ENOSPC, EIO) in each writer of the pipeline: the
/// collector's free-space reserve, the stream's segment writer, the lake's object writer and the
/// warehouse's SQLite. Each time: the write fails with a clear error, nothing acknowledged is
/// lost, nothing partially written becomes visible, and once the fault clears the pipeline goes on.
final class FaultInjectionTests: XCTestCase {
    override func tearDown() {
        FileIO.setFaultRule(nil)
        super.tearDown()
    }

    /// Fails `ops` with `errnoValue` on paths under `dir` containing `matching` while `box.on`.
    final class Switch: @unchecked Sendable {
        private let lock = NSLock()
        private var _on = false
        private(set) var hits = 0
        var on: Bool { get { lock.lock(); defer { lock.unlock() }; return _on } set { lock.lock(); _on = newValue; lock.unlock() } }
        func hit() { lock.lock(); hits += 1; lock.unlock() }
    }

    func inject(_ ops: Set<FileIO.Op>, errno e: Int32, under dir: String, matching: String = "", switch sw: Switch) {
        FileIO.setFaultRule { op, path in
            guard ops.contains(op), path.hasPrefix(dir), matching.isEmpty || path.contains(matching), sw.on else { return nil }
            sw.hit()
            return e
        }
    }

    // MARK: collector: free-space reserve

    final class FreeBytes: @unchecked Sendable {
        private let lock = NSLock()
        private var v: Int64
        init(_ v: Int64) { self.v = v }
        var value: Int64 { get { lock.lock(); defer { lock.unlock() }; return v } set { lock.lock(); v = newValue; lock.unlock() } }
    }

    func testBelowTheDiskReserveTheNodeIsNotReadyWritesGet503AndItRecovers() async throws {
        let f = try CollectorFixture(self) { $0.minFreeBytes = 512 << 20 }
        let free = FreeBytes(4 << 30)
        f.server.disk.setProbe { _ in free.value }
        let auth: HTTPFields = [.authorization: "Bearer \(f.relayKey)"]
        try await f.app.test(.router) { c in
            try await c.execute(uri: "/readyz", method: .get) { r in XCTAssertEqual(r.status, .ok) }
            try await c.execute(uri: "/v1/events", method: .post, headers: auth, body: bytes(f.event(extra: ",\"event_id\":\"before\""))) { r in
                XCTAssertEqual(r.status, .ok)
            }

            free.value = 100 << 20
            f.server.disk.setProbe { _ in free.value }   // forget the cached figure
            try await c.execute(uri: "/readyz", method: .get) { r in
                XCTAssertEqual(r.status, .serviceUnavailable)
                XCTAssertTrue(String(buffer: r.body).contains("below the reserve"), String(buffer: r.body))
            }
            try await c.execute(uri: "/v1/events", method: .post, headers: auth, body: bytes(f.event(extra: ",\"event_id\":\"refused\""))) { r in
                XCTAssertEqual(r.status, .serviceUnavailable)
                XCTAssertEqual(r.headers[.retryAfter], "1")
                XCTAssertEqual(json(r.body)["error"] as? String, "insufficient_storage")
                XCTAssertTrue((json(r.body)["message"] as? String ?? "").contains("MiB"))
            }
            let kin = Array("{\"StreamName\":\"clickstream\",\"Records\":[{\"Data\":\"eA==\",\"PartitionKey\":\"k\"}]}".utf8)
            try await c.execute(uri: "/", method: .post, headers: f.awsHeaders(target: "Kinesis_20131202.PutRecords", body: kin),
                                body: ByteBuffer(bytes: kin)) { r in
                XCTAssertEqual(r.status, .serviceUnavailable)
                XCTAssertEqual(json(r.body)["__type"] as? String, "ServiceUnavailableException")
            }
            // Reads still work below the reserve.
            try await c.execute(uri: "/healthz", method: .get) { r in XCTAssertEqual(r.status, .ok) }

            free.value = 2 << 30
            f.server.disk.setProbe { _ in free.value }
            try await c.execute(uri: "/readyz", method: .get) { r in XCTAssertEqual(r.status, .ok) }
            try await c.execute(uri: "/v1/events", method: .post, headers: auth, body: bytes(f.event(extra: ",\"event_id\":\"after\""))) { r in
                XCTAssertEqual(r.status, .ok)
            }
        }
        let ids = try f.storedRecords().compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["event_id"] as? String }
        XCTAssertEqual(ids.sorted(), ["after", "before"])
    }

    func testDiskGuardProbesAtMostEveryQuarterSecond() {
        let g = DiskGuard(path: "/", reserveBytes: 1)
        let calls = FreeBytes(0)
        g.setProbe { _ in calls.value += 1; return 1 << 40 }
        for _ in 0..<10_000 { XCTAssertTrue(g.aboveReserve) }
        // 10 000 checks in far less than a quarter second on any machine this runs on; allow a
        // second probe in case the loop straddles the boundary on a very slow one.
        XCTAssertLessThanOrEqual(calls.value, 2)
        XCTAssertGreaterThanOrEqual(calls.value, 1)
    }

    // MARK: stream: segment writer

    func read(_ s: ShardedStream) throws -> [String] {
        var out: [String] = []
        for d in s.shardMap().shards.sorted(by: { $0.index < $1.index }) {
            let b = try s.read(shardId: d.shardId, from: 0, maxRecords: 100_000)
            for i in 0..<b.count { out.append(String(decoding: b.data(i), as: UTF8.self)) }
        }
        return out
    }

    func batch(_ prefix: String, _ n: Int) -> RecordBatch {
        var b = RecordBatch()
        for i in 0..<n { b.append(data: "\(prefix)-\(i)-" + String(repeating: "x", count: 200), partitionKey: "k\(i)") }
        return b
    }

    func segmentWriteFault(_ e: Int32) async throws {
        let dir = makeStreamTempDir(self)
        let sw = Switch()
        inject([.write], errno: e, under: dir, matching: ".log", switch: sw)
        var s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 2))
        let a = try await s.append(batch("a", 50))
        XCTAssertTrue(a.allSatisfy(\.succeeded))

        sw.on = true
        let b = try await s.append(batch("b", 50))
        XCTAssertGreaterThan(sw.hits, 0)
        XCTAssertTrue(b.allSatisfy { !$0.succeeded }, "a batch the disk refused is not acknowledged")
        XCTAssertTrue(b.allSatisfy { $0.error == .io })
        let msg = b.first?.errorMessage ?? ""
        XCTAssertTrue(msg.contains(String(cString: strerror(e))), "the error names the cause: \(msg)")
        XCTAssertFalse(try read(s).contains { $0.hasPrefix("b-") }, "nothing of the refused batch is readable")

        sw.on = false
        let c = try await s.append(batch("c", 50))
        XCTAssertTrue(c.allSatisfy(\.succeeded), "the stream takes writes again once the disk does")
        let all = try read(s)
        XCTAssertEqual(all.filter { $0.hasPrefix("a-") }.count, 50)
        XCTAssertEqual(all.filter { $0.hasPrefix("c-") }.count, 50)
        XCTAssertEqual(all.count, 100)

        // After a restart the same, and the files check clean (the half-written bytes were cut).
        s.close()
        s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 2))
        XCTAssertEqual(try read(s).count, 100)
        s.close()
        let r = StreamChecker.check(dataDirectory: dir)
        XCTAssertTrue(r.ok, r.problems.joined(separator: "; "))
    }

    func testSegmentWriteENOSPCFailsTheBatchAndTheStreamGoesOn() async throws { try await segmentWriteFault(ENOSPC) }
    func testSegmentWriteEIOFailsTheBatchAndTheStreamGoesOn() async throws { try await segmentWriteFault(EIO) }

    func testSegmentFsyncEIOAcknowledgesNothingAndARestartRecovers() async throws {
        let dir = makeStreamTempDir(self)
        let sw = Switch()
        inject([.sync], errno: EIO, under: dir, matching: ".log", switch: sw)
        var s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 2))
        _ = try await s.append(batch("a", 20))
        sw.on = true
        do {
            _ = try await s.append(batch("b", 20))
            XCTFail("an append whose fsync failed must not be acknowledged")
        } catch let e as StreamError {
            XCTAssertTrue(e.message.contains("fsync"), e.description)
        }
        XCTAssertNotNil(s.failureIfFailed, "the stream reports that it stopped taking writes")
        sw.on = false
        // After fsync failed the page cache cannot be trusted: no retry in place, a restart recovers.
        s.close()
        s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 2))
        XCTAssertNil(s.failureIfFailed)
        let c = try await s.append(batch("c", 20))
        XCTAssertTrue(c.allSatisfy(\.succeeded))
        let all = try read(s)
        XCTAssertEqual(all.filter { $0.hasPrefix("a-") }.count, 20, "acknowledged records survive")
        XCTAssertEqual(all.filter { $0.hasPrefix("c-") }.count, 20)
        s.close()
    }

    func testCollectorAnswers503WhenTheDiskRefusesTheAppend() async throws {
        let f = try CollectorFixture(self)
        let sw = Switch()
        inject([.write], errno: ENOSPC, under: f.dir, matching: ".log", switch: sw)
        let auth: HTTPFields = [.authorization: "Bearer \(f.relayKey)"]
        try await f.app.test(.router) { c in
            sw.on = true
            try await c.execute(uri: "/v1/events", method: .post, headers: auth, body: bytes(f.event(extra: ",\"event_id\":\"refused\""))) { r in
                XCTAssertEqual(r.status, .serviceUnavailable)
                XCTAssertNotNil(r.headers[.retryAfter])
                XCTAssertEqual(json(r.body)["error"] as? String, "unavailable")
                XCTAssertTrue((json(r.body)["message"] as? String ?? "").contains("No space left"), String(buffer: r.body))
            }
            sw.on = false
            try await c.execute(uri: "/v1/events", method: .post, headers: auth, body: bytes(f.event(extra: ",\"event_id\":\"ok\""))) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(json(r.body)["accepted"] as? Int, 1)
            }
        }
        let stored = try f.storedRecords()
        XCTAssertEqual(stored.count, 1)
        XCTAssertTrue(stored[0].contains("\"event_id\":\"ok\""))
    }

    // MARK: lake: object writer

    func lakeEventIds(_ h: DeliveryHarness) throws -> [String] { try h.lines().map { $0["event_id"] as? String ?? "?" } }

    func lakeFault(_ e: Int32, matching: String) async throws {
        let h = try DeliveryHarness(self)
        let d = try h.delivery()
        try await h.append((0..<40).map { simpleEvent(site: "s\($0 % 3)", i: $0) })
        let sw = Switch()
        inject([.write], errno: e, under: h.dir + "/lake", matching: matching, switch: sw)
        sw.on = true
        XCTAssertThrowsError(try d.flush()) { err in
            XCTAssertTrue("\(err)".contains(String(cString: strerror(e))), "the error names the cause: \(err)")
        }
        XCTAssertGreaterThan(sw.hits, 0)
        // Nothing is loadable: no manifest lists a partial delivery, no temp file is left.
        XCTAssertTrue(try h.lake.list(prefix: "_manifests").isEmpty)
        try await clearsAndDeliversOnce(h, d, sw)
    }

    /// A flush that fails after some of its objects are renamed into place removes the ones it
    /// wrote, but never an object that was there before it (a redelivery under the same name).
    func testAFailedFlushRemovesTheObjectsItWroteButNotOneThatExistedBefore() async throws {
        let events = (0..<50).map { simpleEvent(site: "s\($0 % 5)", i: $0) }
        // The same records into a second lake give the names this flush will use.
        let ref = try DeliveryHarness(self)
        try await ref.append(events)
        try ref.delivery().flush()
        let names = try ref.lake.list(prefix: "events")
        XCTAssertGreaterThanOrEqual(names.count, 5)
        let h = try DeliveryHarness(self)
        let d = try h.delivery()
        try await h.append(events)
        let kept = names[0], failing = names[names.count - 1]
        try h.lake.put(kept, Array("there before\n".utf8))
        let sw = Switch()
        inject([.rename], errno: EIO, under: h.dir + "/lake", matching: failing, switch: sw)
        sw.on = true
        XCTAssertThrowsError(try d.flush())
        XCTAssertGreaterThan(sw.hits, 0)
        sw.on = false
        XCTAssertEqual(try h.lake.list(prefix: "events"), [kept], "only the object that existed before is left")
        XCTAssertFalse(listAll(h.dir + "/lake").contains { $0.contains(".tmp") }, "no temp file left")
        try d.flush()
        XCTAssertEqual(try h.lake.list(prefix: "events"), names, "the retry writes every object")
        XCTAssertEqual(try lakeEventIds(h).count, 50)
    }

    /// After a failed flush of events 0..<40: 20 more arrive while the fault holds, the fault
    /// clears, and the next flush leaves every one of the 60 in the lake and the warehouse once.
    /// `before`: events appended before the fault (40 unless the test added more).
    func clearsAndDeliversOnce(_ h: DeliveryHarness, _ d: DeliveryStream, _ sw: Switch, before: Int = 40) async throws {
        try await h.append((40..<60).map { simpleEvent(site: "s\($0 % 3)", i: $0) })
        sw.on = false
        try d.flush()
        let ids = try lakeEventIds(h)
        let total = before + 20
        XCTAssertEqual(ids.count, total, "every record once in the lake: \(ids.count)")
        XCTAssertEqual(Set(ids).count, total, "no record in two objects")
        XCTAssertFalse(try listAll(h.dir + "/lake").contains { $0.contains(".tmp") }, "no temp file left")
        // A warehouse loads each exactly once.
        let wh = try Warehouse(dataDirectory: h.dir)
        wh.now = { deliveryT0 }   // the fixture's events are from then; retention must not drop them
        let rep = try wh.loadPending()
        XCTAssertTrue(rep.errors.isEmpty, rep.errors.joined(separator: "; "))
        XCTAssertEqual(try wh.query("SELECT count(*), count(DISTINCT event_id) FROM events").rows.first?.map(\.description),
                       ["\(total)", "\(total)"])
    }

    func listAll(_ root: String) -> [String] {
        (FileManager.default.enumerator(atPath: root)?.allObjects as? [String]) ?? []
    }

    /// A batch of objects is made durable by syncfs (once after the writes, once after the
    /// renames). A failed sync must leave neither objects nor temp files; the retry writes all.
    func testBatchPutWithAFailedFilesystemSyncLeavesNothingAndARetryWritesAll() throws {
        let dir = makeStreamTempDir(self)
        let lake = try LocalLake(root: dir + "/lake")
        XCTAssertEqual(lake.batchSync, .filesystem)
        let objects = (0..<(LocalLake.filesystemSyncThreshold + 4)).map { i in
            (key: "events/site=s\(i % 5)/dt=2026-11-26/hr=06/o\(i).ndjson", bytes: Array("object \(i)\n".utf8))
        }
        let sw = Switch(); sw.on = true
        inject([.sync], errno: EIO, under: dir, switch: sw)
        XCTAssertThrowsError(try lake.putAll(objects)) { e in XCTAssertTrue("\(e)".contains("syncfs"), "\(e)") }
        XCTAssertGreaterThan(sw.hits, 0)
        XCTAssertEqual(try lake.list(prefix: "events"), [], "no object without a durable sync")
        let leftovers = FileManager.default.enumerator(atPath: dir + "/lake")?.allObjects.compactMap { $0 as? String }
            .filter { $0.contains(".tmp-") } ?? []
        XCTAssertEqual(leftovers, [], "no temp file left behind")
        sw.on = false
        try lake.putAll(objects)
        XCTAssertEqual(try lake.list(prefix: "events"), objects.map(\.key).sorted())
        for o in objects { XCTAssertEqual(try lake.read(o.key), o.bytes) }
        // The per-file mode writes the same objects (overwriting in place).
        lake.batchSync = .perFile
        try lake.putAll(objects.map { ($0.key, $0.bytes + [0x21]) })
        for o in objects { XCTAssertEqual(try lake.read(o.key), o.bytes + [0x21]) }
    }

    func testLakeObjectWriteENOSPCLeavesNothingAndRedeliversOnce() async throws {
        try await lakeFault(ENOSPC, matching: "/events/")
    }

    func testLakeManifestWriteEIOLeavesNoOrphanAndRedeliversOnce() async throws {
        try await lakeFault(EIO, matching: "/_manifests/")
    }

    /// A chunk that reaches the size hint inside a step is written at the end of that step. When
    /// that write fails (ENOSPC), the step throws, the checkpoint stays behind the chunk's
    /// records, and the next flush writes them once.
    func testAFailedSizeHintWriteKeepsTheChunkAndTheCheckpointBehindIt() async throws {
        let h = try DeliveryHarness(self)
        let d = try h.delivery { $0.intervalMs = 900_000 }   // only the size hint writes during runOnce
        let pad = String(repeating: "p", count: 200_000)
        try await h.append((0..<40).map { simpleEvent(site: "s\($0 % 3)", i: $0, extra: #","title":"\#(pad)""#) })
        let sw = Switch()
        inject([.write], errno: ENOSPC, under: h.dir + "/lake", matching: "/events/", switch: sw)
        sw.on = true
        XCTAssertThrowsError(try d.runOnce()) { err in XCTAssertTrue("\(err)".contains(String(cString: strerror(ENOSPC))), "\(err)") }
        XCTAssertGreaterThan(sw.hits, 0, "a chunk reached the 1 MiB hint and its write was refused")
        XCTAssertTrue(try h.lake.list(prefix: "_manifests").isEmpty)
        let consumer = try h.stream.consumer("lake-events")
        for shard in 0..<h.shards {
            let cp = try consumer.checkpointedOffset(shardId: ShardID.make(shard))
            XCTAssertTrue(cp == nil || cp == 0, "shard \(shard): the checkpoint stays behind the unwritten chunk (\(String(describing: cp)))")
        }
        XCTAssertGreaterThan(d.heldByteCount, 1 << 20, "the refused chunks are still held")
        try await clearsAndDeliversOnce(h, d, sw)
    }

    /// One shard's manifest is written, the next one's write fails: the first shard's objects are
    /// delivered (a manifest lists them), so the retry must not deliver those records again.
    /// (A flush writes a manifest per lowest shard of its objects: sites s0–s2 have records in
    /// both shards, site "one" only in shard 1, so its object is listed by shard 1's manifest.)
    func testPartialManifestFailureRedeliversOnlyTheShardsWithoutAManifest() async throws {
        let h = try DeliveryHarness(self)
        let d = try h.delivery()
        try await h.append((0..<40).map { simpleEvent(site: "s\($0 % 3)", i: $0) })
        let shard1Keys = (0..<400).map { "one\($0)" }.filter { h.stream.shardId(forPartitionKey: $0) == ShardID.make(1) }.prefix(10)
        XCTAssertEqual(shard1Keys.count, 10)
        try await h.append(shard1Keys.indices.map { simpleEvent(site: "one", i: 100 + $0) }, key: { shard1Keys[shard1Keys.startIndex + $0] })
        let sw = Switch()
        // The rename of shard 1's manifest fails after shard 0's was renamed.
        FileIO.setFaultRule { op, path in
            guard op == .rename, path.contains("/_manifests/"), path.contains("shardId-000000000001"), sw.on else { return nil }
            sw.hit()
            return EIO
        }
        sw.on = true
        XCTAssertThrowsError(try d.flush())
        XCTAssertEqual(sw.hits, 1)
        let listed = try h.lake.list(prefix: "_manifests")
        XCTAssertEqual(listed.count, 1, "shard 0's manifest is durable: \(listed)")
        try await clearsAndDeliversOnce(h, d, sw, before: 50)
    }

    // MARK: warehouse: SQLite

    func testSQLiteFullRollsTheLoadBackAndLoadsOnceWhenSpaceReturns() async throws {
        let h = try DeliveryHarness(self)
        let d = try h.delivery()
        try await h.append((0..<300).map { simpleEvent(site: "s\($0 % 3)", i: $0, extra: ",\"title\":\"\(String(repeating: "t", count: 300))\"") })
        try d.flush()
        let wh = try Warehouse(dataDirectory: h.dir)
        wh.now = { deliveryT0 }
        // A database that cannot grow: SQLITE_FULL, as a full disk gives, without needing one.
        let st = try wh.writer.statement("PRAGMA page_count")
        XCTAssertTrue(try st.step())
        let pages = st.int(0)
        try wh.writer.exec("PRAGMA max_page_count = \(pages)")
        let r1 = try wh.loadPending()
        XCTAssertFalse(r1.errors.isEmpty, "the load reports the failure")
        XCTAssertTrue(r1.errors.joined().lowercased().contains("full"), r1.errors.joined(separator: "; "))
        XCTAssertEqual(try wh.query("SELECT count(*) FROM events").rows.first?.first?.description, "0",
                       "nothing of a failed load is visible")
        XCTAssertEqual(try wh.query("SELECT count(*) FROM loaded_objects").rows.first?.first?.description, "0")

        try wh.writer.exec("PRAGMA max_page_count = 1073741823")
        let r2 = try wh.loadPending()
        XCTAssertTrue(r2.errors.isEmpty, r2.errors.joined(separator: "; "))
        XCTAssertEqual(try wh.query("SELECT count(*), count(DISTINCT event_id) FROM events").rows.first?.map(\.description), ["300", "300"])
        let r3 = try wh.loadPending()
        XCTAssertEqual(r3.manifestsCompleted, 0, "nothing loads twice")
        XCTAssertEqual(try wh.query("SELECT count(*) FROM events").rows.first?.first?.description, "300")
    }
}
