import Foundation
import XCTest
@testable import Pipeline

/// The bad-input suite: one table of malformed requests against a real listening collector, each
/// row with the status and error code it must get. After the whole table the node still serves a
/// good request, and the stream holds exactly the records of the good requests: nothing of a bad
/// request was partially written.
final class BadInputTests: XCTestCase {
    /// Where a row's error code is found in the answer.
    enum Code {
        case none
        /// `{"error": code}` (native request-level errors, /v1/query).
        case error(String)
        /// 200 with `accepted: 0` and the first per-record error's code.
        case record(String)
        /// AWS JSON protocol: `{"__type": code}`.
        case aws(String)
    }

    struct Row {
        var name: String
        var method = "POST"
        var path = "/v1/events"
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        var status: Int
        var code: Code
    }

    func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    func event(_ fields: String) -> [UInt8] {
        Array("{\"site_id\":\"bad-input\",\"type\":\"page_view\",\"ts\":\(nowMs())\(fields.isEmpty ? "" : ",")\(fields)}".utf8)
    }

    func rows(_ f: CollectorFixture, port: Int) -> [Row] {
        let relay = [("Authorization", "Bearer \(f.relayKey)")]
        let admin = [("Authorization", "Bearer \(f.adminToken)")]
        let ts = nowMs()
        func native(_ name: String, _ body: [UInt8], _ code: Code, status: Int = 200, headers: [(String, String)] = []) -> Row {
            Row(name: name, headers: relay + headers, body: body, status: status, code: code)
        }
        func raw(_ s: String) -> [UInt8] { Array(s.utf8) }
        func aws(_ name: String, target: String = "Kinesis_20131202.PutRecords", body: [UInt8], status: Int = 400, _ code: String,
                 signedAtMs: Int64? = nil, secret: String? = nil, accessKey: String? = nil, tamper: [UInt8]? = nil) -> Row {
            let h = f.awsHeaders(target: target, body: body, host: "127.0.0.1:\(port)", nowMs: signedAtMs, secret: secret, accessKey: accessKey)
            var headers: [(String, String)] = []
            for field in h where field.name.canonicalName != "host" { headers.append((field.name.canonicalName, field.value)) }
            return Row(name: name, path: "/", headers: headers, body: tamper ?? body, status: status, code: .aws(code))
        }
        let goodKinesis = raw("{\"StreamName\":\"clickstream\",\"Records\":[{\"Data\":\"\(Data(event("\"event_id\":\"never-stored\"")).base64EncodedString())\",\"PartitionKey\":\"k\"}]}")
        let deepNest = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        let zeros = [UInt8](repeating: UInt8(ascii: " "), count: 6 << 20)
        var badUTF8 = raw("{\"site_id\":\"bad-input\",\"type\":\"page_view\",\"ts\":\(ts),\"url\":\"https://x.example/")
        badUTF8 += [0xC3, 0x28, 0xFF]
        badUTF8 += raw("\"}")
        var rawNul = raw("{\"site_id\":\"bad-input\",\"type\":\"page_view\",\"ts\":\(ts),\"url\":\"a")
        rawNul += [0]
        rawNul += raw("b\"}")
        func sql(_ name: String, _ q: String, _ status: Int = 400, _ code: String = "refused") -> Row {
            let body = try? JSONSerialization.data(withJSONObject: ["sql": q])
            return Row(name: name, path: "/v1/query", headers: admin, body: Array(body ?? Data()), status: status, code: .error(code))
        }

        return [
            // JSON shape
            native("truncated JSON", raw("{\"site_id\":\"bad-input\",\"type\":\"page_view\",\"ts\":"), .record("malformed_json")),
            native("truncated mid-string", raw("{\"site_id\":\"bad-inp"), .record("malformed_json")),
            native("deeply nested props", event("\"props\":" + deepNest), .record("nesting_too_deep")),
            native("deeply nested body", raw(String(repeating: "[", count: 100_000)), .record("nesting_too_deep")),
            native("not an object", raw("\"just a string\""), .record("not_an_object")),
            native("number", raw("42"), .record("not_an_object")),
            native("huge string", event("\"url\":\"" + String(repeating: "a", count: (1 << 20) + 10) + "\""), .record("record_too_large")),
            native("invalid UTF-8", badUTF8, .record("invalid_utf8")),
            native("raw NUL byte in a string", rawNul, .record("malformed_json")),
            native("NUL escape in site_id", raw("{\"site_id\":\"a\\u0000b\",\"type\":\"page_view\",\"ts\":\(ts)}"), .record("invalid_site_id")),
            // wrong types
            native("site_id a number", raw("{\"site_id\":123,\"type\":\"page_view\",\"ts\":\(ts)}"), .record("wrong_type")),
            native("type an array", raw("{\"site_id\":\"bad-input\",\"type\":[\"x\"],\"ts\":\(ts)}"), .record("wrong_type")),
            native("ts a boolean", raw("{\"site_id\":\"bad-input\",\"type\":\"page_view\",\"ts\":true}"), .record("wrong_type")),
            native("missing type", raw("{\"site_id\":\"bad-input\",\"ts\":\(ts)}"), .record("missing_field")),
            // absurd timestamps
            native("ts negative", raw("{\"site_id\":\"bad-input\",\"type\":\"page_view\",\"ts\":-5}"), .record("timestamp_out_of_range")),
            native("ts in seconds", raw("{\"site_id\":\"bad-input\",\"type\":\"page_view\",\"ts\":\(ts / 1000)}"), .record("timestamp_out_of_range")),
            native("ts far future", raw("{\"site_id\":\"bad-input\",\"type\":\"page_view\",\"ts\":\(ts + 10 * 86_400_000)}"), .record("timestamp_out_of_range")),
            native("ts overflows Int64", raw("{\"site_id\":\"bad-input\",\"type\":\"page_view\",\"ts\":99999999999999999999999}"), .record("invalid_timestamp")),
            native("ts 1e300", raw("{\"site_id\":\"bad-input\",\"type\":\"page_view\",\"ts\":1e300}"), .record("invalid_timestamp")),
            native("ts fractional", raw("{\"site_id\":\"bad-input\",\"type\":\"page_view\",\"ts\":\(ts).5}"), .record("invalid_timestamp")),
            native("ts bad RFC 3339", raw("{\"site_id\":\"bad-input\",\"type\":\"page_view\",\"ts\":\"2025-13-45T99:00:00Z\"}"), .record("invalid_timestamp")),
            // path traversal in site ids (they become lake partitions)
            native("site_id ../../etc", raw("{\"site_id\":\"../../etc\",\"type\":\"page_view\",\"ts\":\(ts)}"), .record("invalid_site_id")),
            native("site_id ..", raw("{\"site_id\":\"..\",\"type\":\"page_view\",\"ts\":\(ts)}"), .record("invalid_site_id")),
            native("site_id a/b", raw("{\"site_id\":\"a/b\",\"type\":\"page_view\",\"ts\":\(ts)}"), .record("invalid_site_id")),
            native("site_id escaped slash", raw("{\"site_id\":\"a\\/..\\/b\",\"type\":\"page_view\",\"ts\":\(ts)}"), .record("invalid_site_id")),
            native("site_id backslash", raw("{\"site_id\":\"a\\\\b\",\"type\":\"page_view\",\"ts\":\(ts)}"), .record("invalid_site_id")),
            native("site_id too long", raw("{\"site_id\":\"\(String(repeating: "a", count: 65))\",\"type\":\"page_view\",\"ts\":\(ts)}"), .record("invalid_site_id")),
            // bodies and encodings
            native("gzip bomb", Gzip.compress(zeros), .error("body_too_large"), status: 413, headers: [("Content-Encoding", "gzip")]),
            native("oversized body", zeros, .error("body_too_large"), status: 413),
            native("bad gzip", raw("\u{1F}\u{8B}not gzip at all"), .error("bad_encoding"), status: 400, headers: [("Content-Encoding", "gzip")]),
            native("unsupported encoding", event(""), .error("bad_encoding"), status: 400, headers: [("Content-Encoding", "br")]),
            Row(name: "no key", body: event(""), status: 401, code: .error("missing_key")),
            Row(name: "unknown key", headers: [("Authorization", "Bearer not-a-key")], body: event(""), status: 403, code: .error("invalid_key")),
            // Kinesis / Firehose
            aws("invalid base64 in Data", body: raw("{\"StreamName\":\"clickstream\",\"Records\":[{\"Data\":\"@@not base64@@\",\"PartitionKey\":\"k\"}]}"), "SerializationException"),
            aws("body not JSON", body: raw("{\"StreamName\":"), "SerializationException"),
            aws("deeply nested Kinesis body", body: raw("{\"StreamName\":" + String(repeating: "[", count: 100_000)), "SerializationException"),
            aws("Data a number", body: raw("{\"StreamName\":\"clickstream\",\"Records\":[{\"Data\":5,\"PartitionKey\":\"k\"}]}"), "SerializationException"),
            aws("empty partition key", body: raw("{\"StreamName\":\"clickstream\",\"Records\":[{\"Data\":\"eA==\",\"PartitionKey\":\"\"}]}"), "ValidationException"),
            aws("wrong signature", body: goodKinesis, "InvalidSignatureException", secret: "not-the-secret"),
            aws("unknown access key", body: goodKinesis, "UnrecognizedClientException", accessKey: "AKIDNOBODY0000000000"),
            aws("expired X-Amz-Date", body: goodKinesis, "InvalidSignatureException", signedAtMs: ts - 10 * 60_000),
            aws("X-Amz-Date in the future", body: goodKinesis, "InvalidSignatureException", signedAtMs: ts + 10 * 60_000),
            aws("replayed signature, other body", body: goodKinesis, "InvalidSignatureException",
                tamper: raw("{\"StreamName\":\"clickstream\",\"Records\":[{\"Data\":\"eA==\",\"PartitionKey\":\"evil\"}]}")),
            Row(name: "no signature", path: "/", headers: [("X-Amz-Target", "Kinesis_20131202.PutRecords"), ("Content-Type", "application/x-amz-json-1.1")],
                body: goodKinesis, status: 403, code: .aws("MissingAuthenticationTokenException")),
            aws("unknown X-Amz-Target", target: "Kinesis_20131202.DeleteStream", body: raw("{\"StreamName\":\"clickstream\"}"), "UnknownOperationException"),
            aws("garbage X-Amz-Target", target: "Nonsense", body: raw("{}"), "UnknownOperationException"),
            Row(name: "missing X-Amz-Target", path: "/", headers: [("Content-Type", "application/x-amz-json-1.1")], body: raw("{}"),
                status: 400, code: .aws("UnknownOperationException")),
            aws("Firehose record not an event", target: "Firehose_20150804.PutRecord",
                body: raw("{\"DeliveryStreamName\":\"clickstream\",\"Record\":{\"Data\":\"\(Data("{nope".utf8).base64EncodedString())\"}}"),
                "InvalidArgumentException"),
            // SQL that writes or reaches outside
            sql("DELETE", "DELETE FROM events"),
            sql("DROP", "DROP TABLE events"),
            sql("INSERT", "INSERT INTO events(event_id) VALUES ('x')"),
            sql("ATTACH", "ATTACH DATABASE '/tmp/eddy-evil.sqlite' AS evil"),
            sql("second statement", "SELECT 1; DROP TABLE events"),
            sql("writable_schema", "PRAGMA writable_schema = 1"),
            sql("load_extension", "SELECT load_extension('/tmp/evil.so')"),
            sql("CTE that deletes", "WITH x AS (SELECT 1) DELETE FROM events"),
            sql("VACUUM INTO", "VACUUM INTO '/tmp/eddy-evil-copy.sqlite'"),
            sql("not JSON", "", 400, "bad_request"),
        ]
    }

    /// A /v1/query hook like the node's: `{"sql": …}` through a read-only `QueryRunner`.
    static func queryHook(dir: String) throws -> CollectorHooks {
        let wh = try Warehouse(dataDirectory: dir)
        let runner = try wh.queryRunner()
        let box = UncheckedBox(runner)
        return CollectorHooks(query: { body in
            guard let o = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], let sql = o["sql"] as? String,
                  !sql.isEmpty else {
                return (400, Array(#"{"error":"bad_request","message":"body must be {\"sql\": …}"}"#.utf8))
            }
            do {
                let r = try box.value.run(sql)
                return (200, Array(try JSONSerialization.data(withJSONObject: ["rows": r.rows.count])))
            } catch let e as QueryError {
                return (400, Array(try JSONSerialization.data(withJSONObject: ["error": e.kind.rawValue, "message": e.message])))
            }
        })
    }

    func testEveryBadRequestGetsItsStatusAndCodeAndNothingIsWritten() async throws {
        let dir = NSTemporaryDirectory() + "eddy-badinput-wh-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let f = try CollectorFixture(self, configure: { $0.bodyReadTimeout = .seconds(1) }, hooks: try Self.queryHook(dir: dir))
        let server = f.server
        let task = Task { try await server.run() }
        let port = try await server.port()
        let key = f.relayKey

        var goodIds: [String] = []
        func good(_ i: Int) async throws {
            let id = "good-\(i)"
            let body = event("\"event_id\":\"\(id)\"")
            let r = try await onThread { try BlockingHTTPClient(host: "127.0.0.1", port: port)
                .request(path: "/v1/events", headers: [("Authorization", "Bearer \(key)")], body: body) }
            XCTAssertEqual(r.status, 200, r.text)
            XCTAssertTrue(r.text.contains("\"accepted\":1"), r.text)
            goodIds.append(id)
        }

        try await good(0)
        for (i, row) in rows(f, port: port).enumerated() {
            let r = try await onThread { () -> BlockingHTTPClient.Reply? in
                let c = BlockingHTTPClient(host: "127.0.0.1", port: port)
                c.timeoutSeconds = 20
                do { return try c.request(method: row.method, path: row.path, headers: row.headers, body: row.body) } catch { return nil }
            }
            guard let r else {
                // The server may close on an oversized body before reading it all; then the client
                // sees a reset rather than the 413. Anything else must be answered.
                XCTAssertEqual(row.status, 413, "\(row.name): no answer")
                continue
            }
            XCTAssertEqual(r.status, row.status, "\(row.name): \(r.text.prefix(300))")
            let obj = (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any] ?? [:]
            switch row.code {
            case .none: break
            case .error(let c): XCTAssertEqual(obj["error"] as? String, c, "\(row.name): \(r.text.prefix(300))")
            case .aws(let c): XCTAssertEqual(obj["__type"] as? String, c, "\(row.name): \(r.text.prefix(300))")
            case .record(let c):
                XCTAssertEqual(obj["accepted"] as? Int, 0, "\(row.name): \(r.text.prefix(300))")
                let errs = obj["errors"] as? [[String: Any]] ?? []
                XCTAssertEqual(errs.first?["code"] as? String, c, "\(row.name): \(r.text.prefix(300))")
            }
            if r.status == 503 || r.status >= 500 { XCTFail("\(row.name): server error \(r.status)") }
            // Every few rows, prove the node still serves.
            if i % 10 == 9 { try await good(i) }
        }

        // Slowloris: a body trickled slower than the read timeout gets 408 or is closed, and a
        // good client is served meanwhile.
        async let slow = onThread { () -> Int in
            Self.trickle(port: port, head: "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\nContent-Length: 400\r\n\r\n",
                         body: Array(String(repeating: " ", count: 400).utf8), everyMs: 150, giveUpAfterMs: 8000)
        }
        try await good(1000)
        let s = try await slow
        XCTAssertTrue(s == 408 || s == -1, "slow body got \(s) (0: still open after 8 s)")
        try await good(1001)

        await server.shutdown()
        try await task.value
        let stored = try f.storedRecords()
        let ids = stored.compactMap { rec -> String? in
            (try? JSONSerialization.jsonObject(with: Data(rec.utf8)) as? [String: Any])?["event_id"] as? String
        }
        XCTAssertEqual(ids.count, stored.count, "every stored record is a whole event")
        XCTAssertEqual(Set(ids), Set(goodIds))
        XCTAssertEqual(ids.count, goodIds.count, "the stream holds exactly the good requests' records")
    }

    /// Sends `head`, then `body` one byte every `everyMs`, reading meanwhile. Returns the status
    /// the server answered, -1 if it closed the connection, 0 if neither happened in time.
    static func trickle(port: Int, head: String, body: [UInt8], everyMs: Int, giveUpAfterMs: Int) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -2 }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else { return -2 }
        let h = Array(head.utf8)
        _ = h.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var sent = 0
        var waited = 0
        var reply: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while waited < giveUpAfterMs {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, Int32(everyMs))
            waited += everyMs
            if r > 0 {
                let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return reply.isEmpty ? -1 : status(reply) }
                reply += buf[0..<n]
                if reply.count >= 12 { return status(reply) }
                continue
            }
            if sent < body.count {
                let b = body[sent]
                _ = withUnsafePointer(to: b) { send(fd, $0, 1, Int32(MSG_NOSIGNAL)) }
                sent += 1
            }
        }
        return 0
    }

    static func status(_ reply: [UInt8]) -> Int {
        let line = String(decoding: reply.prefix(12), as: UTF8.self)
        let parts = line.split(separator: " ")
        return parts.count >= 2 ? Int(parts[1]) ?? -3 : -3
    }
}
