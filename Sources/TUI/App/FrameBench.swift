import Foundation
import Metrics

/// Frame build + diff time of the overview, for `eddy bench` (the lead registers it with
/// Pipeline's BenchmarkCase; TUI cannot see that protocol). The synthetic snapshots here exist
/// only to be measured: they never reach a screen.
public enum FrameBench {
    /// Renders the overview `iterations` times at width×height with `sites` sites, alternating
    /// between two snapshots so each diff has real changes, and times build + diff per frame.
    public static func measure(width: Int = 200, height: Int = 60, sites: Int = 320, iterations: Int = 300) -> (medianMs: Double, p99Ms: Double) {
        let d = measureDetailed(width: width, height: height, sites: sites, iterations: iterations)
        return (d.wall.median, d.wall.p99)
    }

    public struct Stats: Sendable { public var median: Double; public var p99: Double }

    /// Wall time and this thread's CPU time per frame. On a busy machine the wall p99 is mostly
    /// the scheduler (another process ran mid-frame); CPU time shows the frame's own cost.
    public static func measureDetailed(width: Int = 200, height: Int = 60, sites: Int = 320, iterations: Int = 300) -> (wall: Stats, cpu: Stats) {
        let snaps = [synthetic(sites: sites, tick: 0), synthetic(sites: sites, tick: 1)]
        var state = DashboardState()
        let ctx = DrawContext(theme: .builtInDefault, ascii: false)
        var previous: Canvas? = nil
        var times: [Double] = []
        var cpu: [Double] = []
        times.reserveCapacity(iterations)
        func threadCPU() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) * 1e3 + Double(ts.tv_nsec) / 1e6
        }
        var changed = 0
        for i in 0..<(iterations + 10) {
            state.receive(snaps[i % 2])
            let c0 = threadCPU()
            let t0 = DispatchTime.now().uptimeNanoseconds
            let (frame, layout) = Frame.render(state, width: width, height: height, ctx: ctx)
            let runs = Canvas.diff(old: previous, new: frame)
            let t1 = DispatchTime.now().uptimeNanoseconds
            let c1 = threadCPU()
            state.adopt(layout)
            previous = frame
            changed &+= runs.count
            if i >= 10 { times.append(Double(t1 - t0) / 1e6); cpu.append(c1 - c0) }     // first 10 frames warm up
        }
        precondition(changed > 0)
        func stats(_ v: [Double]) -> Stats {
            let s = v.sorted()
            return Stats(median: s[s.count / 2], p99: s[min(s.count - 1, Int(Double(s.count) * 0.99))])
        }
        return (stats(times), stats(cpu))
    }

    static func synthetic(sites n: Int, tick: Int) -> NodeSnapshot {
        var sites: [SiteStats] = []
        sites.reserveCapacity(n)
        for i in 0..<n {
            let eps = 20_000.0 / Double(i + 1) * (1 + 0.05 * Double((i + tick) % 3))
            let hist = (0..<600).map { t in eps * (0.8 + 0.2 * sin(Double(t + i + tick) / 30)) }
            sites.append(SiteStats(siteId: "site-\(i)", eventsPerSec: eps, pageviewsPerSec: eps * 0.6, eventsPerSecHistory: hist,
                                   eventsTotal: Int64(eps * 3600), activeVisitors: Int64(eps * 3)))
        }
        sites.sort { $0.eventsPerSec > $1.eventsPerSec }
        let shards = (0..<8).map { ShardStats(shardId: "shard-\($0)", recordsPerSec: Double(2000 + $0 * 100 + tick * 50), hot: $0 == 3) }
        let consumers = shards.flatMap { sh in ["live", "lake"].map { ConsumerStats(app: $0, shardId: sh.shardId, recordsBehind: Int64(10 + tick), millisBehindLatest: 40) } }
        let buffers = (0..<40).map { BufferStats(partition: "site=site-\($0)/dt=2026-11-26/hr=09", bytes: Int64(100_000 * ($0 + tick)), ageMs: Int64(1000 * $0)) }
        return NodeSnapshot(takenAtMs: 1_764_118_800_000 + Int64(tick * 1000),
                            collector: CollectorStats(eventsPerSec: 20_000 + Double(tick), bytesPerSec: 9e6),
                            shards: shards, consumers: consumers,
                            deliveries: [DeliveryStats(name: "lake-events", sizeHintBytes: 8_000_000, intervalHintMs: 60_000, buffers: buffers)],
                            warehouse: WarehouseStats(lagMs: 2000), sites: sites)
    }
}
