import Foundation
import HTTPTypes
import Hummingbird
import XCTest
@testable import Pipeline

/// In-process: the Kinesis and Firehose APIs, their shapes and their `__type` errors.
final class CollectorKinesisTests: XCTestCase {
    func call(_ c: RouterTestClient, _ f: CollectorFixture, _ op: String, _ obj: [String: Any],
              prefix: String = "Kinesis_20131202", headers: HTTPFields? = nil) async throws -> (HTTPResponse.Status, [String: Any]) {
        let body = Array(try JSONSerialization.data(withJSONObject: obj))
        let h = headers ?? f.awsHeaders(target: "\(prefix).\(op)", body: body)
        return try await c.execute(uri: "/", method: .post, headers: h, body: ByteBuffer(bytes: body)) { r in (r.status, json(r.body)) }
    }

    func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }

    func testPutRecordsAndReadBackWithEveryIteratorType() async throws {
        let f = try CollectorFixture(self)
        try await f.app.test(.router) { c in
            var (st, j) = try await call(c, f, "CreateStream", ["StreamName": "orders", "ShardCount": 1])
            XCTAssertEqual(st, .ok, "\(j)")
            (st, j) = try await call(c, f, "CreateStream", ["StreamName": "orders", "ShardCount": 1])
            XCTAssertEqual(j["__type"] as? String, "ResourceInUseException")
            (st, j) = try await call(c, f, "PutRecord", ["StreamName": "orders", "Data": b64("first"), "PartitionKey": "k"])
            XCTAssertEqual(st, .ok)
            let seq1 = try XCTUnwrap(j["SequenceNumber"] as? String)
            XCTAssertEqual(j["ShardId"] as? String, "shardId-000000000000")
            (st, j) = try await call(c, f, "PutRecords", ["StreamName": "orders", "Records": (0..<3).map { ["Data": b64("r\($0)"), "PartitionKey": "k\($0)"] }])
            XCTAssertEqual(j["FailedRecordCount"] as? Int, 0)
            XCTAssertEqual((j["Records"] as? [[String: Any]])?.count, 3)

            func read(_ type: String, _ extra: [String: Any] = [:]) async throws -> [String] {
                var req: [String: Any] = ["StreamName": "orders", "ShardId": "shardId-000000000000", "ShardIteratorType": type]
                req.merge(extra) { $1 }
                let (s1, it) = try await call(c, f, "GetShardIterator", req)
                XCTAssertEqual(s1, .ok, "\(it)")
                let (_, recs) = try await call(c, f, "GetRecords", ["ShardIterator": it["ShardIterator"] as? String ?? ""])
                XCTAssertNotNil(recs["NextShardIterator"] as? String)
                XCTAssertEqual(recs["MillisBehindLatest"] as? Int, 0)
                return (recs["Records"] as? [[String: Any]] ?? []).map { String(decoding: Data(base64Encoded: $0["Data"] as! String)!, as: UTF8.self) }
            }
            let trim = try await read("TRIM_HORIZON")
            XCTAssertEqual(trim, ["first", "r0", "r1", "r2"])
            let latest = try await read("LATEST")
            XCTAssertEqual(latest, [])
            let at = try await read("AT_SEQUENCE_NUMBER", ["StartingSequenceNumber": seq1])
            XCTAssertEqual(at.first, "first")
            let after = try await read("AFTER_SEQUENCE_NUMBER", ["StartingSequenceNumber": seq1])
            XCTAssertEqual(after, ["r0", "r1", "r2"])
            let ts = try await read("AT_TIMESTAMP", ["Timestamp": Date().timeIntervalSince1970 - 60])
            XCTAssertEqual(ts.count, 4)
        }
    }

    func testErrorsHaveTheDocumentedTypes() async throws {
        let f = try CollectorFixture(self)
        try await f.app.test(.router) { c in
            var (st, j) = try await call(c, f, "PutRecord", ["StreamName": "nope", "Data": b64("x"), "PartitionKey": "k"])
            XCTAssertEqual(st, .badRequest); XCTAssertEqual(j["__type"] as? String, "ResourceNotFoundException")
            (st, j) = try await call(c, f, "PutRecords", ["StreamName": "clickstream", "Records": (0..<501).map { _ in ["Data": b64("x"), "PartitionKey": "k"] }])
            XCTAssertEqual(j["__type"] as? String, "ValidationException")
            XCTAssertTrue((j["message"] as? String ?? "").contains("less than or equal to 500"))
            (st, j) = try await call(c, f, "PutRecord", ["StreamName": "clickstream", "Data": b64("x"), "PartitionKey": ""])
            XCTAssertEqual(j["__type"] as? String, "ValidationException")
            (st, j) = try await call(c, f, "GetRecords", ["ShardIterator": "bogus"])
            XCTAssertEqual(j["__type"] as? String, "InvalidArgumentException")
            (st, j) = try await call(c, f, "GetShardIterator", ["StreamName": "clickstream", "ShardId": "shardId-000000000000", "ShardIteratorType": "AT_SEQUENCE_NUMBER"])
            XCTAssertEqual(j["__type"] as? String, "InvalidArgumentException")
            (st, j) = try await call(c, f, "Frobnicate", [:])
            XCTAssertEqual(j["__type"] as? String, "UnknownOperationException")
            (st, j) = try await call(c, f, "PutRecord", ["StreamName": "bad name!", "Data": b64("x"), "PartitionKey": "k"])
            XCTAssertEqual(j["__type"] as? String, "ValidationException")
        }
    }

    func testSignatureProblems() async throws {
        let f = try CollectorFixture(self)
        try await f.app.test(.router) { c in
            let body = Array(#"{"StreamName":"clickstream"}"#.utf8)
            var (st, j) = try await call(c, f, "ListShards", [:], headers: [.contentType: "application/x-amz-json-1.1",
                                                                              HTTPField.Name("X-Amz-Target")!: "Kinesis_20131202.ListShards"])
            XCTAssertEqual(j["__type"] as? String, "MissingAuthenticationTokenException")
            _ = st
            let wrongSecret = f.awsHeaders(target: "Kinesis_20131202.ListShards", body: body, secret: "wrong")
            j = try await c.execute(uri: "/", method: .post, headers: wrongSecret, body: ByteBuffer(bytes: body)) { json($0.body) }
            XCTAssertEqual(j["__type"] as? String, "InvalidSignatureException")
            let unknown = f.awsHeaders(target: "Kinesis_20131202.ListShards", body: body, accessKey: "AKIAUNKNOWN")
            j = try await c.execute(uri: "/", method: .post, headers: unknown, body: ByteBuffer(bytes: body)) { json($0.body) }
            XCTAssertEqual(j["__type"] as? String, "UnrecognizedClientException")
            let stale = f.awsHeaders(target: "Kinesis_20131202.ListShards", body: body, nowMs: Int64(Date().timeIntervalSince1970 * 1000) - 10 * 60_000)
            j = try await c.execute(uri: "/", method: .post, headers: stale, body: ByteBuffer(bytes: body)) { json($0.body) }
            XCTAssertEqual(j["__type"] as? String, "InvalidSignatureException")
            XCTAssertTrue((j["message"] as? String ?? "").contains("Signature expired"))
            // Body changed after signing.
            let h = f.awsHeaders(target: "Kinesis_20131202.ListShards", body: body)
            j = try await c.execute(uri: "/", method: .post, headers: h, body: bytes(#"{"StreamName":"other"}"#)) { json($0.body) }
            XCTAssertEqual(j["__type"] as? String, "InvalidSignatureException")
            (st, j) = try await c.execute(uri: "/", method: .post, headers: [.contentType: "application/x-amz-cbor-1.1",
                                                                           HTTPField.Name("X-Amz-Target")!: "Kinesis_20131202.PutRecord"],
                                          body: bytes("x")) { ($0.status, json($0.body)) }
            XCTAssertEqual(st, .badRequest)
            XCTAssertTrue((j["message"] as? String ?? "").contains("AWS_CBOR_DISABLE"))
        }
    }

    func testListSplitMergeUpdateAndDescribe() async throws {
        let f = try CollectorFixture(self)
        try await f.app.test(.router) { c in
            var (_, j) = try await call(c, f, "ListStreams", [:])
            XCTAssertEqual(j["StreamNames"] as? [String], ["clickstream"])
            (_, j) = try await call(c, f, "ListShards", ["StreamName": "clickstream"])
            let shards = j["Shards"] as? [[String: Any]] ?? []
            XCTAssertEqual(shards.count, 2)
            let range = shards[0]["HashKeyRange"] as? [String: String] ?? [:]
            XCTAssertEqual(range["StartingHashKey"], "0")
            var st: HTTPResponse.Status
            (st, j) = try await call(c, f, "SplitShard", ["StreamName": "clickstream", "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": "1000"])
            XCTAssertEqual(st, .ok, "\(j)")
            (_, j) = try await call(c, f, "DescribeStream", ["StreamName": "clickstream"])
            let desc = j["StreamDescription"] as? [String: Any] ?? [:]
            XCTAssertEqual((desc["Shards"] as? [[String: Any]])?.count, 4)
            XCTAssertEqual(desc["StreamStatus"] as? String, "ACTIVE")
            let kids = (desc["Shards"] as? [[String: Any]] ?? []).filter { $0["ParentShardId"] as? String == "shardId-000000000000" }
            XCTAssertEqual(kids.count, 2)
            (_, j) = try await call(c, f, "DescribeStreamSummary", ["StreamName": "clickstream"])
            XCTAssertEqual((j["StreamDescriptionSummary"] as? [String: Any])?["OpenShardCount"] as? Int, 3)
            (st, j) = try await call(c, f, "MergeShards", ["StreamName": "clickstream", "ShardToMerge": "shardId-000000000002", "AdjacentShardToMerge": "shardId-000000000003"])
            XCTAssertEqual(st, .ok, "\(j)")
            (st, j) = try await call(c, f, "SplitShard", ["StreamName": "clickstream", "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": "5"])
            XCTAssertEqual(j["__type"] as? String, "ResourceInUseException", "a closed shard cannot split")
            (st, j) = try await call(c, f, "UpdateShardCount", ["StreamName": "clickstream", "TargetShardCount": 4, "ScalingType": "UNIFORM_SCALING"])
            XCTAssertEqual(st, .ok, "\(j)")
            XCTAssertEqual(j["TargetShardCount"] as? Int, 4)
        }
    }

    func testFirehosePutRecordBatchValidatesEachRecord() async throws {
        let f = try CollectorFixture(self)
        try await f.app.test(.router) { c in
            let good = f.event(site: "a") + "\n" + f.event(site: "b")
            let (st, j) = try await call(c, f, "PutRecordBatch", ["DeliveryStreamName": "clickstream",
                "Records": [["Data": b64(good)], ["Data": b64("{broken")]]], prefix: "Firehose_20150804")
            XCTAssertEqual(st, .ok, "\(j)")
            XCTAssertEqual(j["FailedPutCount"] as? Int, 1)
            let rr = j["RequestResponses"] as? [[String: Any]] ?? []
            XCTAssertNotNil(rr[0]["RecordId"] as? String)
            XCTAssertEqual(rr[1]["ErrorCode"] as? String, "InvalidArgumentException")
            let (_, one) = try await call(c, f, "PutRecord", ["DeliveryStreamName": "clickstream", "Record": ["Data": b64(f.event())]], prefix: "Firehose_20150804")
            XCTAssertNotNil(one["RecordId"] as? String)
            let (_, nf) = try await call(c, f, "PutRecord", ["DeliveryStreamName": "nope", "Record": ["Data": b64(f.event())]], prefix: "Firehose_20150804")
            XCTAssertEqual(nf["__type"] as? String, "ResourceNotFoundException")
        }
        XCTAssertEqual(try f.storedRecords().count, 3)
    }

    func testThrottledShardGivesPerRecordFailuresAnd429() async throws {
        let f = try CollectorFixture(self) { $0.shardWriteLimits = ShardWriteLimits(recordsPerSec: 5, bytesPerSec: 1 << 20); $0.shards = 1 }
        try await f.app.test(.router) { c in
            let (st, j) = try await call(c, f, "PutRecords", ["StreamName": "clickstream", "Records": (0..<20).map { ["Data": b64("x\($0)"), "PartitionKey": "k\($0)"] }])
            XCTAssertEqual(st, .ok)
            XCTAssertGreaterThan(j["FailedRecordCount"] as? Int ?? 0, 0)
            let failed = (j["Records"] as? [[String: Any]] ?? []).compactMap { $0["ErrorCode"] as? String }
            XCTAssertTrue(failed.allSatisfy { $0 == "ProvisionedThroughputExceededException" })
            let body = (0..<20).map { _ in f.event() }.joined(separator: "\n")
            try await c.execute(uri: "/v1/events", method: .post, headers: [.authorization: "Bearer \(f.relayKey)"], body: bytes(body)) { r in
                XCTAssertEqual(r.status, .tooManyRequests)
                XCTAssertEqual(r.headers[.retryAfter], "1")
            }
        }
    }

    func testSigV4MatchesAWSReferenceVector() {
        // From the AWS SigV4 test suite "get-vanilla" (service "service", region us-east-1).
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        let v = SigV4Verifier(secrets: ["AKIDEXAMPLE": secret])
        let headers: [String: String] = [
            "host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z",
            "authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ]
        let now = SigV4Verifier.parseAmzDate("20150830T123600Z")!
        XCTAssertNoThrow(try v.verify(method: "GET", path: "/", query: "", headers: { headers[$0] }, body: [], nowMs: now))
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
