import Foundation
import Metrics

/// "aggregates": live per-site aggregate update rate on one core, against the naive exact way
/// (dictionaries and Sets of Strings per site) on the same synthetic events in the same run; and
/// the memory of 320 sites holding 1M open sessions.
///
/// Events are made here (not by the simulator) from a fixed seed: 320 sites with Zipf traffic,
/// sessions of ~6 events, Zipf pages and referrers, 3 % bots, spread over 10 minutes of arrival
/// time so windows roll. Both sides get the events ready-made (LiveEvents with hashes; Strings for
/// the baseline) so only aggregation is timed.
public struct AggregatesBench: BenchmarkCase {
    public let name = "aggregates"
    public init() {}

    public func run(quick: Bool, progress: @Sendable (String) -> Void) async throws -> [BenchFigure] {
        var figures: [BenchFigure] = []

        // Memory first, while the process has freed little that malloc could hand back to us.
        progress("aggregates: memory with 320 sites and 1M open sessions")
        let memory = Self.measureMemory(sessions: 1_000_000)
        figures.append(BenchFigure(name: "aggregates memory (RSS delta), 320 sites + 1M open sessions", value: memory.rssMB,
                                   unit: "MB", higherIsBetter: false, goal: "≤ 300 MB",
                                   note: "accounted by the structures: \(String(format: "%.1f", memory.accountedMB)) MB; open sessions \(memory.openSessions)"))

        let n = quick ? 500_000 : 4_000_000
        let rounds = quick ? 3 : 5
        progress("aggregates: generating \(n) synthetic events")
        let w = Workload(events: n, sites: 320, seed: 0xEDD1)

        var eddyRates: [Double] = []
        var naiveRates: [Double] = []
        var snapshotMs: [Double] = []
        var renderMs: [Double] = []
        var jsonMs: [Double] = []
        var foundationMs: [Double] = []
        var jsonBytes = 0
        for r in 1...rounds {
            // Foundation's encoder takes ~1 s here; one measurement is enough for an anchor.
            let (e, snap, render, json, foundation, bytes) = w.runLive(withFoundationJSON: r == 1)
            if let foundation { foundationMs.append(foundation) }
            eddyRates.append(e)
            snapshotMs.append(snap)
            renderMs.append(render)
            jsonMs.append(json)
            jsonBytes = bytes
            let b = w.runNaive()
            naiveRates.append(b)
            progress("aggregates: round \(r)/\(rounds): LiveAggregates \(Int(e)) ev/s, naive \(Int(b)) ev/s")
        }
        let eddy = Self.median(eddyRates), naive = Self.median(naiveRates)
        figures.append(BenchFigure(name: "aggregate update rate, one core", value: eddy, unit: "events/s",
                                   anchorName: "naive exact (Dictionary/Set of String per site)", anchorValue: naive,
                                   goal: "≥ 2M events/s and ≥ 5× anchor",
                                   note: "thread CPU time; median of \(rounds) rounds of \(n) events, 320 sites; rounds eddy \(eddyRates.map { Int($0) }) naive \(naiveRates.map { Int($0) })"))
        figures.append(BenchFigure(name: "live snapshot of 320 sites (all changed since the last)", value: Self.median(snapshotMs),
                                   unit: "ms", higherIsBetter: false,
                                   note: "taken on the owner's thread, so it pauses apply; median of \(rounds)"))
        figures.append(BenchFigure(name: "PrometheusText.render, 320 sites", value: Self.median(renderMs), unit: "ms",
                                   higherIsBetter: false, note: "off the owner's thread (reader side); median of \(rounds)"))
        figures.append(BenchFigure(name: "/v1/stats JSON encode, 320 sites (SnapshotJSON)", value: Self.median(jsonMs), unit: "ms",
                                   anchorName: "Foundation JSONEncoder, same snapshot", anchorValue: Self.median(foundationMs),
                                   higherIsBetter: false,
                                   note: "\(jsonBytes / 1024) KiB, mostly the per-second and per-minute histories; once per published version"))
        return figures
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// CPU time of the calling thread: on a machine shared with other builds, wall time measures
    /// the neighbours; this measures the work (both sides are timed the same way).
    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func measureMemory(sessions: Int) -> (rssMB: Double, accountedMB: Double, openSessions: Int64) {
        // One event per session, all within 10 minutes so none expires; no bots, so 1M sessions open.
        let w = Workload(events: sessions, sites: 320, seed: 0x5E55, sessions: sessions)
        let before = ProcessSampler.residentBytes()
        let live = LiveAggregates(clock: w.clock)
        w.applyAll(to: live)
        let after = ProcessSampler.residentBytes()
        let st = live.stats()
        return (Double(after - before) / 1_048_576, Double(st.memoryBytes) / 1_048_576, st.sessionsOpen)
    }
}

/// Deterministic synthetic traffic, as LiveEvents (with a name buffer) and as Strings.
public final class Workload: @unchecked Sendable {
    struct NaiveEvent {
        var site: String, type: String, visitor: String, session: String, page: String, referrer: String?
        var channel: String, device: String, browser: String, country: String
        var isBot: Bool, arrivalMs: Int64, value: Double
    }

