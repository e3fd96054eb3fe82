/// Traffic of hundreds of global sites as NDJSON bytes: what `eddy demo` feeds the node, what
/// `eddy loadgen` sends, and what benchmarks chew on.
///
/// Model: each event picks a site by popularity × its local-time daily curve × flash-sale bursts
/// (alias table, rebuilt every 10 simulated seconds); then either starts a session or advances one
/// of the site's active sessions. Sessions land from a source (direct, search, social, email,
/// paid, referral…), browse, search, add to cart and sometimes buy; about 38% bounce; visitors
/// return; about 5% of events come from bots. A few per cent of events are cookieless (consent
/// declined: no session or visitor id), so they route by site id — during a flash sale that
/// concentrates a site's surge on one shard, which is what makes a shard run hot.
///
/// Deterministic: the same config (seed, sites, rate, start) gives the same bytes.
public struct SimulatorConfig: Sendable {
    public var sites: Int = 320
    public var seed: UInt64 = 1
    /// Events per second of simulated time (sets the timestamps; pacing is the caller's job).
    public var rate: Double = 20_000
    /// Simulated clock at the first event, epoch ms.
    public var startMs: Int64 = 1_764_115_200_000
    /// Share of events sent without any visitor id.
    public var cookielessShare: Double = 0.03
    public init(sites: Int = 320, seed: UInt64 = 1, rate: Double = 20_000, startMs: Int64 = 1_764_115_200_000) {
        self.sites = sites; self.seed = seed; self.rate = rate; self.startMs = startMs
    }
}

/// Counts of what the simulator produced, for tests and the demo's status line.
public struct SimulatorStats: Sendable, Equatable {
    public var events = 0
    public var bytes = 0
    public var bots = 0
    public var cookieless = 0
    public var sessions = 0
    public var bouncedSessions = 0
    public var pageViews = 0
    public var productViews = 0
    public var addToCarts = 0
    public var purchases = 0
    public var eventsPerSite: [Int] = []
}

public struct Simulator: Sendable {
    public let config: SimulatorConfig
    public let sites: [SimSite]
    public private(set) var stats = SimulatorStats()
    /// Simulated clock of the next event, epoch ms (fractional to keep high rates exact).
    public private(set) var clockMs: Double

    var rng: Xoshiro256
    var siteAlias: AliasTable
    var aliasBuiltForMs: Int64 = .min
    let msPerEvent: Double
    var active: [[SimSession]]
    var returning: [[UInt64]]
    var returningNext: [Int]
    var nextUserId: UInt32 = 1000
    let humanAlias: AliasTable
    let botAlias: AliasTable
    let sourceAlias: AliasTable
    let siteIdBytes: [[UInt8]]
    let originBytes: [[UInt8]]
    let langBytes: [[UInt8]]
    let currencyBytes: [[UInt8]]
    let countryBytes: [[UInt8]]
    let sessionTarget: [Int]

    public init(_ config: SimulatorConfig = SimulatorConfig()) {
        self.config = config
        sites = SiteCatalog.make(count: max(1, config.sites), seed: config.seed)
        rng = Xoshiro256(seed: config.seed)
        clockMs = Double(config.startMs)
        msPerEvent = 1000 / max(config.rate, 0.001)
        active = Array(repeating: [], count: sites.count)
        returning = Array(repeating: [], count: sites.count)
        returningNext = Array(repeating: 0, count: sites.count)
        humanAlias = AliasTable(weights: TrafficModel.humanAgents.map(\.weight))
        botAlias = AliasTable(weights: TrafficModel.botAgents.map(\.weight))
        sourceAlias = AliasTable(weights: TrafficModel.sources.map(\.weight))
        siteIdBytes = sites.map { Array($0.id.utf8) }
        originBytes = sites.map { Array("https://\($0.host)/".utf8) }
        langBytes = sites.map { Array($0.region.lang.utf8) }
        currencyBytes = sites.map { Array($0.region.currency.utf8) }
        countryBytes = sites.map { Array($0.region.country.utf8) }
        let totalPop = sites.reduce(0) { $0 + $1.popularity }
        // Concurrent sessions per site ≈ its event rate × 5 s: a session sees an event every few seconds.
        sessionTarget = sites.map { s in
            let siteRate = config.rate * s.popularity / max(totalPop, 1e-9) * 0.6
            return min(1000, max(2, Int(siteRate * 5)))
        }
        siteAlias = AliasTable(weights: [1])
        stats.eventsPerSite = Array(repeating: 0, count: sites.count)
    }

