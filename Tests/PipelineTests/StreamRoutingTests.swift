import XCTest
@testable import Pipeline

final class StreamRoutingTests: XCTestCase {
    func testMD5OfPartitionKeysMatchesKnownVectors() {
        // Vectors from python3 hashlib.md5(key).hexdigest() and int(…, 16).
        XCTAssertEqual(HashKey.md5(of: "").hex, "d41d8cd98f00b204e9800998ecf8427e")
        XCTAssertEqual(HashKey.md5(of: "abc").hex, "900150983cd24fb0d6963f7d28e17f72")
        XCTAssertEqual(HashKey.md5(of: "a").description, "16955237001963240173058271559858726497")
        XCTAssertEqual(HashKey.md5(of: "user-42").description, "157107139746365290205026809710278036035")
        XCTAssertEqual(HashKey.md5(of: "session-7f3a").description, "236194382541590453129314510416669433494")
    }

    func testDecimalHashKeysRoundTripAndRejectBadInput() {
        XCTAssertEqual(HashKey(decimal: "340282366920938463463374607431768211455"), HashKey.max)
        XCTAssertNil(HashKey(decimal: "340282366920938463463374607431768211456"), "2^128 is out of range")
        XCTAssertNil(HashKey(decimal: "01"))
        XCTAssertNil(HashKey(decimal: "-1"))
        XCTAssertNil(HashKey(decimal: ""))
        XCTAssertEqual(HashKey(decimal: "0"), .zero)
        let k = HashKey(decimal: "113427455640312821154458202477256070485")!
        XCTAssertEqual(k.description, "113427455640312821154458202477256070485")
    }

    func testEvenSplitMatchesKinesisBoundaries() {
        // step = floor(2^128 / N); shard i = [i·step, (i+1)·step − 1]; last ends at 2^128 − 1.
        let four = HashLayout.evenRanges(count: 4)
        XCTAssertEqual(four.map { $0.start.description }, ["0", "85070591730234615865843651857942052864",
                                                          "170141183460469231731687303715884105728",
                                                          "255211775190703847597530955573826158592"])
        XCTAssertEqual(four[0].end.description, "85070591730234615865843651857942052863")
        XCTAssertEqual(four[3].end, .max)
        let three = HashLayout.evenRanges(count: 3)
        XCTAssertEqual(three[1].start.description, "113427455640312821154458202477256070485")
        XCTAssertEqual(three[2].start.description, "226854911280625642308916404954512140970")
        XCTAssertEqual(three[2].end, .max)
        XCTAssertEqual(HashLayout.evenRanges(count: 1)[0].end, .max)
    }

    func testSequenceNumbersEncodeShardAndOffsetAndOrder() {
        let a = SequenceNumber(shardIndex: 3, offset: 42)
        XCTAssertEqual(a.description, "400000000000000000042")
        XCTAssertEqual(SequenceNumber("400000000000000000042"), a)
        XCTAssertEqual(SequenceNumber(SequenceNumber(shardIndex: 12, offset: .max).description)?.offset, .max)
        XCTAssertNil(SequenceNumber("0"))
        XCTAssertNil(SequenceNumber("12x00000000000000000001"))
        let b = SequenceNumber(shardIndex: 3, offset: 43)
        XCTAssertLessThan(a.description, b.description)
        XCTAssertEqual(ShardID.make(7), "shardId-000000000007")
        XCTAssertEqual(ShardID.index(of: "shardId-000000000007"), 7)
        XCTAssertNil(ShardID.index(of: "shard-7"))
    }

