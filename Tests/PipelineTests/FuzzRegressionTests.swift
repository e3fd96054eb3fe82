import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import XCTest
@testable import Pipeline

/// Every input that once crashed a fuzz target (Fuzz/, scripts/fuzz.sh), fed through the normal
/// API: each must now get a clean error and leave the node serving. The checked-in seed corpus
/// (Fuzz/corpus/<target>/, which holds these inputs too) is replayed as well, so a regression shows
/// up in `swift test` even where libFuzzer is not run.
final class FuzzRegressionTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fuzz/corpus").standardized.path

    func call(_ c: RouterTestClient, _ f: CollectorFixture, _ target: String, _ body: [UInt8])
        async throws -> (HTTPResponse.Status, [String: Any]) {
        let h = f.awsHeaders(target: target, body: body)
        return try await c.execute(uri: "/", method: .post, headers: h, body: ByteBuffer(bytes: body)) { r in (r.status, json(r.body)) }
    }

    func call(_ c: RouterTestClient, _ f: CollectorFixture, _ op: String, _ obj: [String: Any])
        async throws -> (HTTPResponse.Status, [String: Any]) {
        try await call(c, f, "Kinesis_20131202.\(op)", Array(try JSONSerialization.data(withJSONObject: obj)))
    }

    /// After a bad call the node still answers a good one.
    func assertStillServing(_ c: RouterTestClient, _ f: CollectorFixture, file: StaticString = #filePath, line: UInt = #line) async throws {
        let (st, j) = try await call(c, f, "DescribeStreamSummary", ["StreamName": "clickstream"])
        XCTAssertEqual(st, .ok, "\(j)", file: file, line: line)
    }

    // GetShardIterator AT_TIMESTAMP with a Timestamp whose milliseconds overflow Int64 trapped in
    // Int64(Double) (fuzz-kinesis seed regress-at-timestamp-1e300).
    func testAtTimestampOutOfRangeIsASerializationError() async throws {
        let f = try CollectorFixture(self)
        try await f.app.test(.router) { c in
            for t in [1e300, -1e300, 9.3e15, -9.3e15] {
                let (st, j) = try await call(c, f, "GetShardIterator", [
                    "StreamName": "clickstream", "ShardId": "shardId-000000000000",
                    "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": t,
                ])
                XCTAssertEqual(st, .badRequest, "\(t)")
                XCTAssertEqual(j["__type"] as? String, "SerializationException", "\(t): \(j)")
            }
            // A real timestamp still works.
            let (st, j) = try await call(c, f, "GetShardIterator", [
                "StreamName": "clickstream", "ShardId": "shardId-000000000000",
                "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": Date().timeIntervalSince1970 - 60,
            ])
            XCTAssertEqual(st, .ok, "\(j)")
            XCTAssertNotNil(j["ShardIterator"] as? String)
        }
    }

    // DescribeStream / ListStreams with Limit ≤ 0 trapped in prefix(negative)
    // (seeds regress-describe-limit-negative, regress-list-streams-limit-negative).
    func testNonPositiveLimitIsAValidationError() async throws {
        let f = try CollectorFixture(self)
        try await f.app.test(.router) { c in
            for limit in [-1, 0, 10_001, Int.min] {
                let calls: [(String, [String: Any])] = [("DescribeStream", ["StreamName": "clickstream", "Limit": limit]),
                                                        ("ListStreams", ["Limit": limit])]
                for (op, req) in calls {
                    let (st, j) = try await call(c, f, op, req)
                    XCTAssertEqual(st, .badRequest, "\(op) \(limit)")
                    XCTAssertEqual(j["__type"] as? String, "ValidationException", "\(op) \(limit): \(j)")
                }
            }
            let (st, j) = try await call(c, f, "DescribeStream", ["StreamName": "clickstream", "Limit": 1])
            XCTAssertEqual(st, .ok)
            XCTAssertEqual(((j["StreamDescription"] as? [String: Any])?["Shards"] as? [Any])?.count, 1)
            try await assertStillServing(c, f)
        }
    }

    // ListShards with a NextToken whose start is negative trapped in dropFirst(negative); one near
    // Int.max overflowed start + MaxResults (seeds regress-list-shards-token-*).
    func testForgedListShardsTokenIsRejected() async throws {
        let f = try CollectorFixture(self)
        try await f.app.test(.router) { c in
            for start in ["-1", "-9223372036854775808", "9223372036854775807", "1000001"] {
                let tok = Data("clickstream|\(start)".utf8).base64EncodedString()
                let (st, j) = try await call(c, f, "ListShards", ["NextToken": tok, "MaxResults": 1])
                XCTAssertEqual(st, .badRequest, start)
                XCTAssertEqual(j["__type"] as? String, "InvalidArgumentException", "\(start): \(j)")
            }
            // A token the node issued still pages.
            var (st, j) = try await call(c, f, "ListShards", ["StreamName": "clickstream", "MaxResults": 1])
            XCTAssertEqual(st, .ok)
            let next = try XCTUnwrap(j["NextToken"] as? String)
            (st, j) = try await call(c, f, "ListShards", ["NextToken": next, "MaxResults": 1])
            XCTAssertEqual(st, .ok, "\(j)")
            XCTAssertEqual((j["Shards"] as? [[String: Any]])?.first?["ShardId"] as? String, "shardId-000000000001")
        }
    }

    // MARK: seed corpus replay

    func corpusFiles(_ target: String) throws -> [(String, [UInt8])] {
        let dir = Self.corpus + "/" + target
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertFalse(names.isEmpty, "no seeds in \(dir)")
        return try names.map { ($0, Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + $0)))) }
    }

    func testKinesisCorpusGetsAnswersNotFailures() async throws {
        let f = try CollectorFixture(self)
        let targets = ["Kinesis_20131202.PutRecord", "Kinesis_20131202.PutRecords", "Kinesis_20131202.GetShardIterator",
                       "Kinesis_20131202.GetRecords", "Kinesis_20131202.ListShards", "Kinesis_20131202.ListStreams",
                       "Kinesis_20131202.DescribeStream", "Kinesis_20131202.DescribeStreamSummary",
                       "Firehose_20150804.PutRecord", "Firehose_20150804.PutRecordBatch"]
        var answered = 0
        try await f.app.test(.router) { c in
            for (name, input) in try corpusFiles("kinesis") where !input.isEmpty && Int(input[0]) < targets.count {
                let (st, j) = try await call(c, f, targets[Int(input[0])], Array(input.dropFirst()))
                XCTAssertTrue(st == .ok || st == .badRequest, "\(name): \(st) \(j)")
                if st == .badRequest { XCTAssertNotNil(j["__type"] as? String, "\(name): an error without __type: \(j)") }
                answered += 1
            }
            try await assertStillServing(c, f)
        }
        XCTAssertGreaterThanOrEqual(answered, 10)
    }

    func testEventCorpusEveryRecordAcceptedOrRejected() throws {
        let nowMs: Int64 = 1_764_147_600_000
        var accepted = 0
        for (name, body) in try corpusFiles("events") {
            let b = EventParser().parse(body, nowMs: nowMs)
            XCTAssertEqual(b.recordCount, b.events.count + b.errors.count, name)
            let (batch, _, outcome) = EventIngest().prepare(body: body, scope: .relay, clientIP: nil, nowMs: nowMs)
            XCTAssertEqual(batch.count + outcome.failures.count, b.recordCount, name)
            accepted += batch.count
        }
        XCTAssertGreaterThan(accepted, 10, "the docs examples in the corpus are valid events")
    }

    func testFrameCorpusScansConsistently() throws {
        var records: UInt64 = 0
        for (name, input) in try corpusFiles("frame") where !input.isEmpty {
            let bytes = Array(input.dropFirst())
            let s = SegmentScanner.scan(bytes, baseOffset: UInt64(input[0] >> 1), verify: input[0] & 1 == 0, indexInterval: 64)
            XCTAssertLessThanOrEqual(s.validBytes, s.fileBytes, name)
            XCTAssertEqual(s.problem == nil, s.validBytes == s.fileBytes, name)
            records += s.records
        }
        XCTAssertGreaterThan(records, 10, "the corpus holds well-formed segments")
    }
}