    /// Moves the simulated clock (live mode anchors it to the wall clock before each batch).
    public mutating func setClock(ms: Int64) { clockMs = Double(ms) }

    /// Whether `site` is in a flash-sale burst at `ms`: 4 minutes out of every 20, staggered by site.
    public func inFlashSale(_ site: Int, atMs ms: Int64) -> Bool {
        guard sites[site].flashSales else { return false }
        let minute = Int(ms / 60_000) + site * 7
        return minute % 20 < 4
    }

    /// The relative weight of a site at a moment: popularity × daily curve × burst.
    public func weight(site: Int, atMs ms: Int64) -> Double {
        let s = sites[site]
        return s.popularity * DailyCurve.factor(utcMs: ms, offsetMinutes: s.region.utcOffsetMinutes)
            * (inFlashSale(site, atMs: ms) ? 10 : 1)
    }

    mutating func refreshSiteWeights(_ nowMs: Int64) {
        let bucket = nowMs / 10_000
        guard bucket != aliasBuiltForMs else { return }
        aliasBuiltForMs = bucket
        siteAlias = AliasTable(weights: (0..<sites.count).map { weight(site: $0, atMs: nowMs) })
    }

    /// Appends `count` events as NDJSON lines (each ending in "\n") to `out`.
    public mutating func generate(count: Int, into out: inout [UInt8]) {
        out.reserveCapacity(out.count + count * 520)
        let before = out.count
        for _ in 0..<count {
            let ts = Int64(clockMs)
            refreshSiteWeights(ts)
            let site = siteAlias.sample(&rng)
            emitEvent(site: site, ts: ts, into: &out)
            clockMs += msPerEvent
        }
        stats.bytes += out.count - before
    }

    /// A fresh buffer of `count` events.
    public mutating func batch(count: Int) -> [UInt8] {
        var out: [UInt8] = []
        generate(count: count, into: &out)
        return out
    }

    // MARK: Sessions

    mutating func emitEvent(site: Int, ts: Int64, into out: inout [UInt8]) {
        stats.events += 1
        stats.eventsPerSite[site] += 1
        let cookieless = inFlashSale(site, atMs: ts) ? 0.5 : config.cookielessShare
        if rng.chance(cookieless) {
            stats.cookieless += 1
            var s = SimSession(id: 0, visitor: 0, user: 0, agent: UInt8(humanAlias.sample(&rng)), bot: false,
                               source: 0, remaining: 1, step: 0, page: .home, pageId: 0, cart: false,
                               screen: UInt8(rng.below(4)), ip: randomIP(site: site, bot: false))
            s.page = inFlashSale(site, atMs: ts) ? .category : .home
            s.pageId = 1
            writeEvent(site: site, ts: ts, session: s, type: .pageView, previous: nil, value: 0, into: &out, identified: false)
            stats.pageViews += 1
            return
        }
        if active[site].count < sessionTarget[site] || active[site].isEmpty {
            startSession(site: site, ts: ts, into: &out)
        } else {
            let i = rng.below(active[site].count)
            advanceSession(site: site, slot: i, ts: ts, into: &out)
        }
    }

