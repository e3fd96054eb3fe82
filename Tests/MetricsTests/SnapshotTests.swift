import Foundation
import XCTest
@testable import Metrics

/// A node snapshot with every section filled, the sites coming from real LiveAggregates.
func richSnapshot() -> NodeSnapshot {
    let t0: Int64 = 1_795_651_200_000 + 5 * 3_600_000
    let clock = ManualClock(t0)
    let live = LiveAggregates(clock: clock)
    var batch = LiveEventBatch()
    var rng = SplitMix64(seed: 3)
    for i in 0..<3000 {
        let site = UInt32(rng.next() % 3)
        let page = Int(rng.next() % 30)
        let type: LiveEventType = [.pageview, .pageview, .click, .addToCart, .purchase, .search][Int(rng.next() % 6)]
        let pageName = page == 7 ? "/search?q=\"quoted\"\\back\nslash" : "/p/\(page)"
        batch.append(LiveEvent(site: site, type: type, channel: Channel(rawValue: UInt8(rng.next() % 9))!,
                               device: DeviceClass(rawValue: UInt8(rng.next() % 5))!,
                               browser: BrowserFamily(rawValue: UInt8(rng.next() % 8))!,
                               country: LiveEvent.countryCode(["US", "KR", "DE"][Int(rng.next() % 3)]),
                               isBot: rng.next() % 25 == 0, tsMs: t0, arrivalMs: t0 + Int64(i * 10),
                               visitor: rng.next() % 500, session: rng.next() % 800, page: Hash64.hash(pageName),
                               referrer: Hash64.hash("ref\(page % 5).example"), value: 19.99),
                     siteName: ["shop-seoul", "news \"daily\"", "blog"][Int(site)], pageName: pageName,
                     referrerName: "ref\(page % 5).example")
        if batch.count == 256 { clock.set(t0 + Int64(i * 10) + 40); live.apply(batch); batch.removeAll() }
    }
    clock.set(t0 + 31_000)
    live.apply(batch)
    var node = NodeSnapshot(
        takenAtMs: t0 + 31_000,
        node: NodeInfo(nodeId: "node-1", version: "0.1.0", startedAtMs: t0 - 1000, mode: "serve", ready: true),
        collector: CollectorStats(eventsPerSec: 512.5, bytesPerSec: 1.25e6, requestsPerSec: 10, eventsTotal: 3000,
                                  bytesTotal: 9_000_000, rejectsByCode: ["malformed_json": 3, "too_large": 1],
                                  rejectsPerSec: 0.1, ackLatency: LatencySummary(count: 10, p50Ms: 1.5, p99Ms: 9, maxMs: 12)),
        shards: [ShardStats(shardId: "shardId-000000000000", startingHashKey: "0", endingHashKey: "170141183460469231731687303715884105727",
                            recordsPerSec: 250, bytesPerSec: 600_000, records: 1500, sizeBytes: 4_000_000, throttles: 2, hot: true),
                 ShardStats(shardId: "shardId-000000000001", state: "CLOSED", parentShardId: "shardId-000000000000", records: 1500)],
        consumers: [ConsumerStats(app: "live", shardId: "shardId-000000000000", recordsBehind: 12, millisBehindLatest: 30, iteratorAgeMs: 31),
                    ConsumerStats(app: "lake-events", shardId: "shardId-000000000000", recordsBehind: 900, millisBehindLatest: 4000)],
        deliveries: [DeliveryStats(name: "events", sizeHintBytes: 5 << 20, intervalHintMs: 60_000,
                                   buffers: [BufferStats(partition: "site=shop-seoul/dt=2026-11-26/hr=05", bytes: 1234, records: 10, ageMs: 5000, msToNextFlush: 55_000, fillBytes: 800)],
                                   objectsWritten: 4, bytesIn: 100_000, bytesWritten: 20_000, compressionRatio: 5,
                                   errorsByType: ["schema": 2], deliveryLatency: LatencySummary(count: 4, p50Ms: 60_000, p99Ms: 61_000, maxMs: 61_500),
                                   memoryBytes: 3 << 20, memoryLimitBytes: 256 << 20)],
        warehouse: WarehouseStats(objectsPending: 1, recordsPending: 10, rowsLoaded: 2990, newestEventLoadedMs: t0, lagMs: 65_000,
                                  sqliteMemoryBytes: 70_123_456, sqliteMemoryLimitBytes: 134_217_728),
        process: ProcessStats(cpuPercent: 37.5, rssBytes: 120 << 20, openFiles: 42, uptimeMs: 31_000, chunkPoolFreeBytes: 3 << 20))
    live.fill(&node)
    return node
}

