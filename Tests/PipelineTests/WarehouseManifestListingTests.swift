import Foundation
import XCTest
@testable import Pipeline

/// Manifests sit under `_manifests/<delivery>/dt=…/hr=…/`, and a listing remembers directories whose
/// manifests are all loaded, so a node's loader and its stats (several calls a second) do not list
/// every manifest ever written for the rest of its life.
final class WarehouseManifestListingTests: XCTestCase {
    private func warehouse(_ dir: String) throws -> Warehouse {
        var c = WarehouseConfig()
        c.rawRetentionDays = 100_000 // fixed-date fixtures must not expire
        c.rollupRetentionDays = 100_000
        return try Warehouse(dataDirectory: dir, config: c)
    }

    /// Sets a directory's mtime into the past, as if its last manifest landed long before the listing.
    private func age(_ path: String) {
        var times = [timespec(tv_sec: 1_700_000_000, tv_nsec: 0), timespec(tv_sec: 1_700_000_000, tv_nsec: 0)]
        XCTAssertEqual(utimensat(AT_FDCWD, path, &times, 0), 0, path)
    }

    private func hourDir(_ dir: String, _ ms: Int64) -> String {
        let (d, h) = LakeFixture.partition(arrivalMs: ms)
        return dir + "/lake/_manifests/events/dt=\(d)/hr=\(h)"
    }

    /// The current hour gains manifests while it is listed several times a second: names found
    /// loaded are remembered (not parsed or looked up again), and new ones still show up.
    func testTheCurrentHourRemembersLoadedManifestsAndStillSeesNewOnes() throws {
        let dir = makeTempDataDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lake = LakeFixture(dataDirectory: dir)
        let t0: Int64 = 1_795_651_200_000 + 600_000
        func add(_ k: Int) throws {
            let o = try lake.writeObject(Array("\(lakeLine(id: "e\(k)", visitor: "v\(k)", ts: t0 + Int64(k)))\n".utf8), records: 1, site: "a",
                                         oldestArrivalMs: t0, firstSeq: k, lastSeq: k)
            try lake.writeManifest([o], timeMs: t0 + Int64(k), firstSeq: k)
        }
        for k in 1...3 { try add(k) }
        let hour = hourDir(dir, t0)
        let w = try warehouse(dir)
        XCTAssertEqual(try w.loadPending().rowsInserted, 3)
        XCTAssertEqual(try w.listManifests().count, 0)
        // The hour's mtime is recent: not settled, and its three loaded manifests are remembered.
        XCTAssertEqual(w.manifestDirs[hour]?.settled, false)
        XCTAssertEqual(w.manifestDirs[hour]?.loaded.count, 3)
        try add(4)
        XCTAssertEqual(try w.listManifests().map { $0.name }.count, 1, "the new manifest is pending, the loaded ones are not")
        XCTAssertEqual(w.stats().objectsPending, 1)
        XCTAssertEqual(try w.loadPending().rowsInserted, 1)
        XCTAssertEqual(try w.listManifests().count, 0)
        XCTAssertEqual(w.manifestDirs[hour]?.loaded.count, 4)
        // Once the hour settles, the set is dropped: a settled directory is only stat'ed.
        age(hour)
        XCTAssertEqual(try w.listManifests().count, 0)
        XCTAssertEqual(w.manifestDirs[hour]?.settled, true)
        XCTAssertEqual(w.manifestDirs[hour]?.loaded.count, 0)
        XCTAssertEqual(Warehouse.namePrefixMs("00000001795651999999-shardId-000000000000-1.json"), 1_795_651_999_999)
        XCTAssertNil(Warehouse.namePrefixMs("x.json"))
    }

    func testASettledHourIsNotReadAgainButANewManifestInItIs() throws {
        let dir = makeTempDataDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lake = LakeFixture(dataDirectory: dir)
        let t0: Int64 = 1_795_651_200_000 + 600_000
        let a = try lake.writeObject(Array("\(lakeLine(id: "a", visitor: "v", ts: t0))\n".utf8), records: 1, site: "a",
                                     oldestArrivalMs: t0, firstSeq: 1, lastSeq: 1)
        try lake.writeManifest([a], timeMs: t0, firstSeq: 1)
        let hour = hourDir(dir, t0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: hour), "manifest not under its dt=/hr= directory")
        let w = try warehouse(dir)

        XCTAssertEqual(try w.loadPending().rowsInserted, 1)
        XCTAssertEqual(try w.listManifests().count, 0)

        // Once the mtime is old, a listing settles the hour, and the next one trusts that.
        age(hour)
        XCTAssertEqual(try w.listManifests().count, 0)
        XCTAssertEqual(w.manifestDirs[hour]?.settled, true)
        // A settled directory is not read: a file that changes nothing in its mtime stays unseen.
        let sneaked = hour + "/00000001795651999999-shardId-000000000000-1.json"
        try Data("{\"entries\":[]}".utf8).write(to: URL(fileURLWithPath: sneaked))
        age(hour)
        XCTAssertEqual(try w.listManifests().count, 0, "a settled hour was listed again")
        try FileManager.default.removeItem(atPath: sneaked)
        age(hour)