    mutating func startSession(site: Int, ts: Int64, into out: inout [UInt8]) {
        stats.sessions += 1
        let bot = rng.chance(0.018)
        let agent = bot ? botAlias.sample(&rng) : humanAlias.sample(&rng)
        var visitor = rng.next() | 1
        var user: UInt32 = 0
        if !bot, !returning[site].isEmpty, rng.chance(0.35) {
            visitor = returning[site][rng.below(returning[site].count)]
            if visitor & 0b110 == 0 { user = UInt32(truncatingIfNeeded: visitor >> 40) % 900_000 + 1000 }
        } else if !bot {
            if returning[site].count < 512 { returning[site].append(visitor) } else {
                returning[site][returningNext[site]] = visitor
                returningNext[site] = (returningNext[site] + 1) % 512
            }
        }
        let length: Int16
        if bot { length = Int16(10 + rng.below(30)) } else if rng.chance(0.38) {
            length = 1
            stats.bouncedSessions += 1
        } else {
            length = Int16(2 + min(60, Int(-log(max(rng.unit(), 1e-12)) * 7)))
        }
        var s = SimSession(id: rng.next(), visitor: visitor, user: user, agent: UInt8(agent), bot: bot,
                           source: bot ? 0 : UInt8(sourceAlias.sample(&rng)), remaining: length, step: 0,
                           page: .home, pageId: 0, cart: false, screen: UInt8(rng.below(4)),
                           ip: randomIP(site: site, bot: bot))
        // Landing page: home, a category or section, a product or article.
        let r = rng.unit()
        if r < 0.40 { s.page = .home } else if r < 0.60 { s.page = .category; s.pageId = UInt32(rng.below(6)) } else {
            s.page = sites[site].commerce ? .product : .article
            s.pageId = zipfItem()
        }
        stats.pageViews += 1
        if s.page == .product { stats.productViews += 1 }
        writeEvent(site: site, ts: ts, session: s, type: .pageView, previous: nil, value: 0, into: &out, identified: true)
        s.remaining -= 1
        s.step = 1
        if s.remaining > 0 { active[site].append(s) }
    }

    mutating func advanceSession(site: Int, slot: Int, ts: Int64, into out: inout [UInt8]) {
        var s = active[site][slot]
        let previous = (s.page, s.pageId)
        var type = SimEventType.pageView
        var value: Int64 = 0
        let commerce = sites[site].commerce
        if s.bot {
            s.page = commerce ? .product : .article
            s.pageId = UInt32(rng.below(2000))
        } else if commerce && s.page == .checkout {
            if rng.chance(0.55) {
                type = .purchase
                value = Int64((9.99 + rng.unit() * 190) * sites[site].region.fx * 100)
                s.page = .complete
                s.remaining = min(s.remaining, 1)
            } else {
                s.page = .cart
            }
        } else if commerce && s.cart && s.page == .cart && rng.chance(0.6) {
            s.page = .checkout
        } else if commerce && s.page == .product && rng.chance(0.16) {
            type = .addToCart
            value = Int64((9.99 + rng.unit() * 190) * sites[site].region.fx * 100)
            s.cart = true
        } else if commerce && s.cart && rng.chance(0.45) {
            s.page = .cart
        } else {
            let r = rng.unit()
            if r < 0.55 {
                let p = rng.unit()
                if p < 0.55 { s.page = commerce ? .product : .article; s.pageId = zipfItem() }
                else if p < 0.85 { s.page = .category; s.pageId = UInt32(rng.below(6)) }
                else { s.page = .home }
            } else if r < 0.77 {
                type = .click
            } else if r < 0.90 {
                type = .scroll
            } else if r < 0.96 {
                type = .search
                s.page = .search
                s.pageId = UInt32(rng.below(TrafficModel.searchTerms.count))
            } else {
                type = commerce ? .wishlist : .videoPlay
            }
        }
        switch type {
        case .pageView, .search:
            stats.pageViews += type == .pageView ? 1 : 0
            if s.page == .product { stats.productViews += 1 }
        case .addToCart: stats.addToCarts += 1
        case .purchase: stats.purchases += 1
        default: break
        }
        let moved = type == .pageView || type == .search
        writeEvent(site: site, ts: ts, session: s, type: type, previous: moved ? previous : nil, value: value,
                   into: &out, identified: true)
        s.step += 1
        s.remaining -= 1
        if s.remaining <= 0 {
            active[site].swapAt(slot, active[site].count - 1)
            active[site].removeLast()
        } else {
            active[site][slot] = s
        }
    }

