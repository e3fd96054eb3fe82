import Foundation
import HTTPTypes
import Hummingbird
import XCTest
@testable import Pipeline

/// In-process: every route and its errors, through the router without sockets.
final class CollectorRouterTests: XCTestCase {
    func testEventsWithoutKeyAre401AndUnknownKey403() async throws {
        let f = try CollectorFixture(self)
        try await f.app.test(.router) { c in
            try await c.execute(uri: "/v1/events", method: .post, body: bytes(f.event())) { r in
                XCTAssertEqual(r.status, .unauthorized)
                XCTAssertEqual(json(r.body)["error"] as? String, "missing_key")
            }
            try await c.execute(uri: "/v1/events", method: .post, headers: [.authorization: "Bearer nope"], body: bytes(f.event())) { r in
                XCTAssertEqual(r.status, .forbidden)
                XCTAssertEqual(json(r.body)["error"] as? String, "invalid_key")
            }
        }
        XCTAssertEqual(try f.storedRecords().count, 0)
    }

    /// `eddy keys revoke` / `create` edit keys.json; a running collector must follow without a
    /// restart, and a key file it cannot read must not lock everybody out.
    func testRevokedKeyIsRefusedAndNewKeyAcceptedWithoutRestart() async throws {
        let dir = NSTemporaryDirectory() + "eddy-keyring-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        var file = KeyFile()
        let old = file.createSiteKey(site: "shop-1", nowMs: 0).key
        try file.save(dataDirectory: dir)
        var cfg = CollectorConfig(dataDirectory: dir)
        cfg.port = 0; cfg.shards = 1; cfg.minFreeBytes = 0; cfg.handleSignals = false
        let ring = try KeyRing(dataDirectory: dir, environment: ["EDDY_ADMIN_TOKEN": "t"])
        ring.checkInterval = 0
        let server = try CollectorServer(config: cfg, registry: StreamRegistry(dataDirectory: dir, baseConfig: cfg.streamConfig), keys: ring, ownsStreams: true)
        let app = RouterTestApp(responder: server.buildRouter().buildResponder())
        let event = "{\"site_id\":\"shop-1\",\"type\":\"page_view\",\"ts\":\(Int64(Date().timeIntervalSince1970 * 1000))}"
        func post(_ key: String) async throws -> HTTPResponse.Status {
            try await app.test(.router) { c in
                try await c.execute(uri: "/v1/events", method: .post, headers: [.authorization: "Bearer \(key)"], body: bytes(event)) { $0.status }
            }
        }
        var status = try await post(old)
        XCTAssertEqual(status, .ok)
        XCTAssertTrue(file.revoke(old))
        let new = file.createSiteKey(site: "shop-1", nowMs: 1).key
        try file.save(dataDirectory: dir)
        status = try await post(old)
        XCTAssertEqual(status, .forbidden, "a revoked key is refused by the running server")
        status = try await post(new)
        XCTAssertEqual(status, .ok, "a new key works without a restart")
        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: KeyFile.path(dataDirectory: dir)))
        status = try await post(new)
        XCTAssertEqual(status, .ok, "an unreadable key file keeps the previous keys")
        await server.shutdown()
    }

    func testSiteKeyAcceptsItsSiteAndRejectsOthersPerRecord() async throws {
        let f = try CollectorFixture(self)
        let body = [f.event(), f.event(site: "other-site"), "{not json", f.event(extra: ",\"event_id\":\"e-fixed\"")].joined(separator: "\n")
        try await f.app.test(.router) { c in
            try await c.execute(uri: "/v1/events", method: .post, headers: [.authorization: "Bearer \(f.siteKey)"], body: bytes(body)) { r in
                XCTAssertEqual(r.status, .ok)
                let j = json(r.body)
                XCTAssertEqual(j["accepted"] as? Int, 2)
                XCTAssertEqual(j["failed"] as? Int, 2)
                let errs = j["errors"] as? [[String: Any]] ?? []
                XCTAssertEqual(errs.map { $0["index"] as? Int }, [1, 2])
                XCTAssertEqual(errs.first?["code"] as? String, "site_not_allowed")
                XCTAssertEqual(errs.last?["code"] as? String, "malformed_json")
            }
        }
        let stored = try f.storedRecords()
        XCTAssertEqual(stored.count, 2)
        for s in stored {
            let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any], s)
            XCTAssertEqual(obj["site_id"] as? String, "shop-1")
            XCTAssertNotNil(obj["event_id"] as? String)
        }
        XCTAssertTrue(stored.contains { $0.contains("\"event_id\":\"e-fixed\"") }, "a client event_id is kept")
        XCTAssertEqual(stored.filter { $0.contains("event_id") }.count, 2)
        XCTAssertFalse(stored.contains { $0.components(separatedBy: "event_id").count > 2 }, "event_id never doubled")
    }

    func testRelayKeyAcceptsEverySiteAndJSONArray() async throws {
        let f = try CollectorFixture(self)
        let body = "[" + [f.event(site: "a"), f.event(site: "b")].joined(separator: ",") + "]"
        try await f.app.test(.router) { c in
            try await c.execute(uri: "/v1/events", method: .post, headers: [.authorization: "Bearer \(f.relayKey)"], body: bytes(body)) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(json(r.body)["accepted"] as? Int, 2)
            }
        }
        XCTAssertEqual(try f.storedRecords().count, 2)
    }

    func testGzipBodyIsInflatedAndCorruptGzipIs400() async throws {
        let f = try CollectorFixture(self)
        let plain = Array((0..<20).map { _ in f.event() }.joined(separator: "\n").utf8)
        let gz = Gzip.compress(plain)
        try await f.app.test(.router) { c in
            try await c.execute(uri: "/v1/events", method: .post,
                                headers: [.authorization: "Bearer \(f.relayKey)", .contentEncoding: "gzip"],
                                body: ByteBuffer(bytes: gz)) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(json(r.body)["accepted"] as? Int, 20)
            }
            try await c.execute(uri: "/v1/events", method: .post,
                                headers: [.authorization: "Bearer \(f.relayKey)", .contentEncoding: "gzip"],
                                body: ByteBuffer(bytes: Array(gz.prefix(gz.count / 2)))) { r in
                XCTAssertEqual(r.status, .badRequest)
                XCTAssertEqual(json(r.body)["error"] as? String, "bad_encoding")
            }
        }
        XCTAssertEqual(try f.storedRecords().count, 20)
    }

    func testOversizedBodyIs413AndNothingIsWritten() async throws {
        let f = try CollectorFixture(self) { $0.maxBodyBytes = 4096 }
        let body = (0..<100).map { _ in f.event() }.joined(separator: "\n")
        try await f.app.test(.router) { c in
            try await c.execute(uri: "/v1/events", method: .post, headers: [.authorization: "Bearer \(f.relayKey)"], body: bytes(body)) { r in
                XCTAssertEqual(r.status, .contentTooLarge)
                XCTAssertEqual(json(r.body)["error"] as? String, "body_too_large")
            }
        }
        XCTAssertEqual(try f.storedRecords().count, 0)
    }

    func testClientIPIsStampedOnlyWhenAbsent() async throws {
        let f = try CollectorFixture(self)
        let st = f.server.ingest.prepare(body: Array((f.event() + "\n" + f.event(extra: ",\"ip\":\"9.9.9.9\"")).utf8),
                                         scope: .relay, clientIP: "10.1.2.3", nowMs: Int64(Date().timeIntervalSince1970 * 1000))
        let recs = st.0.entries.map { String(decoding: st.0.bytes[$0.dataStart..<($0.dataStart + $0.dataCount)], as: UTF8.self) }
        XCTAssertTrue(recs[0].hasPrefix("{\"event_id\":\""), recs[0])
        XCTAssertTrue(recs[0].contains("\"ip\":\"10.1.2.3\""))
        XCTAssertTrue(recs[1].contains("\"ip\":\"9.9.9.9\"") && !recs[1].contains("10.1.2.3"))
        for r in recs { XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(r.utf8)) as? [String: Any], r) }
    }

    func testPixelAnswersGIFWithNoCacheAndStoresTheEvent() async throws {
        let f = try CollectorFixture(self)
        try await f.app.test(.router) { c in
            try await c.execute(uri: "/i?site_id=shop-1&type=page_view&url=https%3A%2F%2Fx.test%2Fa", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(r.headers[.contentType], "image/gif")
                XCTAssertTrue(r.headers[.cacheControl]?.contains("no-cache") ?? false)
                XCTAssertEqual(Array(r.body.readableBytesView.prefix(6)), Array("GIF89a".utf8))
            }
        }
        let stored = try f.storedRecords()
        XCTAssertEqual(stored.count, 1)
        XCTAssertTrue(stored[0].contains("\"url\":\"https://x.test/a\""), stored[0])
    }

    func testHealthReadyMetrics() async throws {
        let f = try CollectorFixture(self)
        try await f.app.test(.router) { c in
            try await c.execute(uri: "/healthz", method: .get) { r in XCTAssertEqual(r.status, .ok) }
            try await c.execute(uri: "/readyz", method: .get) { r in XCTAssertEqual(r.status, .ok) }
            try await c.execute(uri: "/v1/events", method: .post, headers: [.authorization: "Bearer \(f.relayKey)"], body: bytes(f.event())) { _ in }
            try await c.execute(uri: "/metrics", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                let t = String(buffer: r.body)
                XCTAssertTrue(t.contains("eddy_collector_requests_total{route=\"/v1/events\",status=\"200\"} 1"), t)
                XCTAssertTrue(t.contains("eddy_collector_records_in_total 1"))
                XCTAssertTrue(t.contains("eddy_collector_ack_latency_seconds_count 1"))
            }
        }
    }

    func testReadyzIs503AndWritesAre503WhenDiskIsBelowReserve() async throws {
        let f = try CollectorFixture(self) { $0.minFreeBytes = Int64.max / 2 }
        try await f.app.test(.router) { c in
            try await c.execute(uri: "/readyz", method: .get) { r in XCTAssertEqual(r.status, .serviceUnavailable) }
            try await c.execute(uri: "/v1/events", method: .post, headers: [.authorization: "Bearer \(f.relayKey)"], body: bytes(f.event())) { r in
                XCTAssertEqual(r.status, .serviceUnavailable)
                XCTAssertEqual(r.headers[.retryAfter], "1")
            }
        }
        XCTAssertEqual(try f.storedRecords().count, 0)
    }

    func testAdminRoutesNeedTheTokenAndSeamsDefaultTo501() async throws {
        let f = try CollectorFixture(self)
        try await f.app.test(.router) { c in
            try await c.execute(uri: "/v1/stats", method: .get) { r in XCTAssertEqual(r.status, .unauthorized) }
            try await c.execute(uri: "/v1/stats", method: .get, headers: [.authorization: "Bearer wrong"]) { r in XCTAssertEqual(r.status, .forbidden) }
            try await c.execute(uri: "/v1/stats", method: .get, headers: [.authorization: "Bearer \(f.adminToken)"]) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertNotNil(json(r.body)["collector"])
            }
            try await c.execute(uri: "/v1/query", method: .post, headers: [.authorization: "Bearer \(f.adminToken)"], body: bytes("{\"sql\":\"select 1\"}")) { r in
                XCTAssertEqual(r.status, .notImplemented)
                XCTAssertTrue(String(buffer: r.body).contains("warehouse not built yet"))
            }
            try await c.execute(uri: "/v1/admin/flush", method: .post, headers: [.authorization: "Bearer \(f.adminToken)"]) { r in
                XCTAssertEqual(r.status, .notImplemented)
            }
        }
    }

    func testQueryAndFlushSeamsAreCalled() async throws {
        let hooks = CollectorHooks(query: { body in (200, Array("{\"echo\":\(body.count)}".utf8)) },
                                   flush: { Array("{\"flushed\":true}".utf8) })
        let f = try CollectorFixture(self, hooks: hooks)
        try await f.app.test(.router) { c in
            try await c.execute(uri: "/v1/query", method: .post, headers: [.authorization: "Bearer \(f.adminToken)"], body: bytes("abc")) { r in
                XCTAssertEqual(json(r.body)["echo"] as? Int, 3)
            }
            try await c.execute(uri: "/v1/admin/flush", method: .post, headers: [.authorization: "Bearer \(f.adminToken)"]) { r in
                XCTAssertEqual(json(r.body)["flushed"] as? Bool, true)
            }
        }
    }
}

final class CollectorClientIPTests: XCTestCase {
    func testForwardedForIsBelievedOnlyFromTrustedProxies() {
        let trusted: Set<String> = ["10.0.0.1", "10.0.0.2"]
        XCTAssertEqual(CollectorServer.resolveClientIP(peer: "203.0.113.9", forwardedFor: "1.2.3.4", trusted: trusted), "203.0.113.9",
                       "an untrusted peer cannot claim another address")
        XCTAssertEqual(CollectorServer.resolveClientIP(peer: "10.0.0.1", forwardedFor: "1.2.3.4", trusted: trusted), "1.2.3.4")
        XCTAssertEqual(CollectorServer.resolveClientIP(peer: "10.0.0.1", forwardedFor: "6.6.6.6, 1.2.3.4, 10.0.0.2", trusted: trusted), "1.2.3.4",
                       "the right-most hop that is not a trusted proxy; a client-forged left part is ignored")
        XCTAssertEqual(CollectorServer.resolveClientIP(peer: "10.0.0.1", forwardedFor: nil, trusted: trusted), "10.0.0.1")
        XCTAssertNil(CollectorServer.resolveClientIP(peer: nil, forwardedFor: "1.2.3.4", trusted: trusted))
    }
}