    func testRecordsGoToTheShardWhoseRangeHoldsTheirHash() async throws {
        let dir = makeStreamTempDir(self)
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 4))
        defer { s.close() }
        // MD5("abc") ≈ 0.5625·2^128 → shard 2; MD5("a") → shard 0; MD5("") → shard 3; user-42 → 1.
        XCTAssertEqual(s.shardId(forPartitionKey: "abc"), "shardId-000000000002")
        XCTAssertEqual(s.shardId(forPartitionKey: "a"), "shardId-000000000000")
        XCTAssertEqual(s.shardId(forPartitionKey: "user-42"), "shardId-000000000001")
        // Explicit hash keys at the exact boundaries.
        XCTAssertEqual(s.shardId(forPartitionKey: "x", explicitHashKey: HashKey(decimal: "85070591730234615865843651857942052863")), "shardId-000000000000")
        XCTAssertEqual(s.shardId(forPartitionKey: "x", explicitHashKey: HashKey(decimal: "85070591730234615865843651857942052864")), "shardId-000000000001")
        XCTAssertEqual(s.shardId(forPartitionKey: "x", explicitHashKey: .max), "shardId-000000000003")
        var b = RecordBatch()
        b.append(data: "one", partitionKey: "abc")
        b.append(data: "two", partitionKey: "x", explicitHashKey: .zero)
        b.append(data: "bad", partitionKey: "")
        let r = try await s.append(b)
        XCTAssertEqual(r[0].shardId, "shardId-000000000002")
        XCTAssertEqual(r[1].shardId, "shardId-000000000000")
        XCTAssertEqual(r[2].error, .invalidArgument)
        XCTAssertEqual(r[0].sequenceNumber?.description, "300000000000000000000")
        // shards.json exists and is consistent.
        let map = try ShardMap.load(path: dir + "/stream/clickstream/shards.json")
        XCTAssertEqual(map.shards.count, 4)
        XCTAssertEqual(map.problems(), [])
    }
}

final class StreamPartitionKeyTests: XCTestCase {
    func testDefaultPartitionKeyIsSessionThenUserThenSite() {
        let r = PartitionKeyRule()
        XCTAssertEqual(r.key(in: #"{"site_id":"shop-1","user_id":"u9","session_id":"s-77","type":"click"}"#), "s-77")
        XCTAssertEqual(r.key(in: #"{"site_id":"shop-1", "user_id" : "u9"}"#), "u9")
        XCTAssertEqual(r.key(in: #"{"site_id":"shop-1","session_id":null}"#), "shop-1")
        XCTAssertEqual(r.key(in: #"{"site_id": 42}"#), "42")
        XCTAssertNil(r.key(in: #"{"type":"click"}"#))
        XCTAssertEqual(PartitionKeyRule(fields: ["type"]).key(in: #"{"type":"click"}"#), "click")
    }
}

final class StreamBatchValidationTests: XCTestCase {
    func testMalformedEntriesFailOneByOneWithoutCrashing() async throws {
        let dir = makeStreamTempDir(self)
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 2))
        defer { s.close() }
        var b = makeBatch(2)
        b.entries.append(.init(dataStart: Int.max - 1, dataCount: 10, keyStart: 0, keyCount: 1))
        b.entries.append(.init(dataStart: 0, dataCount: 1, keyStart: 5, keyCount: Int.max))
        b.entries.append(.init(dataStart: -3, dataCount: 1, keyStart: 0, keyCount: 1))
        b.append(data: [UInt8](repeating: 1, count: (1 << 20) + 1), partitionKey: "big")
        b.append(data: "ok", partitionKey: String(repeating: "k", count: 257))
        let r = try await s.append(b)
        XCTAssertEqual(r.count, 7)
        XCTAssertTrue(r[0].succeeded && r[1].succeeded)
        XCTAssertEqual(r[2...].map { $0.error }, Array(repeating: StreamError.Code.invalidArgument, count: 5))
        XCTAssertNotNil(r[5].errorMessage)
        let empty = try await s.append(RecordBatch())
        XCTAssertTrue(empty.isEmpty)
        XCTAssertEqual(try s.read(shardId: "shardId-000000000000", from: 0, maxRecords: 10, maxBytes: .max).count
                       + (try s.read(shardId: "shardId-000000000001", from: 0, maxRecords: .max, maxBytes: .max).count), 2)
    }
}