    /// Popular items first: log-uniform over 1…2000 (density ∝ 1/x, Zipf with s = 1).
    mutating func zipfItem() -> UInt32 { UInt32(exp(rng.unit() * 7.6)) }

    mutating func randomIP(site: Int, bot: Bool) -> UInt32 {
        let prefixes = bot ? TrafficModel.botIPPrefixes : sites[site].region.ipPrefixes
        let p = prefixes[rng.below(prefixes.count)]
        return UInt32(p.0) << 24 | UInt32(p.1) << 16 | UInt32(rng.below(256)) << 8 | UInt32(1 + rng.below(254))
    }

    // MARK: Bytes

    mutating func writeEvent(site: Int, ts: Int64, session s: SimSession, type: SimEventType,
                             previous: (SimPage, UInt32)?, value: Int64, into out: inout [UInt8], identified: Bool) {
        out.appendASCII("{\"event_id\":\"")
        out.appendUUID(rng.next(), rng.next())
        out.appendASCII("\",\"site_id\":\"")
        out.append(contentsOf: siteIdBytes[site])
        out.appendASCII("\",\"type\":\"")
        out.append(contentsOf: type.bytes)
        out.appendASCII("\",\"ts\":")
        out.appendInt(ts)
        if identified {
            out.appendASCII(",\"session_id\":\"")
            out.appendHex(s.id, bytes: 8)
            out.appendASCII("\",\"anon_id\":\"")
            out.appendHex(s.visitor, bytes: 8)
            out.append(0x22)
            if s.user != 0 {
                out.appendASCII(",\"user_id\":\"u")
                out.appendInt(Int64(s.user))
                out.append(0x22)
            }
        }
        out.appendASCII(",\"url\":\"")
        writeURL(site: site, page: s.page, id: s.pageId, into: &out)
        if s.step == 0, !s.bot {
            let src = TrafficModel.sources[Int(s.source)]
            if !src.utm.isEmpty {
                out.append(s.page == .search ? 0x26 : 0x3F)
                out.append(contentsOf: src.utm)
            }
            out.append(0x22)
            if !src.referrer.isEmpty {
                out.appendASCII(",\"referrer\":\"")
                out.append(contentsOf: src.referrer)
                out.append(0x22)
            }
        } else {
            out.append(0x22)
            if let (page, id) = previous {
                out.appendASCII(",\"referrer\":\"")
                writeURL(site: site, page: page, id: id, into: &out)
                out.append(0x22)
            }
        }
        if type == .pageView {
            out.appendASCII(",\"title\":\"")
            writeTitle(site: site, page: s.page, id: s.pageId, into: &out)
            out.append(0x22)
        }
        let agent = s.bot ? TrafficModel.botAgents[Int(s.agent)] : TrafficModel.humanAgents[Int(s.agent)]
        out.appendASCII(",\"ua\":\"")
        out.append(contentsOf: agent.ua)
        out.appendASCII("\",\"ip\":\"")
        out.appendInt(Int64(s.ip >> 24)); out.append(0x2E)
        out.appendInt(Int64((s.ip >> 16) & 0xFF)); out.append(0x2E)
        out.appendInt(Int64((s.ip >> 8) & 0xFF)); out.append(0x2E)
        out.appendInt(Int64(s.ip & 0xFF))
        out.appendASCII("\",\"lang\":\"")
        out.append(contentsOf: langBytes[site])
        out.appendASCII("\",\"screen\":\"")
        out.append(contentsOf: agent.screens[Int(s.screen) % agent.screens.count])
        out.appendASCII("\",\"country\":\"")
        out.append(contentsOf: countryBytes[site])
        out.append(0x22)
        switch type {
        case .click, .videoPlay, .wishlist:
            out.appendASCII(",\"engagement_ms\":")
            out.appendInt(Int64(500 + rng.below(60_000)))
        case .scroll:
            out.appendASCII(",\"scroll_pct\":")
            out.appendInt(Int64(25 * (1 + rng.below(4))))
        case .addToCart, .purchase:
            out.appendASCII(",\"value\":")
            out.appendCents(value)
            out.appendASCII(",\"currency\":\"")
            out.append(contentsOf: currencyBytes[site])
            out.append(0x22)
            if type == .purchase {
                out.appendASCII(",\"props\":{\"order_id\":\"o")
                out.appendHex(rng.next(), bytes: 6)
                out.appendASCII("\",\"items\":")
                out.appendInt(Int64(1 + rng.below(4)))
                out.append(0x7D)
            }
        case .search:
            out.appendASCII(",\"props\":{\"query\":\"")
            out.append(contentsOf: TrafficModel.searchTerms[Int(s.pageId) % TrafficModel.searchTerms.count])
            out.appendASCII("\"}")
        case .pageView: break
        }
        out.appendASCII("}\n")
        if s.bot { stats.bots += 1 }
    }