final class SnapshotTests: XCTestCase {
    func testNodeSnapshotJSONRoundTrips() throws {
        let snapshot = richSnapshot()
        XCTAssertEqual(snapshot.sites.count, 3)
        XCTAssertFalse(snapshot.sites[0].topPages.isEmpty)
        let data = try SnapshotPublisher.encoder.encode(snapshot)
        let decoded = try JSONDecoder().decode(NodeSnapshot.self, from: data)
        XCTAssertEqual(decoded, snapshot)
    }

    func testSnapshotJSONWithoutTheLiveSectionStillDecodes() throws {
        var snapshot = richSnapshot()
        snapshot.live = nil
        let data = try JSONEncoder().encode(snapshot)
        XCTAssertFalse(String(decoding: data, as: UTF8.self).contains("\"live\":"))
        XCTAssertEqual(try JSONDecoder().decode(NodeSnapshot.self, from: data), snapshot)
    }

    func testSnapshotJSONDecodesToTheSameSnapshotAsFoundationsEncoding() throws {
        var snapshot = richSnapshot()
        snapshot.sites[0].siteId = "tab\there \u{1}ctl \"q\" back\\slash 서울 🚀"
        snapshot.consumers[1].checkpoint = "49590338271490256608559692538361571095921575989136588898"
        snapshot.collector.bytesPerSec = 1e-7
        snapshot.collector.rejectsPerSec = -2.5e300
        let fast = Data(SnapshotJSON.encode(snapshot))
        XCTAssertEqual(try JSONDecoder().decode(NodeSnapshot.self, from: fast), snapshot)
        let foundation = try SnapshotPublisher.encoder.encode(snapshot)
        XCTAssertEqual(try JSONDecoder().decode(NodeSnapshot.self, from: fast),
                       try JSONDecoder().decode(NodeSnapshot.self, from: foundation))
        let oneSite = Data(SnapshotJSON.encode(snapshot.sites[0]))
        XCTAssertEqual(try JSONDecoder().decode(SiteStats.self, from: oneSite), snapshot.sites[0])
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: fast) as? [String: Any], "well-formed JSON")
    }

    func testSnapshotJSONWritesNonFiniteNumbersAsZero() throws {
        var s = NodeSnapshot()
        s.process.cpuPercent = .nan
        s.collector.eventsPerSec = -.infinity
        let decoded = try JSONDecoder().decode(NodeSnapshot.self, from: Data(SnapshotJSON.encode(s)))
        XCTAssertEqual(decoded.process.cpuPercent, 0)
        XCTAssertEqual(decoded.collector.eventsPerSec, 0)
    }

    func testPublisherHandsReadersTheLatestVersion() throws {
        let publisher = SnapshotPublisher()
        XCTAssertEqual(publisher.latestVersioned().version, 0)
        var s = NodeSnapshot(takenAtMs: 1)
        publisher.publish(s)
        let json1 = publisher.latestJSON()
        XCTAssertEqual(try JSONDecoder().decode(NodeSnapshot.self, from: json1).takenAtMs, 1)
        s.takenAtMs = 2
        publisher.publish(s)
        XCTAssertEqual(publisher.latest.takenAtMs, 2)
        XCTAssertEqual(publisher.latestVersioned().version, 2)
        XCTAssertEqual(try JSONDecoder().decode(NodeSnapshot.self, from: publisher.latestJSON()).takenAtMs, 2,
                       "cached JSON is replaced when a newer snapshot is published")
    }

    func testPublisherReadersRunConcurrentlyWithTheWriter() async {
        let publisher = SnapshotPublisher()
        await withTaskGroup(of: Int64.self) { group in
            group.addTask {
                for i in 1...2000 as ClosedRange<Int64> { publisher.publish(NodeSnapshot(takenAtMs: i)) }
                return 2000
            }
            for _ in 0..<2 {
                group.addTask {
                    var last: Int64 = 0
                    for _ in 0..<2000 {
                        let t = publisher.latest.takenAtMs
                        if t < last { return -1 }  // a reader must never go back in time
                        last = t
                    }
                    return last
                }
            }
            for await r in group { XCTAssertGreaterThanOrEqual(r, 0) }
        }
        XCTAssertEqual(publisher.latest.takenAtMs, 2000)
    }
}

