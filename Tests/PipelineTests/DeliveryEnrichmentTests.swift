import Foundation
import XCTest
@testable import Pipeline

final class DeliveryEnrichmentTests: XCTestCase {
    /// Enriches one event and returns the output line decoded.
    func enrich(_ event: String, arrival: Int64 = deliveryT0) throws -> [String: Any] {
        let body = Array(event.utf8)
        let parsed = EventParser().parse(body, nowMs: arrival)
        XCTAssertEqual(parsed.errors, [], event)
        var out: [UInt8] = []
        var e = Enricher()
        body.withUnsafeBytes { raw in
            let ev = parsed.events[0]
            let rec = UnsafeRawBufferPointer(rebasing: raw[Int(ev.recordStart)..<Int(ev.recordStart + ev.recordCount)])
            var shifted = ev
            for kp in [\ParsedEvent.siteId, \.type, \.eventId, \.sessionId, \.userId, \.anonId, \.url, \.referrer, \.title, \.ua, \.ip, \.lang, \.screen, \.country, \.currency]
            where shifted[keyPath: kp].isPresent { shifted[keyPath: kp].start -= ev.recordStart }
            e.enrich(rec, shifted, origin: RecordOrigin(arrivalMs: arrival, shardId: Array("shardId-000000000001".utf8), seq: Array("200000000000000000005".utf8)), out: &out)
        }
        XCTAssertEqual(out.last, 0x0A)
        XCTAssertEqual(out.filter { $0 == 0x0A }.count, 1)
        return try JSONSerialization.jsonObject(with: Data(out.dropLast())) as! [String: Any]
    }

    /// The enricher writes channel names from `jsonString` (no String per event); the warehouse,
    /// the dashboard and the docs know them by `rawValue`. The two lists must agree.
    func testEveryChannelsJSONNameIsItsRawValueQuoted() {
        for c in ChannelGroup.allCases {
            XCTAssertEqual(c.jsonString.withUTF8Buffer { String(decoding: $0, as: UTF8.self) }, "\"\(c.rawValue)\"")
        }
    }