    func writeURL(site: Int, page: SimPage, id: UInt32, into out: inout [UInt8]) {
        out.append(contentsOf: originBytes[site])
        switch page {
        case .home: break
        case .category:
            out.append(contentsOf: sites[site].commerce ? TrafficModel.commercePages[Int(id) % 6] : TrafficModel.contentSections[Int(id) % 6])
        case .product: out.appendASCII("product/"); out.appendInt(Int64(id))
        case .article: out.appendASCII("article/"); out.appendInt(Int64(id))
        case .search:
            out.appendASCII("search?q=")
            out.append(contentsOf: TrafficModel.searchTerms[Int(id) % TrafficModel.searchTerms.count])
        case .cart: out.appendASCII("cart")
        case .checkout: out.appendASCII("checkout")
        case .complete: out.appendASCII("checkout/complete")
        }
    }

    func writeTitle(site: Int, page: SimPage, id: UInt32, into out: inout [UInt8]) {
        switch page {
        case .home: out.appendASCII("Home")
        case .category: out.appendASCII("Browse")
        case .product: out.appendASCII("Product "); out.appendInt(Int64(id))
        case .article: out.appendASCII("Story "); out.appendInt(Int64(id))
        case .search: out.appendASCII("Search results")
        case .cart: out.appendASCII("Your cart")
        case .checkout: out.appendASCII("Checkout")
        case .complete: out.appendASCII("Thank you")
        }
        out.appendASCII(" | ")
        out.append(contentsOf: siteIdBytes[site])
    }
}

enum SimPage: UInt8, Sendable { case home, category, product, article, search, cart, checkout, complete }

enum SimEventType: Sendable {
    case pageView, click, scroll, search, addToCart, purchase, wishlist, videoPlay
    var bytes: [UInt8] {
        switch self {
        case .pageView: SimEventType.names[0]
        case .click: SimEventType.names[1]
        case .scroll: SimEventType.names[2]
        case .search: SimEventType.names[3]
        case .addToCart: SimEventType.names[4]
        case .purchase: SimEventType.names[5]
        case .wishlist: SimEventType.names[6]
        case .videoPlay: SimEventType.names[7]
        }
    }
    static let names: [[UInt8]] = ["page_view", "click", "scroll", "search", "add_to_cart", "purchase", "wishlist", "video_play"].map { Array($0.utf8) }
}

struct SimSession: Sendable {
    var id: UInt64
    var visitor: UInt64
    var user: UInt32
    var agent: UInt8
    var bot: Bool
    var source: UInt8
    var remaining: Int16
    var step: Int16
    var page: SimPage
    var pageId: UInt32
    var cart: Bool
    var screen: UInt8
    var ip: UInt32
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