    let events: [LiveEvent]
    let names: [UInt8]
    let naive: [NaiveEvent]
    let startMs: Int64 = 1_795_651_200_000 + 10 * 3_600_000
    let spanMs: Int64 = 600_000
    public let clock: Metrics.ManualClock
    static let batchSize = 512

    public init(events n: Int, sites: Int, seed: UInt64, sessions: Int? = nil) {
        var rng = SplitMix64(seed: seed)
        var arena: [UInt8] = []
        func intern(_ s: String) -> NameRef {
            let r = NameRef(offset: UInt32(arena.count), length: UInt32(s.utf8.count)); arena.append(contentsOf: s.utf8); return r
        }
        let siteNames = (0..<sites).map { "site-\($0)" }
        let siteRefs = siteNames.map(intern)
        let pageNames = (0..<5000).map { "/p/\($0)" }
        let pageRefs = pageNames.map(intern)
        let pageHashes = pageNames.map(Hash64.hash)
        let refNames = (0..<200).map { "ref\($0).example" }
        let refRefs = refNames.map(intern)
        let refHashes = refNames.map(Hash64.hash)
        let countries = ["US", "KR", "DE", "BR", "IN", "JP", "GB", "FR", "CA", "MX"]
        let types: [LiveEventType] = [.pageview, .pageview, .pageview, .pageview, .pageview, .click, .click, .scroll,
                                      .search, .addToCart, .purchase, .custom]
        let siteZipf = ZipfTable(n: sites, s: 1.0)
        let pageZipf = ZipfTable(n: pageNames.count, s: 1.1)
        let refZipf = ZipfTable(n: refNames.count, s: 1.2)
        let sessionCount = sessions ?? max(1, n / 6)
        let visitorCount = max(1, sessionCount * 2 / 3)
        let visitorNames = (0..<visitorCount).map { "v\($0)" }  // small strings: the baseline's best case

        var evs: [LiveEvent] = []; evs.reserveCapacity(n)
        var nv: [NaiveEvent] = []
        let withNaive = sessions == nil
        if withNaive { nv.reserveCapacity(n) }
        for i in 0..<n {
            // With a session count given, visit every session once before reusing any.
            let s = sessions != nil ? i % sessionCount : Int(rng.next() % UInt64(sessionCount))
            var srng = SplitMix64(seed: UInt64(s) &* 0x9E37_79B9_7F4A_7C15 ^ seed)
            let site = siteZipf.sample(&srng) - 1
            let visitor = Int(srng.next() % UInt64(visitorCount))
            let channel = Channel(rawValue: UInt8(srng.next() % 9))!
            let device = DeviceClass(rawValue: UInt8(1 + srng.next() % 3))!
            let browser = BrowserFamily(rawValue: UInt8(1 + srng.next() % 6))!
            let country = countries[Int(srng.next() % UInt64(countries.count))]
            let isBot = sessions == nil && srng.next() % 33 == 0  // the memory run has no bots: 1M real sessions
            let referrer = srng.next() % 10 < 4 ? refZipf.sample(&srng) - 1 : -1
            let type = types[Int(rng.next() % UInt64(types.count))]
            let page = pageZipf.sample(&rng) - 1
            let arrival = startMs + Int64(i) * spanMs / Int64(n)
            let value = type == .purchase ? Double(rng.next() % 20_000) / 100 : 0
            evs.append(LiveEvent(site: UInt32(site), type: type, channel: channel, device: device, browser: browser,
                                 country: LiveEvent.countryCode(country), isBot: isBot, tsMs: arrival - 40, arrivalMs: arrival,
                                 visitor: UInt64(visitor) &+ 1, session: UInt64(s) &+ 1, page: pageHashes[page],
                                 referrer: referrer >= 0 ? refHashes[referrer] : 0, value: value,
                                 siteName: siteRefs[site], pageName: pageRefs[page],
                                 referrerName: referrer >= 0 ? refRefs[referrer] : .none))
            if withNaive {
                nv.append(NaiveEvent(site: siteNames[site], type: type.name, visitor: visitorNames[visitor], session: "s\(s)",
                                     page: pageNames[page], referrer: referrer >= 0 ? refNames[referrer] : nil,
                                     channel: channel.name, device: device.name, browser: browser.name, country: country,
                                     isBot: isBot, arrivalMs: arrival, value: value))
            }
        }
        events = evs
        names = arena
        naive = nv
        clock = Metrics.ManualClock(startMs)
    }

