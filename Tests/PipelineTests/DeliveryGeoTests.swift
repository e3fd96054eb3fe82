import Foundation
import XCTest
@testable import Pipeline

/// IP → country through a real MaxMind-format database, written at test time by
/// Tests/lake/make_test_mmdb.py (PyPI mmdb-writer). Skipped only when python3 or the package is missing.
final class DeliveryGeoTests: XCTestCase {
    private var dbPath = ""

    override func setUpWithError() throws {
        let dir = makeStreamTempDir(self)
        dbPath = dir + "/test-country.mmdb"
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("lake/make_test_mmdb.py").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, dbPath]
        let err = Pipe()
        p.standardError = err
        do { try p.run() } catch { throw XCTSkip("python3 is not available: \(error)") }
        p.waitUntilExit()
        let why = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        if p.terminationStatus == 3 || p.terminationStatus == 127 { throw XCTSkip("cannot build the test database: \(why)") }
        XCTAssertEqual(p.terminationStatus, 0, why)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dbPath))
    }

    func testLookupAnswersFromTheDatabase() throws {
        let g = try MaxMindCountryLookup(path: dbPath)
        XCTAssertEqual(g.country(ip: "198.51.100.7"), "NZ")
        XCTAssertEqual(g.country(ip: "203.0.113.9"), "AU", "registered_country when the record has no country")
        XCTAssertEqual(g.country(ip: "192.0.2.200"), "IS")
        XCTAssertNil(g.country(ip: "192.0.2.5"), "outside the /25")
        XCTAssertEqual(g.country(ip: "100.100.1.1"), "FI", "upper-cased")
        XCTAssertEqual(g.country(ip: "2001:db8:5::1"), "CH")
        XCTAssertNil(g.country(ip: "10.1.2.3"), "an entry without a country")
        XCTAssertNil(g.country(ip: "8.8.8.8"))
        XCTAssertNil(g.country(ip: "not an ip"))
        XCTAssertNil(g.country(ip: ""))
        XCTAssertEqual(g.countryNetwork(ip: "198.51.100.7").prefixBits, 24, "IPv4 prefix in IPv4 bits, not ::/96 bits")
        XCTAssertEqual(g.countryNetwork(ip: "192.0.2.200").prefixBits, 25)
        XCTAssertEqual(g.countryNetwork(ip: "100.100.1.1").prefixBits, 10)
    }

    func testAMissingOrBrokenDatabaseIsAClearError() throws {
        XCTAssertThrowsError(try MaxMindCountryLookup(path: dbPath + ".missing")) { XCTAssertTrue("\($0)".contains("cannot open MaxMind database"), "\($0)") }
        let junk = dbPath + ".junk"
        try Data("not a database".utf8).write(to: URL(fileURLWithPath: junk))
        XCTAssertThrowsError(try MaxMindCountryLookup(path: junk))
        var c = DeliveryConfig()
        c.geoDatabasePath = dbPath + ".missing"
        XCTAssertEqual(c.problems().count, 1)
        c.geoDatabasePath = dbPath
        XCTAssertEqual(c.problems(), [])
    }

    /// Enriches `events` (one record each) with one enricher and returns the decoded lines.
    private func enrich(_ events: [String], _ e: inout Enricher) throws -> [[String: Any]] {
        let parser = EventParser()
        var out: [UInt8] = []
        var evs: [ParsedEvent] = [], errs: [RecordError] = []
        for (i, s) in events.enumerated() {
            let rec = Array(s.utf8)
            evs.removeAll(); errs.removeAll()
            rec.withUnsafeBytes { raw in
                _ = parser.parseRecords(raw, nowMs: deliveryT0, events: &evs, errors: &errs)
                if let ev = evs.first {
                    e.enrich(raw, ev, origin: RecordOrigin(arrivalMs: deliveryT0, shardId: Array("shardId-000000000000".utf8), seq: Array("1000000000000000000\(10 + i)".utf8)), out: &out)
                }
            }
            XCTAssertEqual(evs.count, 1, s)
        }
        return try out.split(separator: 0x0A).map { try JSONSerialization.jsonObject(with: Data($0)) as! [String: Any] }
    }

    func testEnricherTakesTheCountryFromTheDatabaseAndStillTruncatesTheIP() throws {
        var e = Enricher(geo: try MaxMindCountryLookup(path: dbPath))
        func ev(_ ip: String, _ country: String? = nil) -> String {
            #"{"site_id":"s","type":"page_view","ts":1764147600000,"ip":"\#(ip)""# + (country.map { #","country":"\#($0)""# } ?? "") + "}"
        }
        let o = try enrich([ev("198.51.100.23", "jp"), ev("8.8.8.8", "de"), ev("10.1.2.3"), ev("2001:db8:1:2::5", "us"), ev("192.0.2.129")], &e)
        XCTAssertEqual(o.map { $0["geo_country"] as? String }, ["NZ", "DE", nil, "CH", "IS"], "database first, else the event's own country")
        XCTAssertEqual(o.map { $0["ip"] as? String }, ["198.51.100.0", "8.8.8.0", "10.1.2.0", "2001:db8:1::", "192.0.2.0"], "stored truncated")
        if o.count == 5 { XCTAssertTrue(o[2]["geo_country"] is NSNull, "no answer anywhere: null") }
    }

    func testLookupsAreCachedPerNetwork() throws {
        var e = Enricher(geo: try MaxMindCountryLookup(path: dbPath))
        let wide = (0..<500).map { #"{"site_id":"s","type":"t","ts":1764147600000,"ip":"198.51.100.\#($0 % 256)"}"# }
        let o = try enrich(wide, &e)
        XCTAssertTrue(o.allSatisfy { $0["geo_country"] as? String == "NZ" })
        XCTAssertEqual(e.geoLookups, 1, "one /24: one database lookup")
        // A network narrower than /24 may not stand for its /24: asked per address.
        let narrow = (0..<20).map { #"{"site_id":"s","type":"t","ts":1764147600000,"ip":"192.0.2.\#(120 + $0 % 10)"}"# }
        let p = try enrich(narrow, &e)
        XCTAssertEqual(p.map { $0["geo_country"] as? String }, (0..<20).map { 120 + $0 % 10 >= 128 ? "IS" : nil })
        XCTAssertEqual(e.geoLookups, 1 + 10)
    }

    func testDeliveryWithAConfiguredDatabaseWritesTheLookedUpCountry() async throws {
        let h = try DeliveryHarness(self)
        let d = try h.delivery { $0.geoDatabasePath = self.dbPath }
        // simpleEvent's ip is 203.0.113.77 with country "kr": the database says AU.
        try await h.append((0..<30).map { simpleEvent(site: "geo", i: $0) })
        try d.flush()
        let lines = try h.lines()
        XCTAssertEqual(lines.count, 30)
        XCTAssertTrue(lines.allSatisfy { $0["geo_country"] as? String == "AU" && $0["ip"] as? String == "203.0.113.0" })
    }

    func testDeliveryRefusesADatabaseItCannotOpen() throws {
        let h = try DeliveryHarness(self)
        let junk = dbPath + ".junk"
        try Data("not a database".utf8).write(to: URL(fileURLWithPath: junk))
        XCTAssertThrowsError(try h.delivery { $0.geoDatabasePath = junk }) { XCTAssertTrue("\($0)".contains("MaxMind"), "\($0)") }
    }
}
