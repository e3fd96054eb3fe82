import Foundation
import Metrics
import XCTest
@testable import Pipeline

/// The dashboard (live aggregates) and the lake / warehouse (delivery's enrichment) must classify
/// the same event the same way: channel, device, browser family and bot flag. Both go through
/// `TrafficClassifier`; this holds them to it on simulated traffic and on hand-made edge cases
/// (escaped strings, internal referrers, UTM without medium, bots, missing agents).
final class LiveDeliveryAgreementTests: XCTestCase {
    static let edgeCases: [String] = [
        #"{"site_id":"a","type":"page_view","url":"https://s.example/x","referrer":"https://S.Example/y"}"#,
        #"{"site_id":"a","type":"page_view","url":"https://s.example/?utm_source=google","referrer":"https://blog.example.org/"}"#,
        #"{"site_id":"a","type":"page_view","url":"https://s.example/?utm_medium=cpc&utm_source=facebook"}"#,
        #"{"site_id":"a","type":"page_view","url":"https:\/\/s.example\/?utm_medium=Email","ua":"Mozilla\/5.0 (iPad; CPU OS 17_0) Safari\/604.1 Version\/17.0"}"#,
        #"{"site_id":"a","type":"page_view","url":"/rel?utm_campaign=x","referrer":"android-app://com.google.android.gm/"}"#,
        #"{"site_id":"a","type":"page_view","ua":"","referrer":"https://www.bing.com/search?q=x"}"#,
        #"{"site_id":"a","type":"page_view","ua":"python-requests/2.31","url":"https://s.example/?utm_medium=paid-social"}"#,
        #"{"site_id":"a","type":"page_view","ua":"Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 SamsungBrowser/25.0 Chrome/121.0 Safari/537.36"}"#,
        #"{"site_id":"a","type":"page_view","ua":"Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0 Safari/537.36","referrer":"https://t.co/abc"}"#,
    ]

    func testLiveAggregatesAndLakeClassifyEveryEventAlike() throws {
        let t0 = Int64(Date().timeIntervalSince1970 * 1000)
        let edge = Self.edgeCases.map { Array(("{\"ts\":\(t0)," + $0.dropFirst()).utf8) }
        let records = simulatedRecords(10_000, after: edge, sites: 40, seed: 9, nowMs: t0)
        let parser = EventParser()
        let feeder = LiveFeeder()
        var enricher = Enricher()
        var evs: [ParsedEvent] = [], errs: [RecordError] = []
        var line: [UInt8] = []
        var compared = 0
        var channels = Set<String>(), devices = Set<String>()
        for (i, rec) in records.enumerated() {
            evs.removeAll(); errs.removeAll(); line.removeAll(keepingCapacity: true)
            try rec.withUnsafeBytes { raw in
                _ = parser.parseRecords(raw, nowMs: t0, events: &evs, errors: &errs)
                guard let e = evs.first else { return XCTFail("record \(i) did not parse: \(errs)") }
                let origin = RecordOrigin(arrivalMs: t0, shardId: Array("shardId-000000000000".utf8), seq: Array("\(i + 1)".utf8))
                enricher.enrich(raw, e, origin: origin, out: &line)
                feeder.batch.removeAll()
                feeder.append(e, arrivalMs: t0, origin: raw)
                let live = try XCTUnwrap(feeder.batch.events.first)
                let lake = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
                let group = try XCTUnwrap(ChannelGroup(rawValue: lake["channel"] as? String ?? ""), "channel of \(i)")
                let isBot = lake["is_bot"] as? Bool ?? false
                let device = lake["device"] as? String ?? ""
                let expectedDevice: DeviceClass = isBot ? .other : device == "mobile" ? .mobile : device == "tablet" ? .tablet : .desktop
                let what = "record \(i): \(String(decoding: rec, as: UTF8.self))"
                XCTAssertEqual(live.channel, group.live.rawValue, what)
                XCTAssertEqual(live.isBot, isBot, what)
                XCTAssertEqual(live.device, expectedDevice.rawValue, what)
                XCTAssertEqual(BrowserFamily(rawValue: live.browser)?.name, Self.family(lake["browser"] as? String), what)
                channels.insert(group.rawValue); devices.insert(device)
                compared += 1
            }
        }
        XCTAssertEqual(compared, records.count)
        XCTAssertGreaterThanOrEqual(channels.count, 6, "the traffic exercised most channel groups: \(channels)")
        XCTAssertGreaterThanOrEqual(devices.count, 3, "and several device classes: \(devices)")
    }

    static func family(_ browser: String?) -> String {
        switch browser {
        case "Chrome": "chrome"
        case "Safari": "safari"
        case "Firefox": "firefox"
        case "Edge": "edge"
        case "Samsung Internet": "samsung"
        case "Opera": "opera"
        default: "other"
        }
    }
}
