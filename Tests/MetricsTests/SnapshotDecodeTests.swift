import Foundation
import XCTest
@testable import Metrics

/// `SnapshotJSON.decode`, the byte-level reader `eddy dash --connect` uses for `/v1/stats`.
final class SnapshotDecodeTests: XCTestCase {
    func testDecodesWhatSnapshotJSONWrites() throws {
        var snapshot = richSnapshot()
        snapshot.sites[0].eventsPerSecHistory = [0, 1.5, -2.25, 1e-7, 123456789.125, 3]
        snapshot.node.nodeId = "nöde-\u{1F600}-\"q\"\t\u{01}"
        XCTAssertEqual(try SnapshotJSON.decode(SnapshotJSON.encode(snapshot)), snapshot)
        XCTAssertEqual(try SnapshotJSON.decodeSite(SnapshotJSON.encode(snapshot.sites[1])), snapshot.sites[1])
    }

    func testDecodesFoundationsEncodingToo() throws {
        // Another writer (an older node, a proxy re-encoding) uses other spacing, escapes and key order.
        let snapshot = richSnapshot()
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let bytes = [UInt8](try enc.encode(snapshot))
        XCTAssertEqual(try SnapshotJSON.decode(bytes), snapshot)
    }

    func testEscapesAndSurrogatePairs() throws {
        let json = #"{"sites":[{"siteId":"a\/b\u00e9\ud83d\ude00\n","eventsTotal":7.0,"unknown":{"x":[1,{"y":null}],"z":true}}]}"#
        let s = try SnapshotJSON.decode(Array(json.utf8))
        XCTAssertEqual(s.sites.first?.siteId, "a/bé😀\n")
        XCTAssertEqual(s.sites.first?.eventsTotal, 7)
    }

    func testMissingKeysKeepDefaultsAndNullOptionalsAreNil() throws {
        let json = #"{"takenAtMs":5,"warehouse":null,"shards":[{"shardId":"s1","parentShardId":null}]}"#
        let s = try SnapshotJSON.decode(Array(json.utf8))
        XCTAssertEqual(s.takenAtMs, 5)
        XCTAssertNil(s.warehouse)
        XCTAssertEqual(s.shards, [ShardStats(shardId: "s1")])
        XCTAssertTrue(s.sites.isEmpty)
    }

    func testABufferFromANodeWithoutFillBytesFillsWithItsBytes() throws {
        let json = #"{"deliveries":[{"name":"events","buffers":[{"partition":"site=a/dt=2026-11-26/hr=01","bytes":4096,"records":3}]}]}"#
        let b = try SnapshotJSON.decode(Array(json.utf8)).deliveries[0].buffers[0]
        XCTAssertEqual(b.bytes, 4096)
        XCTAssertEqual(b.fillBytes, 4096, "an older node's buffers held one object's worth per partition")
        let newer = #"{"deliveries":[{"name":"events","buffers":[{"partition":"p","bytes":4096,"fillBytes":1024}]}]}"#
        XCTAssertEqual(try SnapshotJSON.decode(Array(newer.utf8)).deliveries[0].buffers[0].fillBytes, 1024)
    }

    func testEveryTruncationThrowsInsteadOfTrapping() {
        let full = SnapshotJSON.encode(richSnapshot())
        var thrown = 0
        // Every prefix of the first 3 KB and a stride through the rest: none may decode or trap.
        var cuts = Array(0..<min(3000, full.count - 1))
        cuts += Array(stride(from: 3000, to: full.count - 1, by: 97))
        for n in cuts {
            XCTAssertThrowsError(try SnapshotJSON.decode(Array(full[0..<n]))) { _ in thrown += 1 }
        }
        XCTAssertEqual(thrown, cuts.count)
    }

    func testMalformedInputGetsAnErrorWithItsOffset() {
        let cases: [(String, Int)] = [
            (#"{"takenAtMs":"x"}"#, 13),                  // wrong type
            (#"{"takenAtMs":1,}"#, 15),                   // trailing comma
            (#"{"sites":[{"siteId":"a\q"}]}"#, 24),       // bad escape
            (#"{"takenAtMs":1} x"#, 16),                  // trailing bytes
            (#"{"node":{"ready":tru}}"#, 17),             // bad literal
        ]
        for (json, offset) in cases {
            XCTAssertThrowsError(try SnapshotJSON.decode(Array(json.utf8)), json) { e in
                XCTAssertEqual((e as? SnapshotDecodeError)?.offset, offset, "\(json): \(e)")
            }
        }
        let deep = String(repeating: #"{"a":"#, count: 100) + "1" + String(repeating: "}", count: 100)
        XCTAssertThrowsError(try SnapshotJSON.decode(Array(deep.utf8))) { e in
            XCTAssertEqual((e as? SnapshotDecodeError)?.reason, "nested too deeply")
        }
    }
}
