import Foundation
import Metrics
@testable import TUI

/// Deterministic fake node state for golden tests. Lives only in Tests: the shipped binary never
/// shows invented numbers.
enum Fixture {
    static let takenAtMs: Int64 = 1_764_118_800_000 + 9 * 3_600_000 + 15 * 60_000 + 7_000   // 2025-11-26 09:15:07 UTC

    static func snapshot(sites n: Int = 24, warehouse: Bool = true, seed: UInt64 = 1) -> NodeSnapshot {
        var rng = SplitMix(seed: seed)
        func r(_ m: Double) -> Double { Double(rng.next() % 10_000) / 10_000 * m }
        let names = ["shop-seoul", "news-berlin", "ショップ-tokyo", "blog-lisbon", "store-austin", "docs-oslo",
                     "app-lagos", "wiki-lima", "shop-paris", "media-cairo", "game-pune", "bank-zurich"]
        var sites: [SiteStats] = []
        for i in 0..<n {
            let base = names[i % names.count] + (i >= names.count ? "-\(i / names.count)" : "")
            let eps = 2000.0 / Double(i + 1) + r(5)
            let hist = (0..<600).map { t in eps * (0.7 + 0.3 * sin(Double(t + i * 7) / 40)) }
            let day = (0..<1440).map { t in eps * 60 * (0.5 + 0.5 * sin(Double(t) / 229)) }
            var s = SiteStats(siteId: base, eventsPerSec: eps, pageviewsPerSec: eps * 0.6,
                              eventsPerSecHistory: hist, eventsPerMinuteHistory: day,
                              eventsTotal: Int64(eps * 3600), eventsByType: ["pageview": Int64(eps * 2000), "click": Int64(eps * 900)],
                              activeVisitors: Int64(eps * 3), visitorsToday: Int64(eps * 40), sessions: Int64(eps * 50),
                              bounceRate: 0.41, avgSessionSeconds: 184, pageviews: Int64(eps * 2000))
            s.topPages = [RankedCount(name: "/", count: Int64(eps * 400)), RankedCount(name: "/products/42", count: Int64(eps * 210)),
                          RankedCount(name: "/cart", count: Int64(eps * 90)), RankedCount(name: "/about", count: Int64(eps * 40))]
            s.channels = [RankedCount(name: "organic", count: Int64(eps * 500)), RankedCount(name: "direct", count: Int64(eps * 300)),
                          RankedCount(name: "social", count: Int64(eps * 120))]
            s.referrers = [RankedCount(name: "google.com", count: Int64(eps * 450)), RankedCount(name: "t.co", count: Int64(eps * 80))]
            s.countries = [RankedCount(name: "KR", count: Int64(eps * 300)), RankedCount(name: "US", count: Int64(eps * 200)),
                           RankedCount(name: "DE", count: Int64(eps * 100))]
            s.devices = [RankedCount(name: "mobile", count: Int64(eps * 600)), RankedCount(name: "desktop", count: Int64(eps * 350))]
            s.browsers = [RankedCount(name: "Chrome", count: Int64(eps * 500)), RankedCount(name: "Safari", count: Int64(eps * 300))]
            s.botShare = 0.07
            s.addToCarts = Int64(eps * 120)
            s.purchases = Int64(eps * 30)
            s.revenue = eps * 30 * 41.5
            sites.append(s)
        }
        sites.sort { $0.eventsPerSec > $1.eventsPerSec }
        let q = "85070591730234615865843651857942052864"   // 2^126: a quarter of the ring
        let shards = [
            ShardStats(shardId: "shard-0000", state: "CLOSED", startingHashKey: "0", endingHashKey: "85070591730234615865843651857942052863",
                       records: 1_200_000, sizeBytes: 410_000_000),
            ShardStats(shardId: "shard-0001", startingHashKey: q, endingHashKey: "170141183460469231731687303715884105727",
                       recordsPerSec: 5100, bytesPerSec: 2_400_000, records: 3_400_000, sizeBytes: 1_300_000_000),
            ShardStats(shardId: "shard-0002", startingHashKey: "170141183460469231731687303715884105728",
                       endingHashKey: "340282366920938463463374607431768211455", recordsPerSec: 9800, bytesPerSec: 4_700_000,
                       records: 6_100_000, sizeBytes: 2_100_000_000, throttles: 12, hot: true),
            ShardStats(shardId: "shard-0003", startingHashKey: "0", endingHashKey: "42535295865117307932921825928971026431",
                       parentShardId: "shard-0000", recordsPerSec: 2600, bytesPerSec: 1_200_000, records: 90_000, sizeBytes: 40_000_000),
            ShardStats(shardId: "shard-0004", startingHashKey: "42535295865117307932921825928971026432",
                       endingHashKey: "85070591730234615865843651857942052863", parentShardId: "shard-0000",
                       recordsPerSec: 2500, bytesPerSec: 1_100_000, records: 88_000, sizeBytes: 39_000_000),
        ]
        var consumers: [ConsumerStats] = []
        for sh in shards where sh.state == "OPEN" {
            consumers.append(ConsumerStats(app: "live", shardId: sh.shardId, recordsBehind: sh.hot ? 4200 : 12,
                                           millisBehindLatest: sh.hot ? 1800 : 40))
            consumers.append(ConsumerStats(app: "lake", shardId: sh.shardId, recordsBehind: sh.hot ? 61_000 : 3_400,
                                           millisBehindLatest: sh.hot ? 7_200 : 650))
        }
        let deliveries = [
            DeliveryStats(name: "lake-events", sizeHintBytes: 8_000_000, intervalHintMs: 60_000, buffers: [
                BufferStats(partition: "site=shop-seoul/dt=2025-11-26/hr=09", bytes: 6_900_000, records: 21_000, ageMs: 41_000, msToNextFlush: 19_000),
                BufferStats(partition: "site=news-berlin/dt=2025-11-26/hr=09", bytes: 3_100_000, records: 9_800, ageMs: 12_000, msToNextFlush: 48_000),
                BufferStats(partition: "site=ショップ-tokyo/dt=2025-11-26/hr=09", bytes: 8_400_000, records: 25_500, ageMs: 63_000, msToNextFlush: 0),
            ], objectsWritten: 1_284, bytesIn: 3_100_000_000, bytesWritten: 410_000_000, compressionRatio: 7.56,
            errorsByType: ["transform_failed": 3, "schema_mismatch": 1], deliveryLatency: LatencySummary(count: 1284, p50Ms: 31_000, p99Ms: 61_500, maxMs: 64_000)),
            DeliveryStats(name: "lake-errors", sizeHintBytes: 1_000_000, intervalHintMs: 300_000, buffers: [
                BufferStats(partition: "error=malformed_json/dt=2025-11-26", bytes: 12_000, records: 40, ageMs: 200_000, msToNextFlush: 100_000),
            ], objectsWritten: 7, bytesIn: 90_000, bytesWritten: 21_000, compressionRatio: 4.3),
        ]
        return NodeSnapshot(
            takenAtMs: takenAtMs,
            node: NodeInfo(nodeId: "node-1", version: "0.1.0", startedAtMs: takenAtMs - 3_600_000, mode: "embedded"),
            collector: CollectorStats(eventsPerSec: sites.reduce(0) { $0 + $1.eventsPerSec }, bytesPerSec: 9_400_000, requestsPerSec: 310,
                                      eventsTotal: 71_000_000, bytesTotal: 33_000_000_000, rejectsByCode: ["malformed_json": 40],
                                      rejectsPerSec: 2.5, ackLatency: LatencySummary(count: 1000, p50Ms: 3, p99Ms: 11, maxMs: 40)),
            shards: shards, consumers: consumers, deliveries: deliveries,
            warehouse: warehouse ? WarehouseStats(objectsPending: 3, recordsPending: 12_400, rowsLoaded: 70_100_000,
                                                  newestEventLoadedMs: takenAtMs - 74_000, lagMs: 74_000) : nil,
            process: ProcessStats(cpuPercent: 83, rssBytes: 310_000_000, openFiles: 41, uptimeMs: 3_600_000),
            clickToDashboard: LatencySummary(count: 100_000, p50Ms: 18, p99Ms: 46, maxMs: 120),
            sites: sites)
    }

    static func state(sites n: Int = 24, warehouse: Bool = true) -> DashboardState {
        var s = DashboardState()
        s.receive(snapshot(sites: n, warehouse: warehouse))
        return s
    }

    static func render(_ state: DashboardState, _ w: Int, _ h: Int, ascii: Bool = false) -> String {
        Frame.render(state, width: w, height: h, ctx: DrawContext(theme: .builtInDefault, ascii: ascii)).0.plainText()
    }
}
