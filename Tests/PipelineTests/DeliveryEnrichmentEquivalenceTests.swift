import Foundation
import XCTest
@testable import Pipeline

/// The byte-level, allocation-free enricher must write exactly the bytes the previous enricher
/// (kept as `ReferenceEnricher`) wrote, on simulated traffic and on hand-made edge cases.
final class DeliveryEnrichmentEquivalenceTests: XCTestCase {
    static let edgeCases: [String] = [
        #"{"site_id":"a","type":"t"}"#,
        #"{"site_id":"a","type":"t","ip":"10.0.0.1","ts":"2025-11-26T09:00:00Z"}"#,
        #"{"ts": "2025-11-26T09:00:00.5+01:00", "site_id":"a","type":"t","ip":"2001:db8:1:2::5"}"#,
        #"{"site_id":"a","type":"t","ip":"not-an-ip","ua":"","country":"de"}"#,
        #"{"site_id":"a","type":"t","ip":"1.2.3.400","ua":"-","country":"DEU"}"#,
        #"{"site_id":"a","type":"t","ip":"01.2.3.4","ua":"curl/8.1"}"#,
        #"{"site_id":"a","type":"t","ip":"1.2\u002e3.4","url":"https:\/\/A.example\/p?q=\"x\""}"#,
        #"{"site_id":"a","type":"t","url":"/rel/path?utm_source=news%20letter&utm_medium=Email&utm_campaign=%ZZ&utm_term=a+b&utm_content=%C3%A9"}"#,
        #"{"site_id":"a","type":"t","url":"https://s.example/?utm_medium=cpc&utm_source=facebook","referrer":"https://m.facebook.com/"}"#,
        #"{"site_id":"a","type":"t","url":"https://s.example/?utm_source=google","referrer":"https://S.example/other"}"#,
        #"{"site_id":"a","type":"t","url":"https://s.example/x","referrer":"https://s.example/y"}"#,
        #"{"site_id":"a","type":"t","url":"https://s.example/x","referrer":"android-app://com.google.android.gm/"}"#,
        #"{"site_id":"a","type":"t","url":"//cdn.example:80/a#frag","referrer":"https://user@[::1]:8080/"}"#,
        #"{"site_id":"a","type":"t","url":"https://s.example/?utm_medium=%FF%FE&utm_source=x"}"#,
        #"{"site_id":"a","type":"t","url":"https://s.example/?utm_medium=paid-social-x&utm_source=t.co","event_id":"e1"}"#,
        #"{"site_id":"a","type":"t","ua":"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)","props":{"ts":"x"}}"#,
        #"{"site_id":"a","type":"t","ua":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36"}"#,
        #"{ "site_id" : "a" , "type" : "t" , "ip" : "8.8.8.8" }"#,
        #"{"ts":"2025-11-26T09:00:00Z","site_id":"a","type":"t","ts":1764147600123}"#,
    ]

    func testDecimalAndHexWritersAgreeWithStringFormatting() {
        for v: Int64 in [0, 7, -7, 10, 1_764_147_600_000, -1_764_147_600_000, .max, .min, 99_999, -100_000] {
            var out: [UInt8] = [0x3A]
            out.appendDecimal(v)
            XCTAssertEqual(String(decoding: out, as: UTF8.self), ":" + String(v))
        }
        for v: UInt64 in [0, 1, 0xDEAD_BEEF, .max, 0x0123_4567_89AB_CDEF] {
            var out: [UInt8] = []
            out.appendHex16(v)
            XCTAssertEqual(String(decoding: out, as: UTF8.self), String(repeating: "0", count: 16 - String(v, radix: 16).count) + String(v, radix: 16))
        }
    }

    func testByteLevelEnricherWritesTheSameBytesAsTheReference() {
        // ts is required: every case without its own top-level ts gets a numeric one first.
        let edge: [[UInt8]] = Self.edgeCases.enumerated().map { i, c in
            Array((i == 1 || i == 2 || c.hasPrefix("{\"ts\"") ? c : "{\"ts\":1764147600000," + c.dropFirst()).utf8)
        }
        let records = simulatedRecords(20_000, after: edge, sites: 60, seed: 5, nowMs: deliveryT0)
        let parser = EventParser()
        var new = Enricher(), old = ReferenceEnricher()
        var evs: [ParsedEvent] = [], errs: [RecordError] = []
        var a: [UInt8] = [], b: [UInt8] = []
        // The chunks' LineBuffer sink must get the same bytes as an array, across its growth.
        var chunkEnricher = Enricher()
        var chunk = LineBuffer(), all: [UInt8] = []
        var compared = 0
        for (i, rec) in records.enumerated() {
            evs.removeAll(); errs.removeAll(); a.removeAll(keepingCapacity: true); b.removeAll(keepingCapacity: true)
            rec.withUnsafeBytes { raw in
                _ = parser.parseRecords(raw, nowMs: deliveryT0, events: &evs, errors: &errs)
                guard let e = evs.first else { return }
                let origin = RecordOrigin(arrivalMs: deliveryT0 + Int64(i), shardId: Array("shardId-000000000002".utf8), seq: Array("3000000000000000\(10000 + i)".utf8))
                new.enrich(raw, e, origin: origin, out: &a)
                old.enrich(raw, e, origin: origin, out: &b)
                chunkEnricher.enrich(raw, e, origin: origin, out: &chunk)
                compared += 1
            }
            if a != b {
                XCTFail("record \(i) differs:\n  in:  \(String(decoding: rec, as: UTF8.self))\n  new: \(String(decoding: a, as: UTF8.self))\n  old: \(String(decoding: b, as: UTF8.self))")
                return
            }
            all += a
        }
        XCTAssertEqual(compared, records.count, "every record parsed")
        XCTAssertGreaterThan(chunk.capacity, 1 << 20, "the buffer grew many times")
        XCTAssertEqual(chunk.bytes, all, "a LineBuffer holds exactly what an array does")
    }
}
