import Foundation
import XCTest
@testable import Pipeline

/// The loader's parsed-manifest cache must stay bounded by the manifests still pending, however many
/// have been written and loaded: a node writes about 240 manifests a minute at 15k events/s, and the
/// cache used to keep every one of them for the life of the process (found by the soak).
final class WarehouseManifestCacheTests: XCTestCase {
    func testTheManifestCacheHoldsOnlyPendingManifestsAfterManyLoads() throws {
        let dir = makeTempDataDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lake = LakeFixture(dataDirectory: dir)
        var c = WarehouseConfig()
        c.rawRetentionDays = 100_000 // fixed-date fixtures must not expire
        c.rollupRetentionDays = 100_000
        let w = try Warehouse(dataDirectory: dir, config: c)
        let mdir = dir + "/lake/_manifests/events"
        var total = 0
        for round in 0..<4 {
            _ = try lake.writeSimulated(events: 3_000, sites: 5, seed: UInt64(round + 1),
                                        startMs: 1_795_651_200_000 + Int64(round) * 3_600_000,
                                        objectRecords: 100, objectsPerManifest: 2)
            let onDisk = manifestFiles(under: mdir).count
            let fresh = onDisk - total
            XCTAssertGreaterThan(fresh, 5, "round \(round) wrote too few manifests to tell")
            // Pending: the stats pass lists (and caches) the new manifests and none of the loaded ones.
            XCTAssertGreaterThan(w.stats().objectsPending, 0)
            XCTAssertEqual(w.manifestCacheCount, fresh, "round \(round): cache holds loaded manifests")
            let r = try w.loadPending()
            XCTAssertEqual(r.errors, [])
            XCTAssertEqual(r.manifestsCompleted, fresh)
            total = onDisk
            // All loaded: nothing pending and nothing cached, however many manifests came before.
            XCTAssertEqual(w.stats().objectsPending, 0)
            XCTAssertEqual(w.manifestCacheCount, 0, "round \(round): \(total) manifests loaded, cache not emptied")
        }
        XCTAssertGreaterThan(total, 20)
        // A second pass over loaded manifests loads nothing again.
        let again = try w.loadPending()
        XCTAssertEqual(again.rowsInserted, 0)
        XCTAssertEqual(again.manifestsCompleted, 0)
    }
}
