import Foundation
import XCTest
@testable import Pipeline

/// Runs a blocking client on its own thread so the test never blocks the cooperative pool the
/// server's handlers need (2 threads on a 2-core machine).
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        let t = Thread { c.resume(with: Result { try body() }) }
        t.start()
    }
}

/// Live: a real listening server on a loopback port, real sockets.
final class CollectorLiveTests: XCTestCase {
    func start(_ f: CollectorFixture) async throws -> (Task<Void, any Error>, Int) {
        let server = f.server
        let task = Task { try await server.run() }
        let port = try await server.port()
        return (task, port)
    }

    func testLiveAuthGzipAndPartialFailure() async throws {
        let f = try CollectorFixture(self)
        let (task, port) = try await start(f)
        let body = Gzip.compress(Array([f.event(), f.event(site: "intruder"), f.event()].joined(separator: "\n").utf8))
        let key = f.siteKey
        let r = try await onThread {
            let c = BlockingHTTPClient(host: "127.0.0.1", port: port)
            let noKey = try c.request(path: "/v1/events", body: body)
            let ok = try c.request(path: "/v1/events", headers: [("Authorization", "Bearer \(key)"), ("Content-Encoding", "gzip")], body: body)
            return (noKey.status, ok.status, ok.text)
        }
        XCTAssertEqual(r.0, 401)
        XCTAssertEqual(r.1, 200)
        XCTAssertTrue(r.2.contains("\"accepted\":2") && r.2.contains("site_not_allowed"), r.2)
        await f.server.shutdown()
        try await task.value
    }

    func testOversizedContentLengthIs413BeforeTheBodyIsSent() async throws {
        let f = try CollectorFixture(self)
        let (task, port) = try await start(f)
        let key = f.relayKey
        let status = try await onThread { () -> Int in
            let c = BlockingHTTPClient(host: "127.0.0.1", port: port)
            try c.sendRaw(Array("POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\nContent-Length: 104857600\r\n\r\n".utf8))
            return try c.readResponse().status   // answered although not one body byte was sent
        }
        XCTAssertEqual(status, 413)
        await f.server.shutdown()
        try await task.value
        XCTAssertEqual(try f.storedRecords().count, 0)
    }

    func testSlowBodyClientIsCutOffWithoutAffectingOthers() async throws {
        let f = try CollectorFixture(self) { $0.bodyReadTimeout = .seconds(1) }
        let (task, port) = try await start(f)
        let key = f.relayKey
        let event = f.event()
        async let slow: Int = onThread {
            let c = BlockingHTTPClient(host: "127.0.0.1", port: port)
            try c.sendRaw(Array("POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\nContent-Length: 1000\r\n\r\n{\"site".utf8))
            do { return try c.readResponse().status } catch { return -1 }   // -1: connection closed on it
        }
        let fast = try await onThread { () -> [Int] in
            let c = BlockingHTTPClient(host: "127.0.0.1", port: port)
            return try (0..<5).map { _ in try c.request(path: "/v1/events", headers: [("Authorization", "Bearer \(key)")], body: Array(event.utf8)).status }
        }
        XCTAssertEqual(fast, [200, 200, 200, 200, 200])
        let s = try await slow
        XCTAssertTrue(s == 408 || s == -1, "slow client got \(s)")
        await f.server.shutdown()
        try await task.value
        XCTAssertEqual(try f.storedRecords().count, 5, "nothing of the cut-off request was written")
    }

    func testGracefulShutdownFinishesTheRequestInFlightThenClosesTheStream() async throws {
        let f = try CollectorFixture(self) { $0.bodyReadTimeout = .seconds(20) }
        let (task, port) = try await start(f)
        let key = f.relayKey
        let body = Array(f.event().utf8)
        let half = body.count / 2
        let client = BlockingHTTPClient(host: "127.0.0.1", port: port)
        let clientBox = UncheckedBox(client)
        try await onThread {
            try clientBox.value.sendRaw(Array("POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body[..<half])
        }
        try await Task.sleep(for: .milliseconds(200))
        await f.server.shutdown()
        try await Task.sleep(for: .milliseconds(200))
        let reply = try await onThread { () -> Int in
            try clientBox.value.sendRaw(Array(body[half...]))
            return try clientBox.value.readResponse().status
        }
        XCTAssertEqual(reply, 200, "the in-flight request was finished, not dropped")
        try await task.value
        // New connections are refused once it has stopped.
        let refused = try await onThread { () -> Bool in
            do { _ = try BlockingHTTPClient(host: "127.0.0.1", port: port).request(method: "GET", path: "/healthz"); return false } catch { return true }
        }
        XCTAssertTrue(refused)
        // The stream was synced and closed: reopening finds the record.
        let reopened = try ShardedStream(dataDirectory: f.dir, config: StreamConfig(shardCount: 2))
        defer { reopened.close() }
        var n = 0
        for s in reopened.shardMap().shards { n += try reopened.read(shardId: s.shardId, from: 0).count }
        XCTAssertEqual(n, 1)
    }
}

extension CollectorLiveTests {
    /// `loadgen --record-acked`: every recorded id was acknowledged and is in the stream, and the
    /// run survives its server going away (connection errors count as not acknowledged).
    func testLoadgenRecordsOnlyAckedIdsAndOutlivesItsServer() async throws {
        let f = try CollectorFixture(self)
        let (task, port) = try await start(f)
        let file = f.dir + "/acked.txt"
        var c = LoadGenConfig(host: "127.0.0.1", port: port)
        c.key = f.relayKey; c.rate = 2000; c.durationSeconds = 30; c.batch = 50; c.connections = 2; c.sites = 8
        c.recordAckedPath = file
        let gen = LoadGenerator(config: c)
        async let result = onThread { try gen.run() }
        // Let some requests be acknowledged, then take the server away under the generator.
        var polls = 0
        while (try? String(contentsOfFile: file, encoding: .utf8))?.isEmpty ?? true, polls < 1200 {
            try await Task.sleep(for: .milliseconds(50)); polls += 1
        }
        try await Task.sleep(for: .milliseconds(300))
        await f.server.shutdown()
        try await task.value
        try await Task.sleep(for: .milliseconds(500))
        gen.requestStop()
        let r = try await result
        let acked = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertGreaterThan(acked.count, 0)
        XCTAssertEqual(acked.count, r.events, "one line per acknowledged event")
        XCTAssertEqual(Set(acked).count, acked.count, "no id recorded twice")
        XCTAssertGreaterThan(r.errorsByCode["connection"] ?? 0, 0, "requests after the shutdown failed and were counted")
        XCTAssertGreaterThan(r.sent, r.events)
        let stored = try ShardedStream(dataDirectory: f.dir, config: StreamConfig(shardCount: 2))
        defer { stored.close() }
        var ids = Set<String>()
        for s in stored.shardMap().shards {
            let b = try stored.read(shardId: s.shardId, from: 0, maxRecords: 1_000_000)
            for i in 0..<b.count {
                let obj = try JSONSerialization.jsonObject(with: Data(b.data(i))) as? [String: Any]
                if let id = obj?["event_id"] as? String { ids.insert(id) }
            }
        }
        XCTAssertTrue(Set(acked).isSubset(of: ids), "\(Set(acked).subtracting(ids).count) acknowledged ids are not in the stream")
    }
}

final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ v: T) { value = v }
}