/// A strict-enough parser of the Prometheus text format for tests: checks the grammar and that
/// every sample belongs to the family declared just before it.
struct ParsedExposition {
    var samples: [String: Double] = [:]
    var types: [String: String] = [:]

    static func key(_ name: String, _ labels: [String: String]) -> String {
        name + "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "}"
    }

    init(_ text: String) throws {
        struct Bad: Error, CustomStringConvertible { var description: String }
        var family: String?
        var seen = Set<String>()
        var helped = Set<String>()
        let nameChars = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:")
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { continue }
            if line.hasPrefix("# HELP ") {
                let name = String(line.dropFirst(7).prefix { $0 != " " })
                guard !helped.contains(name) else { throw Bad(description: "HELP twice: \(name)") }
                helped.insert(name)
                continue
            }
            if line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ")
                guard parts.count == 2, ["gauge", "counter", "summary", "histogram", "untyped"].contains(parts[1]) else {
                    throw Bad(description: "bad TYPE: \(line)")
                }
                let name = String(parts[0])
                guard !seen.contains(name) else { throw Bad(description: "family declared twice: \(name)") }
                guard helped.contains(name) else { throw Bad(description: "TYPE before HELP: \(name)") }
                seen.insert(name); family = name; types[name] = String(parts[1])
                continue
            }
            if line.hasPrefix("#") { continue }
            var chars = Substring(line)
            let name = String(chars.prefix { nameChars.contains($0) })
            chars = chars.dropFirst(name.count)
            guard !name.isEmpty, !name.first!.isNumber else { throw Bad(description: "bad name: \(line)") }
            guard name == family else { throw Bad(description: "sample \(name) outside its family \(family ?? "-")") }
            var labels: [String: String] = [:]
            if chars.first == "{" {
                chars = chars.dropFirst()
                while chars.first != "}" {
                    let k = String(chars.prefix { $0 != "=" })
                    chars = chars.dropFirst(k.count)
                    guard chars.hasPrefix("=\"") else { throw Bad(description: "bad label in \(line)") }
                    chars = chars.dropFirst(2)
                    var v = ""
                    while let c = chars.first, c != "\"" {
                        chars = chars.dropFirst()
                        if c == "\\" {
                            switch chars.first {
                            case "n": v.append("\n")
                            case "\\": v.append("\\")
                            case "\"": v.append("\"")
                            default: throw Bad(description: "bad escape in \(line)")
                            }
                            chars = chars.dropFirst()
                        } else { v.append(c) }
                    }
                    guard chars.first == "\"" else { throw Bad(description: "unterminated label in \(line)") }
                    chars = chars.dropFirst()
                    labels[k] = v
                    if chars.first == "," { chars = chars.dropFirst() }
                }
                chars = chars.dropFirst()
            }
            guard chars.first == " " else { throw Bad(description: "no space before value: \(line)") }
            let valueText = chars.dropFirst()
            let value: Double
            switch valueText {
            case "+Inf": value = .infinity
            case "-Inf": value = -.infinity
            case "NaN": value = .nan
            default:
                guard let v = Double(valueText) else { throw Bad(description: "bad value: \(line)") }
                value = v
            }
            let key = Self.key(name, labels)
            guard samples[key] == nil else { throw Bad(description: "duplicate sample \(key)") }
            samples[key] = value
        }
    }

    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? { samples[Self.key(name, labels)] }
}