        // A new manifest renamed into the settled hour changes its mtime: it is found and loaded.
        let b = try lake.writeObject(Array("\(lakeLine(id: "b", visitor: "v", ts: t0 + 1))\n".utf8), records: 1, site: "a",
                                     oldestArrivalMs: t0 + 1, firstSeq: 2, lastSeq: 2)
        try lake.writeManifest([b], timeMs: t0 + 5, firstSeq: 2)
        XCTAssertEqual(w.stats().objectsPending, 1)
        let r = try w.loadPending()
        XCTAssertEqual(r.errors, [])
        XCTAssertEqual(r.rowsInserted, 1)
        XCTAssertEqual(w.stats().rowsLoaded, 2)
        XCTAssertEqual(w.stats().objectsPending, 0)
    }

    func testADayIsRetiredOnlyWhenSettledAndWellBehindTheNewestManifest() throws {
        let dir = makeTempDataDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lake = LakeFixture(dataDirectory: dir)
        let day0: Int64 = 1_795_651_200_000 // midnight UTC
        let e = try lake.writeObject(Array("\(lakeLine(id: "a", visitor: "v", ts: day0))\n".utf8), records: 1, site: "a",
                                     oldestArrivalMs: day0, firstSeq: 1, lastSeq: 1)
        try lake.writeManifest([e], timeMs: day0 + 3_600_000, firstSeq: 1)
        let w = try warehouse(dir)
        // The reader's clock is two days on; the writers' clock (manifest names) decides here.
        w.now = { day0 + 2 * 86_400_000 }
        XCTAssertEqual(try w.loadPending().rowsInserted, 1)
        let dayDir = (hourDir(dir, day0) as NSString).deletingLastPathComponent
        age(hourDir(dir, day0 + 3_600_000)); age(dayDir)
        _ = try w.listManifests()
        XCTAssertEqual(w.manifestDirs[dayDir]?.deepSettled, true)

        // The newest manifest is only an hour past the day's end: the day is still stat'ed, and a
        // manifest landing in it (a writer with a slow clock) is found.
        let late = try lake.writeObject(Array("\(lakeLine(id: "b", visitor: "v", ts: day0))\n".utf8), records: 1, site: "a",
                                        oldestArrivalMs: day0, firstSeq: 2, lastSeq: 2)
        try lake.writeManifest([late], timeMs: day0 + 5 * 3_600_000, firstSeq: 2)
        let next = try lake.writeObject(Array("\(lakeLine(id: "c", visitor: "v", ts: day0 + 86_400_000))\n".utf8), records: 1,
                                        site: "a", oldestArrivalMs: day0 + 86_400_000, firstSeq: 3, lastSeq: 3)
        try lake.writeManifest([next], timeMs: day0 + 86_400_000 + 3_600_000, firstSeq: 3)
        XCTAssertEqual(try w.loadPending().rowsInserted, 2)

        // Everything settled and the newest manifest 3 h past the day: the day is retired, not even
        // listed (a manifest can only be written into the hour it is written in).
        for h in [day0 + 3_600_000, day0 + 5 * 3_600_000] { age(hourDir(dir, h)) }
        age(dayDir)
        _ = try w.listManifests()
        XCTAssertEqual(w.manifestDirs[dayDir]?.deepSettled, true)
        let far = try lake.writeObject(Array("\(lakeLine(id: "d", visitor: "v", ts: day0 + 86_400_000))\n".utf8), records: 1,
                                       site: "a", oldestArrivalMs: day0 + 86_400_000, firstSeq: 4, lastSeq: 4)
        try lake.writeManifest([far], timeMs: day0 + 86_400_000 + 3 * 3_600_000, firstSeq: 4)
        XCTAssertEqual(try w.loadPending().rowsInserted, 1)
        let impossible = hourDir(dir, day0 + 3_600_000) + "/00000001795654800001-shardId-000000000000-9.json"
        try Data("{\"entries\":[]}".utf8).write(to: URL(fileURLWithPath: impossible))
        XCTAssertEqual(try w.listManifests().count, 0, "a retired day was listed")
        XCTAssertEqual(w.stats().rowsLoaded, 4)
        // Had this process's clock been only an hour past that day, the writers' clock alone would
        // not retire it (a writer running ahead must not hide today).
        try FileManager.default.removeItem(atPath: impossible)
        for h in [day0 + 3_600_000, day0 + 5 * 3_600_000] { age(hourDir(dir, h)) }
        let fresh = try warehouse(dir)
        fresh.now = { day0 + 86_400_000 + 3_600_000 }
        XCTAssertEqual(try fresh.listManifests().count, 0)
        XCTAssertEqual(fresh.manifestDirs[dayDir]?.deepSettled, true)
        try Data("{\"entries\":[]}".utf8).write(to: URL(fileURLWithPath: impossible))
        XCTAssertEqual(try fresh.listManifests().map(\.name), ["00000001795654800001-shardId-000000000000-9.json"])
    }

    func testTheLedgerTotalsFollowLoadsAndSurviveReopening() throws {
        let dir = makeTempDataDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lake = LakeFixture(dataDirectory: dir)
        let n = try lake.writeSimulated(events: 2_000, sites: 4, objectRecords: 100, objectsPerManifest: 3)
        var w: Warehouse? = try warehouse(dir)
        XCTAssertEqual(try w?.loadPending().rowsInserted, n)
        let newest = try XCTUnwrap(w?.query("SELECT max(ts) FROM events").rows.first?.first?.description)
        XCTAssertEqual(w?.stats().rowsLoaded, Int64(n))
        XCTAssertEqual(w?.stats().newestEventLoadedMs.map(String.init), newest)
        w = nil
        let again = try warehouse(dir)
        XCTAssertEqual(again.stats().rowsLoaded, Int64(n))
        XCTAssertEqual(try again.loadPending().rowsInserted, 0)
        XCTAssertEqual(again.stats().rowsLoaded, Int64(n))
    }
}