    /// Applies every event in batches, the clock just ahead of each batch (as a live consumer sees it).
    public func applyAll(to live: LiveAggregates) {
        events.withUnsafeBufferPointer { all in
            names.withUnsafeBytes { nameBytes in
                var i = 0
                while i < all.count {
                    let end = min(i + Self.batchSize, all.count)
                    clock.set(all[end - 1].arrivalMs + 50)
                    live.apply(UnsafeBufferPointer(rebasing: all[i..<end]), names: nameBytes)
                    i = end
                }
            }
        }
    }

    /// Events/s of LiveAggregates over the whole workload (a fresh instance: sites, sketches and
    /// the session table are allocated inside the timed part), then the time of one snapshot with
    /// every site changed, and of rendering it for /metrics.
    public func runLive(withFoundationJSON: Bool = false)
        -> (eventsPerSec: Double, snapshotMs: Double, renderMs: Double, jsonMs: Double, foundationJSONMs: Double?, jsonBytes: Int) {
        let live = LiveAggregates(clock: clock)
        let t0 = AggregatesBench.threadCPUSeconds()
        applyAll(to: live)
        let t1 = AggregatesBench.threadCPUSeconds()
        var node = NodeSnapshot()
        live.fill(&node)
        let t2 = AggregatesBench.threadCPUSeconds()
        let text = PrometheusText.render(node)
        let t3 = AggregatesBench.threadCPUSeconds()
        let json = SnapshotJSON.encode(node)
        let t4 = AggregatesBench.threadCPUSeconds()
        var foundationMs: Double?
        if withFoundationJSON {
            let foundation = (try? SnapshotPublisher.encoder.encode(node)) ?? Data()
            foundationMs = (AggregatesBench.threadCPUSeconds() - t4) * 1000
            precondition(!foundation.isEmpty)
        }
        precondition(node.sites.reduce(0) { $0 + $1.eventsTotal } == Int64(events.count) && !text.isEmpty && !json.isEmpty)
        return (Double(events.count) / (t1 - t0), (t2 - t1) * 1000, (t3 - t2) * 1000, (t4 - t3) * 1000, foundationMs, json.count)
    }