final class PrometheusTextTests: XCTestCase {
    func testExpositionIsValidAndCarriesTheSameNumbersAsTheJSON() throws {
        // Compare against the snapshot as /v1/stats serves it (after a JSON round trip).
        let original = richSnapshot()
        let s = try JSONDecoder().decode(NodeSnapshot.self, from: SnapshotPublisher.encoder.encode(original))
        let text = PrometheusText.render(original)
        let p = try ParsedExposition(text)

        func check(_ name: String, _ labels: [String: String] = [:], _ expected: Double, file: StaticString = #filePath, line: UInt = #line) {
            guard let v = p.value(name, labels) else { return XCTFail("missing \(name) \(labels)", file: file, line: line) }
            XCTAssertEqual(v, expected, "\(name) \(labels)", file: file, line: line)
        }
        check("eddy_taken_at_ms", [:], Double(s.takenAtMs))
        check("eddy_node_info", ["node_id": "node-1", "version": "0.1.0", "mode": "serve", "stream_name": "clickstream"], 1)
        check("eddy_node_ready", [:], 1)
        check("eddy_collector_events_per_sec", [:], s.collector.eventsPerSec)
        check("eddy_collector_bytes_per_sec", [:], s.collector.bytesPerSec)
        check("eddy_collector_events_total", [:], Double(s.collector.eventsTotal))
        for (code, n) in s.collector.rejectsByCode { check("eddy_collector_rejects_by_code", ["code": code], Double(n)) }
        check("eddy_collector_ack_latency_p99_ms", [:], s.collector.ackLatency.p99Ms)
        for sh in s.shards {
            check("eddy_shard_records", ["shard": sh.shardId], Double(sh.records))
            check("eddy_shard_records_per_sec", ["shard": sh.shardId], sh.recordsPerSec)
            check("eddy_shard_size_bytes", ["shard": sh.shardId], Double(sh.sizeBytes))
            check("eddy_shard_throttles", ["shard": sh.shardId], Double(sh.throttles))
            check("eddy_shard_hot", ["shard": sh.shardId], sh.hot ? 1 : 0)
            check("eddy_shard_info", ["shard": sh.shardId, "state": sh.state, "starting_hash_key": sh.startingHashKey,
                                      "ending_hash_key": sh.endingHashKey, "parent_shard_id": sh.parentShardId ?? "",
                                      "adjacent_parent_shard_id": sh.adjacentParentShardId ?? ""], 1)
        }
        for c in s.consumers {
            check("eddy_consumer_records_behind", ["app": c.app, "shard": c.shardId], Double(c.recordsBehind))
            check("eddy_consumer_millis_behind_latest", ["app": c.app, "shard": c.shardId], Double(c.millisBehindLatest))
        }
        for d in s.deliveries {
            check("eddy_delivery_objects_written", ["delivery": d.name], Double(d.objectsWritten))
            check("eddy_delivery_compression_ratio", ["delivery": d.name], d.compressionRatio)
            for (code, n) in d.errorsByType { check("eddy_delivery_errors_by_type", ["delivery": d.name, "code": code], Double(n)) }
            check("eddy_delivery_delivery_latency_max_ms", ["delivery": d.name], d.deliveryLatency.maxMs)
            for b in d.buffers {
                check("eddy_delivery_buffer_bytes", ["delivery": d.name, "partition": b.partition], Double(b.bytes))
                check("eddy_delivery_buffer_ms_to_next_flush", ["delivery": d.name, "partition": b.partition], Double(b.msToNextFlush))
            }
        }
        check("eddy_warehouse_lag_ms", [:], Double(s.warehouse!.lagMs))
        check("eddy_warehouse_rows_loaded", [:], Double(s.warehouse!.rowsLoaded))
        check("eddy_warehouse_sqlite_memory_bytes", [:], Double(s.warehouse!.sqliteMemoryBytes))
        check("eddy_process_rss_bytes", [:], Double(s.process.rssBytes))
        check("eddy_process_cpu_percent", [:], s.process.cpuPercent)
        check("eddy_process_chunk_pool_free_bytes", [:], Double(s.process.chunkPoolFreeBytes))
        XCTAssertEqual(s.process.chunkPoolFreeBytes, 3 << 20, "survives the JSON round trip")
        check("eddy_click_to_dashboard_p50_ms", [:], s.clickToDashboard.p50Ms)
        check("eddy_click_to_dashboard_p99_ms", [:], s.clickToDashboard.p99Ms)
        check("eddy_click_to_dashboard_max_ms", [:], s.clickToDashboard.maxMs)
        check("eddy_click_to_dashboard_count", [:], Double(s.clickToDashboard.count))
        XCTAssertGreaterThan(s.clickToDashboard.count, 0)
        check("eddy_live_sessions_open", [:], Double(s.live!.sessionsOpen))
        check("eddy_live_memory_bytes", [:], Double(s.live!.memoryBytes))

        XCTAssertTrue(s.sites.contains { $0.siteId == "news \"daily\"" }, "label escaping is exercised")
        for site in s.sites {
            let l = ["site": site.siteId]
            check("eddy_site_events_per_sec", l, site.eventsPerSec)
            check("eddy_site_pageviews_per_sec", l, site.pageviewsPerSec)
            check("eddy_site_events_total", l, Double(site.eventsTotal))
            check("eddy_site_active_visitors", l, Double(site.activeVisitors))
            check("eddy_site_visitors_today", l, Double(site.visitorsToday))
            check("eddy_site_sessions", l, Double(site.sessions))
            check("eddy_site_bounce_rate", l, site.bounceRate)
            check("eddy_site_avg_session_seconds", l, site.avgSessionSeconds)
            check("eddy_site_pageviews", l, Double(site.pageviews))
            check("eddy_site_bot_share", l, site.botShare)
            check("eddy_site_add_to_carts", l, Double(site.addToCarts))
            check("eddy_site_purchases", l, Double(site.purchases))
            check("eddy_site_revenue", l, site.revenue)
            for (type, n) in site.eventsByType { check("eddy_site_events_by_type", ["site": site.siteId, "type": type], Double(n)) }
            let lists: [(String, [RankedCount])] = [("top_pages", site.topPages), ("referrers", site.referrers),
                                                    ("channels", site.channels), ("countries", site.countries),
                                                    ("devices", site.devices), ("browsers", site.browsers)]
            for (list, entries) in lists {
                XCTAssertFalse(entries.isEmpty, list)
                for r in entries {
                    check("eddy_site_\(list)_count", ["site": site.siteId, "name": r.name], Double(r.count))
                    check("eddy_site_\(list)_error", ["site": site.siteId, "name": r.name], Double(r.error))
                }
            }
        }
        XCTAssertTrue(s.sites.contains { $0.topPages.contains { $0.name.contains("\"quoted\"") } })
        XCTAssertEqual(p.types["eddy_site_events_total"], "counter")
        XCTAssertEqual(p.types["eddy_site_events_per_sec"], "gauge")
    }

    func testSpecialFloatsAreWrittenTheWayPrometheusReadsThem() throws {
        var s = NodeSnapshot()
        s.collector.eventsPerSec = .infinity
        s.collector.bytesPerSec = .nan
        let text = PrometheusText.render(s)
        XCTAssertTrue(text.contains("eddy_collector_events_per_sec +Inf\n"))
        XCTAssertTrue(text.contains("eddy_collector_bytes_per_sec NaN\n"))
        XCTAssertNoThrow(try ParsedExposition(text))
    }
}