    func testEnrichedLineKeepsOriginalFieldsAndAddsTheContractFields() throws {
        let o = try enrich(#"{"site_id":"shop","type":"page_view","ts":"2025-11-26T09:00:00.250Z","url":"https://Shop.Example:8443/a/b?utm_source=google&utm_medium=cpc&utm_campaign=black%20friday&x=1#top","referrer":"https://www.google.co.jp/search?q=x","ua":"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1","ip":"198.51.100.23","country":"jp","props":{"a":"}"}}"#)
        XCTAssertEqual(o["site_id"] as? String, "shop")
        XCTAssertEqual(o["ts"] as? Int, 1_764_147_600_250, "RFC 3339 ts normalised to epoch ms")
        XCTAssertEqual(o["ip"] as? String, "198.51.100.0")
        XCTAssertEqual(o["event_id"] as? String, "shardId-000000000001-200000000000000000005")
        XCTAssertEqual(o["arrival_ms"] as? Int, Int(deliveryT0))
        XCTAssertEqual(o["seq"] as? String, "200000000000000000005")
        XCTAssertEqual(o["shard"] as? String, "shardId-000000000001")
        XCTAssertEqual(o["url_host"] as? String, "shop.example")
        XCTAssertEqual(o["url_path"] as? String, "/a/b")
        XCTAssertEqual(o["url_query"] as? String, "utm_source=google&utm_medium=cpc&utm_campaign=black%20friday&x=1")
        XCTAssertEqual(o["utm_source"] as? String, "google")
        XCTAssertEqual(o["utm_medium"] as? String, "cpc")
        XCTAssertEqual(o["utm_campaign"] as? String, "black friday")
        XCTAssertTrue(o["utm_term"] is NSNull)
        XCTAssertEqual(o["ref_host"] as? String, "www.google.co.jp")
        XCTAssertEqual(o["channel"] as? String, "Paid Search")
        XCTAssertEqual(o["browser"] as? String, "Safari")
        XCTAssertEqual(o["browser_version"] as? String, "18.1")
        XCTAssertEqual(o["os"] as? String, "iOS")
        XCTAssertEqual(o["device"] as? String, "mobile")
        XCTAssertEqual(o["is_bot"] as? Bool, false)
        XCTAssertTrue(o["bot_reason"] is NSNull)
        XCTAssertEqual(o["geo_country"] as? String, "JP", "no MaxMind database: the event's own country")
        XCTAssertEqual((o["props"] as? [String: Any])?["a"] as? String, "}")
        let fp = o["fingerprint"] as! String
        XCTAssertEqual(fp.count, 16)
        XCTAssertTrue(fp.allSatisfy { "0123456789abcdef".contains($0) })
    }

    func testFingerprintChangesWithTheDayAndIsStableWithinIt() throws {
        let e = #"{"site_id":"s","type":"t","ts":1764147600000,"ua":"x","ip":"1.2.3.4"}"#
        let a = try enrich(e)["fingerprint"] as! String
        let b = try enrich(e)["fingerprint"] as! String
        let c = try enrich(e.replacingOccurrences(of: "1764147600000", with: "1764234000000"), arrival: deliveryT0 + 86_400_000)["fingerprint"] as! String
        let d = try enrich(e.replacingOccurrences(of: "1.2.3.4", with: "1.2.3.5"))["fingerprint"] as! String
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertNotEqual(a, d, "the full IP, not the truncated one, goes into the fingerprint")
    }

    func testMissingFieldsBecomeNullAndEscapedStringsSurvive() throws {
        let o = try enrich(#"{"site_id":"s","type":"t","ts":1764147600000,"url":"/p?q=\"x\"","country":"zz1"}"#)
        XCTAssertEqual(o["url_path"] as? String, "/p")
        XCTAssertEqual(o["url_query"] as? String, "q=\"x\"")
        XCTAssertTrue(o["url_host"] is NSNull)
        XCTAssertTrue(o["ref_host"] is NSNull)
        XCTAssertEqual(o["channel"] as? String, "Direct")
        XCTAssertTrue(o["geo_country"] is NSNull)
        XCTAssertEqual(o["is_bot"] as? Bool, true)
        XCTAssertEqual(o["bot_reason"] as? String, "empty user agent")
        XCTAssertNil(o["ip"])
    }

    func testChannelGroupingTable() throws {
        let page = "https://shop.example/"
        let cases: [(url: String, ref: String?, want: String)] = [
            (page, nil, "Direct"),
            (page, "https://shop.example/cart", "Direct"),
            (page, "https://www.google.com/", "Organic Search"),
            (page, "https://search.naver.com/", "Organic Search"),
            (page, "https://duckduckgo.com/", "Organic Search"),
            (page + "?utm_source=google&utm_medium=cpc", "https://www.google.com/", "Paid Search"),
            (page + "?utm_medium=ppc", nil, "Paid Search"),
            (page + "?utm_medium=paidsearch", nil, "Paid Search"),
            (page + "?utm_source=facebook&utm_medium=paid_social", "https://www.facebook.com/", "Paid Social"),
            (page + "?utm_medium=paidsocial", nil, "Paid Social"),
            (page + "?utm_source=facebook&utm_medium=cpc", nil, "Paid Social"),
            (page, "https://www.facebook.com/", "Organic Social"),
            (page, "https://t.co/abc", "Organic Social"),
            (page, "https://www.reddit.com/r/x", "Organic Social"),
            (page + "?utm_source=newsletter&utm_medium=email", nil, "Email"),
            (page + "?utm_medium=display", nil, "Display"),
            (page + "?utm_medium=banner", nil, "Display"),
            (page + "?utm_medium=cpm", nil, "Display"),
            (page + "?utm_medium=affiliate", nil, "Affiliates"),
            (page, "https://news.ycombinator.com/", "Referral"),
            (page + "?utm_source=partner", nil, "Unassigned"),
            (page + "?utm_medium=weird", "https://news.ycombinator.com/", "Unassigned"),
        ]
        for c in cases {
            let ref = c.ref.map { #","referrer":"\#($0)""# } ?? ""
            let o = try enrich(#"{"site_id":"s","type":"t","ts":1764147600000,"url":"\#(c.url)"\#(ref)}"#)
            XCTAssertEqual(o["channel"] as? String, c.want, "\(c.url) ref \(c.ref ?? "-")")
        }
    }

    func testUserAgentTable() {
        let cases: [(String, String?, String?, String?, String, String?)] = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome", "131.0.0.0", "Windows", "desktop", nil),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge", "131.0.0.0", "Windows", "desktop", nil),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "Safari", "18.1", "macOS", "desktop", nil),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox", "133.0", "Windows", "desktop", nil),
            ("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", "Samsung Internet", "26.0", "Android", "mobile", nil),
            ("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.39 Safari/537.36", "Chrome", "131.0.6778.39", "Android", "tablet", nil),
            ("Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "Safari", "18.1", "iOS", "tablet", nil),
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", nil, nil, nil, "bot", "known crawler (googlebot)"),
            ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", nil, nil, nil, "bot", "known crawler (ahrefsbot)"),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "HeadlessChrome", "131.0.0.0", "Linux", "bot", "headless browser (headlesschrome)"),
            ("python-requests/2.32.3", nil, nil, nil, "bot", "http library (python-requests)"),
            ("curl/8.5.0", nil, nil, nil, "bot", "http library (curl)"),
            ("", nil, nil, nil, "bot", "empty user agent"),
        ]
        for (ua, browser, version, os, device, reason) in cases {
            let i = UserAgentInfo.parse(ua)
            XCTAssertEqual(i.browser, browser, ua); XCTAssertEqual(i.version, version, ua); XCTAssertEqual(i.os, os, ua)
            XCTAssertEqual(i.device, device, ua); XCTAssertEqual(i.botReason, reason, ua); XCTAssertEqual(i.isBot, reason != nil, ua)
        }
    }

    func testURLPartsAndIPTruncation() {
        func parts(_ s: String) -> (String?, String?, String?) {
            let b = Array(s.utf8)
            let p = b.withUnsafeBytes { URLParts.parse($0) }
            return (p.host.map { String(decoding: b[$0], as: UTF8.self) }, p.path.map { String(decoding: b[$0], as: UTF8.self) },
                    p.query.map { String(decoding: b[$0], as: UTF8.self) })
        }
        XCTAssertTrue(parts("https://user:pw@a.example:8080/x/y?z=1#f") == ("a.example", "/x/y", "z=1"))
        XCTAssertTrue(parts("//cdn.example/i.png") == ("cdn.example", "/i.png", nil))
        XCTAssertTrue(parts("/only/path?") == (nil, "/only/path", nil))
        XCTAssertTrue(parts("https://h.example") == ("h.example", nil, nil))
        XCTAssertTrue(parts("http://[2001:db8::1]:80/p") == ("[2001:db8::1]", "/p", nil))
        XCTAssertEqual(IPTruncation.truncate("2001:db8:85a3:8d3:1319:8a2e:370:7348"), "2001:db8:85a3::")
        XCTAssertEqual(IPTruncation.truncate("2001:db8::1"), "2001:db8:0::")
        XCTAssertEqual(IPTruncation.truncate("::1"), "0:0:0::")
        XCTAssertNil(IPTruncation.truncate("1.2.3"))
        XCTAssertNil(IPTruncation.truncate("300.1.1.1"))
        XCTAssertEqual(Enricher.truncateIP(Array("10.20.30.40".utf8)).map { String(decoding: $0, as: UTF8.self) }, "10.20.30.0")
        XCTAssertNil(Enricher.truncateIP(Array("not-an-ip".utf8)))
    }
}