    func runNaive() -> Double {
        let agg = NaiveAggregates()
        let t0 = AggregatesBench.threadCPUSeconds()
        for i in 0..<naive.count { agg.apply(naive[i]) }
        let t1 = AggregatesBench.threadCPUSeconds()
        precondition(agg.eventsTotal == Int64(naive.count))
        return Double(naive.count) / (t1 - t0)
    }
}

/// The naive exact way: per-site dictionaries and Sets of Strings, sessions in a dictionary.
final class NaiveAggregates {
    final class Site {
        var events = 0, pageviews = 0, bots = 0, carts = 0, purchases = 0
        var revenue = 0.0
        var perSecond: [Int64: Int] = [:]
        var perMinute: [Int64: Int] = [:]
        var byType: [String: Int] = [:]
        var visitorsToday: Set<String> = []
        var visitorLastSeen: [String: Int64] = [:]
        var sessions: [String: (first: Int64, last: Int64, pageviews: Int)] = [:]
        var sessionsClosed = 0, bouncesClosed = 0
        var durationClosedMs: Int64 = 0
        var pages: [String: Int] = [:], referrers: [String: Int] = [:], channels: [String: Int] = [:]
        var countries: [String: Int] = [:], devices: [String: Int] = [:], browsers: [String: Int] = [:]
    }
    var sites: [String: Site] = [:]
    var eventsTotal: Int64 = 0

    func apply(_ e: Workload.NaiveEvent) {
        eventsTotal += 1
        let s: Site
        if let x = sites[e.site] { s = x } else { s = Site(); sites[e.site] = s }
        s.events += 1
        s.perSecond[e.arrivalMs / 1000, default: 0] += 1
        s.perMinute[e.arrivalMs / 60_000, default: 0] += 1
        s.byType[e.type, default: 0] += 1
        let isPageview = e.type == "pageview"
        if isPageview { s.pageviews += 1 }
        if e.isBot { s.bots += 1; return }
        s.visitorsToday.insert(e.visitor)
        s.visitorLastSeen[e.visitor] = e.arrivalMs
        if let old = s.sessions[e.session], e.arrivalMs - old.last <= 30 * 60_000 {
            s.sessions[e.session] = (old.first, e.arrivalMs, old.pageviews + (isPageview ? 1 : 0))
        } else {
            if let old = s.sessions[e.session] {
                s.sessionsClosed += 1; s.durationClosedMs += old.last - old.first
                if old.pageviews <= 1 { s.bouncesClosed += 1 }
            }
            s.sessions[e.session] = (e.arrivalMs, e.arrivalMs, isPageview ? 1 : 0)
        }
        if isPageview {
            s.pages[e.page, default: 0] += 1
            if let r = e.referrer { s.referrers[r, default: 0] += 1 }
            s.channels[e.channel, default: 0] += 1
            s.countries[e.country, default: 0] += 1
            s.devices[e.device, default: 0] += 1
            s.browsers[e.browser, default: 0] += 1
        } else if e.type == "add_to_cart" {
            s.carts += 1
        } else if e.type == "purchase" {
            s.purchases += 1; s.revenue += e.value
        }
    }
}

/// Zipf(s) over 1...n by binary search in the cumulative distribution.
struct ZipfTable {
    let cdf: [Double]
    init(n: Int, s: Double) {
        var acc = 0.0
        var c = [Double](); c.reserveCapacity(n)
        for k in 1...n { acc += 1 / pow(Double(k), s); c.append(acc) }
        cdf = c.map { $0 / acc }
    }
    func sample(_ rng: inout SplitMix64) -> Int {
        let u = Double(rng.next() >> 11) / Double(UInt64(1) << 53)
        var lo = 0, hi = cdf.count - 1
        while lo < hi { let mid = (lo + hi) / 2; if cdf[mid] < u { lo = mid + 1 } else { hi = mid } }
        return lo + 1
    }
}
