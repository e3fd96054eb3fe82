import XCTest
@testable import Pipeline

final class EventParserTests: XCTestCase {
    let now: Int64 = 1_764_115_200_000 // 2025-11-26T00:00:00Z
    let parser = EventParser()

    func parse(_ s: String) -> ParsedBatch { parser.parse(Array(s.utf8), nowMs: now) }
    func parseBytes(_ b: [UInt8]) -> ParsedBatch { parser.parse(b, nowMs: now) }
    func one(_ s: String, file: StaticString = #filePath, line: UInt = #line) -> RecordError? {
        let b = parse(s)
        XCTAssertEqual(b.recordCount, 1, file: file, line: line)
        return b.errors.first
    }
    let ok = #"{"site_id":"shop-seoul","type":"page_view","ts":1764115100000}"#

    func testAcceptsMinimalEventAndExtractsFields() {
        let b = parse(#"{"site_id":"shop-seoul","type":"page_view","ts":1764115100000,"session_id":"s1","url":"https://x.example/a?b=1","value":12.5,"engagement_ms":900,"scroll_pct":55,"unknown":{"deep":[1,2,{"x":null}]}}"#)
        XCTAssertEqual(b.errors, [])
        XCTAssertEqual(b.events.count, 1)
        let e = b.events[0]
        XCTAssertEqual(b.string(e.siteId), "shop-seoul")
        XCTAssertEqual(b.string(e.type), "page_view")
        XCTAssertEqual(e.tsMs, 1_764_115_100_000)
        XCTAssertEqual(b.string(e.sessionId), "s1")
        XCTAssertEqual(b.string(e.url), "https://x.example/a?b=1")
        XCTAssertEqual(e.value, 12.5)
        XCTAssertEqual(e.engagementMs, 900)
        XCTAssertEqual(e.scrollPct, 55)
        XCTAssertEqual(b.string(e.defaultPartitionKey), "s1")
        XCTAssertEqual(String(decoding: b.recordBytes(e), as: UTF8.self).hasSuffix(#"{"x":null}]}}"#), true)
        XCTAssertNil(b.string(e.eventId))
    }

    func testPartitionKeyFallsBackToUserThenSite() {
        let b = parse(#"{"site_id":"a","type":"click","ts":1764115100000,"user_id":"u9"}"# + "\n" + ok)
        XCTAssertEqual(b.string(b.events[0].defaultPartitionKey), "u9")
        XCTAssertEqual(b.string(b.events[1].defaultPartitionKey), "shop-seoul")
    }

    /// Found by fuzz-events: `"session_id":""` (or one over 256 bytes) became the partition key, and
    /// the stream refused the whole valid event for it. The key passes over such ids instead.
    func testPartitionKeyPassesOverAnEmptyOrOverlongId() async throws {
        let long = String(repeating: "x", count: 257)
        let b = parse(#"{"site_id":"a","type":"click","ts":1764115100000,"session_id":"","user_id":"u9"}"# + "\n"
                      + #"{"site_id":"a","type":"click","ts":1764115100000,"session_id":"\#(long)"}"# + "\n"
                      + #"{"site_id":"a","type":"click","ts":1764115100000,"session_id":"\#(String(long.dropLast()))"}"#)
        XCTAssertEqual(b.events.count, 3)
        XCTAssertEqual(b.string(b.events[0].defaultPartitionKey), "u9")
        XCTAssertEqual(b.string(b.events[1].defaultPartitionKey), "a")
        XCTAssertEqual(b.string(b.events[2].defaultPartitionKey)?.utf8.count, 256)
        let (batch, _, outcome) = EventIngest().prepare(body: Array(b.body), scope: .relay, clientIP: nil, nowMs: now)
        XCTAssertEqual(outcome.failures.count, 0)
        XCTAssertEqual(batch.entries.map(\.keyCount), [2, 1, 256])
        // The stream takes all three (it refuses a key outside 1–256 bytes, as Kinesis does).
        let stream = try ShardedStream(dataDirectory: makeStreamTempDir(self), config: StreamConfig(shardCount: 2, fsync: .never))
        defer { stream.close() }
        let results = try await stream.append(batch)
        XCTAssertEqual(results.map(\.succeeded), [true, true, true], "\(results.compactMap(\.errorMessage))")
    }

    // MARK: every error code

    func testMalformedJSONReportsByteOffset() {
        let e = one(#"{"site_id":"a","type" "click"}"#)
        XCTAssertEqual(e?.code, .malformedJSON)
        XCTAssertEqual(e?.offset, 22)
        XCTAssertTrue(e?.message.contains("byte 22") ?? false, e?.message ?? "")
    }

    func testTruncatedRecord() {
        XCTAssertEqual(one(#"{"site_id":"a","type":"click","ts":17641"#)?.code, .malformedJSON)
        XCTAssertEqual(one(#"{"site_id":"a"#)?.code, .malformedJSON)
    }

    func testInvalidUTF8() {
        var bytes = Array(#"{"site_id":"a","type":"click","ts":1764115100000,"title":"caf"#.utf8)
        bytes += [0xC3, 0x28] + Array(#""}"#.utf8)
        let b = parseBytes(bytes)
        XCTAssertEqual(b.errors.first?.code, .invalidUTF8)
        // Overlong encoding of '/', surrogate encoded in UTF-8, and a byte > 0xF4.
        for bad: [UInt8] in [[0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xE2, 0x82]] {
            let body = Array(#"{"site_id":"a","type":"click","ts":1764115100000,"title":""#.utf8) + bad + Array(#""}"#.utf8)
            XCTAssertEqual(parseBytes(body).errors.first?.code, .invalidUTF8, "\(bad)")
        }
    }

    func testValidMultibyteUTF8AndSurrogatePairs() {
        let b = parse(#"{"site_id":"a","type":"click","ts":1764115100000,"title":"서울 café 🎉 \ud83d\ude00 \u00e9"}"#)
        XCTAssertEqual(b.errors, [])
        XCTAssertEqual(b.string(b.events[0].title), "서울 café 🎉 😀 é")
        XCTAssertTrue(b.events[0].title.escaped)
    }

    func testLoneSurrogateIsInvalid() {
        XCTAssertEqual(one(#"{"site_id":"a","type":"click","ts":1764115100000,"title":"\ud83d x"}"#)?.code, .invalidUTF8)
        XCTAssertEqual(one(#"{"site_id":"a","type":"click","ts":1764115100000,"title":"\ude00"}"#)?.code, .invalidUTF8)
    }

    func testNotAnObject() {
        let b = parse("[1,2]")
        XCTAssertEqual(b.errors.map(\.code), [.notAnObject, .notAnObject])
        XCTAssertEqual(one(#""hello""#)?.code, .notAnObject)
        XCTAssertEqual(one("42")?.code, .notAnObject)
    }

    func testMissingRequiredFields() {
        XCTAssertEqual(one(#"{"type":"click","ts":1764115100000}"#)?.message, "site_id is required")
        XCTAssertEqual(one(#"{"site_id":"a","ts":1764115100000}"#)?.message, "type is required")
        XCTAssertEqual(one(#"{"site_id":"a","type":"click"}"#)?.code, .missingField)
        XCTAssertEqual(one(#"{"site_id":null,"type":"click","ts":1764115100000}"#)?.code, .missingField)
    }

    func testWrongTypes() {
        let e = one(#"{"site_id":5,"type":"click","ts":1764115100000}"#)
        XCTAssertEqual(e?.code, .wrongType)
        XCTAssertEqual(e?.message, "site_id must be a string, not number")
        XCTAssertEqual(one(#"{"site_id":"a","type":["click"],"ts":1764115100000}"#)?.code, .wrongType)
        XCTAssertEqual(one(#"{"site_id":"a","type":"click","ts":true}"#)?.code, .wrongType)
        XCTAssertEqual(one(#"{"site_id":"a","type":"click","ts":1764115100000,"value":"12"}"#)?.code, .wrongType)
        XCTAssertEqual(one(#"{"site_id":"a","type":"click","ts":1764115100000,"url":{}}"#)?.code, .wrongType)
        let p = one(#"{"site_id":"a","type":"click","ts":1764115100000,"props":{"ok":1,"bad":{"x":1}}}"#)
        XCTAssertEqual(p?.code, .wrongType)
        XCTAssertEqual(p?.message, "props.bad must be a scalar, not object")
        XCTAssertNil(one(#"{"site_id":"a","type":"click","ts":1764115100000,"props":{"a":1,"b":"x","c":true,"d":null}}"#))
    }

    func testInvalidSiteIds() {
        for bad in ["", "Shop", "-a", "../etc", "a/b", "a b", String(repeating: "a", count: 65), "ü", #"a\u002fb"#] {
            let e = one(#"{"site_id":""# + bad + #"","type":"click","ts":1764115100000}"#)
            XCTAssertEqual(e?.code, .invalidSiteId, bad)
        }
        for good in ["a", "0", "shop-seoul", "a.b_c-d", String(repeating: "z", count: 64)] {
            XCTAssertNil(one(#"{"site_id":""# + good + #"","type":"click","ts":1764115100000}"#), good)
        }
    }

    func testTimestamps() {
        XCTAssertEqual(one(#"{"site_id":"a","type":"click","ts":1764115100}"#)?.code, .timestampOutOfRange)
        XCTAssertTrue(one(#"{"site_id":"a","type":"click","ts":1764115100}"#)?.message.contains("epoch seconds") ?? false)
        XCTAssertEqual(one(#"{"site_id":"a","type":"click","ts":99999999999999}"#)?.code, .timestampOutOfRange)
        XCTAssertEqual(one(#"{"site_id":"a","type":"click","ts":-5}"#)?.code, .timestampOutOfRange)
        XCTAssertEqual(one(#"{"site_id":"a","type":"click","ts":"yesterday"}"#)?.code, .invalidTimestamp)
        XCTAssertEqual(one(#"{"site_id":"a","type":"click","ts":"2025-02-30T00:00:00Z"}"#)?.code, .invalidTimestamp)
        let b = parse(#"{"site_id":"a","type":"click","ts":"2025-11-25T09:30:00.123+09:00"}"#)
        XCTAssertEqual(b.events.first?.tsMs, 1_764_030_600_123)
        XCTAssertEqual(parse(#"{"site_id":"a","type":"click","ts":"2025-11-25T00:30:00Z"}"#).events.first?.tsMs, 1_764_030_600_000)
        XCTAssertEqual(parse(#"{"site_id":"a","type":"click","ts":1.7641151e12}"#).events.first?.tsMs, 1_764_115_100_000)
        XCTAssertEqual(RFC3339.format(ms: 1_764_030_600_123), "2025-11-25T00:30:00.123Z")
    }

    func testRecordTooLarge() {
        let small = EventParser(limits: { var l = EventLimits(); l.maxRecordBytes = 100; return l }())
        let big = #"{"site_id":"a","type":"click","ts":1764115100000,"title":""# + String(repeating: "x", count: 200) + #""}"#
        XCTAssertEqual(small.parse(Array(big.utf8), nowMs: now).errors.first?.code, .recordTooLarge)
        XCTAssertEqual(small.parse(Array(("[" + big + "]").utf8), nowMs: now).errors.first?.code, .recordTooLarge)
    }

    func testNestingTooDeep() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        let e = one(#"{"site_id":"a","type":"click","ts":1764115100000,"x":"# + deep + "}")
        XCTAssertEqual(e?.code, .nestingTooDeep)
        let fine = String(repeating: "[", count: 20) + String(repeating: "]", count: 20)
        XCTAssertNil(one(#"{"site_id":"a","type":"click","ts":1764115100000,"x":"# + fine + "}"))
    }

    func testControlAndNulBytesInStrings() {
        let e = parseBytes(Array(#"{"site_id":"a","type":"click","ts":1764115100000,"title":"a"#.utf8) + [0] + Array(#""}"#.utf8))
        XCTAssertEqual(e.errors.first?.code, .malformedJSON)
        XCTAssertTrue(e.errors.first?.message.contains("NUL") ?? false)
    }

    func testInvalidTypeNameAndEventId() {
        XCTAssertEqual(one(#"{"site_id":"a","type":"","ts":1764115100000}"#)?.code, .invalidField)
        XCTAssertEqual(one(#"{"site_id":"a","type":"page view","ts":1764115100000}"#)?.code, .invalidField)
        XCTAssertEqual(one(#"{"site_id":"a","type":"click","ts":1764115100000,"event_id":""}"#)?.code, .invalidField)
        XCTAssertEqual(one(#"{"site_id":"a","type":"click","ts":1764115100000,"engagement_ms":-3}"#)?.code, .invalidField)
    }

    // MARK: framing edge cases

    func testNDJSONWhitespaceEmptyLinesAndCRLF() {
        let body = "\n\r\n  " + ok + "\r\n\n\t" + ok + "   \r\n\n"
        let b = parse(body)
        XCTAssertEqual(b.format, .ndjson)
        XCTAssertEqual(b.errors, [])
        XCTAssertEqual(b.events.map(\.index), [0, 1])
    }

    func testNDJSONBadLineRejectsOnlyThatLine() {
        let b = parse(ok + "\n{nope}\n" + ok + "\n" + #"{"site_id":"a","type":"x","ts":1} trailing"# + "\n")
        XCTAssertEqual(b.events.map(\.index), [0, 2])
        XCTAssertEqual(b.errors.map(\.index), [1, 3])
        XCTAssertEqual(b.errors.map(\.code), [.malformedJSON, .malformedJSON])
        XCTAssertEqual(b.errors[0].offset, ok.utf8.count + 2)
    }

    func testArrayFormat() {
        let b = parse(" [ " + ok + " , " + #"{"site_id":"a","type":"click"}"# + "," + ok + " ] ")
        XCTAssertEqual(b.format, .array)
        XCTAssertEqual(b.events.map(\.index), [0, 2])
        XCTAssertEqual(b.errors.map(\.code), [.missingField])
        XCTAssertEqual(parse("[]").recordCount, 0)
    }

    func testBrokenArrayAcceptsNothing() {
        let b = parse("[" + ok + "," + ok + ",{\"site_id\":")
        XCTAssertEqual(b.events.count, 0)
        XCTAssertEqual(b.errors.count, 1)
        XCTAssertEqual(b.errors[0].code, .malformedJSON)
        XCTAssertEqual(parse("[" + ok + "] x").events.count, 0)
        XCTAssertEqual(parse("[" + ok + " " + ok + "]").events.count, 0)
    }

    func testEmptyBodyHasNoRecords() {
        XCTAssertEqual(parse("").recordCount, 0)
        XCTAssertEqual(parse("\n\n  \n").recordCount, 0)
    }

    func testNumbersAndEscapes() {
        let b = parse(#"{"site_id":"a","type":"click","ts":1764115100000,"value":-0.5e1,"scroll_pct":0.05,"title":"q\"\\\/\b\f\n\r\t","x":[0,-0,1e-3,1E+2,12345678901234567890123]}"#)
        XCTAssertEqual(b.errors, [])
        XCTAssertEqual(b.events[0].value, -5)
        XCTAssertEqual(b.events[0].scrollPct, 0.05)
        XCTAssertEqual(b.string(b.events[0].title), "q\"\\/\u{8}\u{c}\n\r\t")
        for bad in ["01", "1.", ".5", "-", "1e", "+1", "0x10", "NaN", "Infinity", "tru", "nul"] {
            XCTAssertEqual(one(#"{"site_id":"a","type":"click","ts":1764115100000,"x":"# + bad + "}")?.code, .malformedJSON, bad)
        }
    }

    func testDuplicateAndEscapedKeys() {
        let b = parse(#"{"site_id":"a","site\u005fid":"b","type":"click","ts":1764115100000}"#)
        XCTAssertEqual(b.string(b.events[0].siteId), "b")
    }

    /// Random events built from random field values round-trip: what goes in comes out.
    func testRandomizedRoundTrip() throws {
        var rng = SplitMix64(seed: 42)
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789 \"\\/\n\t é서울🎉".unicodeScalars)
        var lines: [String] = []
        var expected: [(site: String, title: String, ts: Int64, value: Double)] = []
        for i in 0..<500 {
            let site = "s\(rng.next() % 1000)"
            var title = ""
            for _ in 0..<(rng.next() % 40) { title.unicodeScalars.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
            let ts = 1_700_000_000_000 + Int64(rng.next() % 1_000_000_000)
            let value = Double(Int64(rng.next() % 2_000_000) - 1_000_000) / 100
            let obj: [String: Any] = ["site_id": site, "type": "t\(i % 7)", "ts": ts, "title": title, "value": value,
                                      "props": ["k": i, "s": title], "extra": [1, [2, [3]]]]
            let data = try JSONSerialization.data(withJSONObject: obj)
            lines.append(String(decoding: data, as: UTF8.self))
            expected.append((site, title, ts, value))
        }
        let b = parse(lines.joined(separator: "\n"))
        XCTAssertEqual(b.errors, [])
        XCTAssertEqual(b.events.count, expected.count)
        for (e, x) in zip(b.events, expected) {
            XCTAssertEqual(b.string(e.siteId), x.site)
            XCTAssertEqual(b.string(e.title), x.title)
            XCTAssertEqual(e.tsMs, x.ts)
            XCTAssertEqual(e.value, x.value, accuracy: 1e-9)
        }
    }

    /// Random byte corruption never crashes the parser and never accepts invalid UTF-8.
    func testRandomCorruptionNeverCrashes() {
        var rng = SplitMix64(seed: 7)
        let base = Array((ok + "\n" + ok).utf8)
        for _ in 0..<3000 {
            var b = base
            for _ in 0..<(1 + rng.next() % 4) { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            let r = parseBytes(b)
            XCTAssertEqual(r.recordCount, r.events.count + r.errors.count)
            for e in r.events {
                XCTAssertNotNil(String(validatingCString: r.recordBytes(e).map { CChar(bitPattern: $0) } + [0]))
            }
        }
    }

    /// The examples in docs/EVENTS.md are real: every one parses and validates.
    func testDocumentedExamplesParse() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/EVENTS.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let lines = text.split(separator: "\n").filter { $0.hasPrefix("{\"") }
        XCTAssertGreaterThanOrEqual(lines.count, 7)
        let b = parser.parse(Array(lines.joined(separator: "\n").utf8), nowMs: 1_764_200_000_000)
        XCTAssertEqual(b.errors, [])
        XCTAssertEqual(b.events.count, lines.count)
        XCTAssertEqual(Set(b.events.compactMap { b.string($0.type) }),
                       ["page_view", "click", "scroll", "search", "add_to_cart", "purchase", "video_play"])
    }
}
