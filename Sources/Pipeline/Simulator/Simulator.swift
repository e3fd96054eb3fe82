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
    /// Seed of the site catalog (names, regions, popularity) when it must differ from the traffic
    /// seed: several generators (loadgen's connections) share one set of sites this way.
    public var catalogSeed: UInt64? = nil
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
    let sessionTarget: [Int]
    /// Every byte fragment an event is built from, and where each one sits.
    let arena = FragmentArena()
    /// Unique per copy of the simulator (copy-on-write in `generate`), so copies never share it.
    var scratchOwner: ScratchOwner
    var scratch: UnsafeMutablePointer<UInt8> { scratchOwner.pointer }
    let siteIdRef: [FragmentArena.Ref]
    let originRef: [FragmentArena.Ref]
    let langRef: [FragmentArena.Ref]
    let currencyRef: [FragmentArena.Ref]
    let countryRef: [FragmentArena.Ref]
    let humanUARef: [FragmentArena.Ref]
    let botUARef: [FragmentArena.Ref]
    /// Screens per agent: `screenRef[agentScreens[agent] + k]`, 5 slots each (humans first, then bots).
    let screenRef: [FragmentArena.Ref]
    let referrerRef: [FragmentArena.Ref]
    let utmRef: [FragmentArena.Ref]
    let searchTermRef: [FragmentArena.Ref]
    let commercePageRef: [FragmentArena.Ref]
    let sectionRef: [FragmentArena.Ref]
    let typeRef: [FragmentArena.Ref]

    public init(_ config: SimulatorConfig = SimulatorConfig()) {
        self.config = config
        sites = SiteCatalog.make(count: max(1, config.sites), seed: config.catalogSeed ?? config.seed)
        rng = Xoshiro256(seed: config.seed)
        clockMs = Double(config.startMs)
        msPerEvent = 1000 / max(config.rate, 0.001)
        active = Array(repeating: [], count: sites.count)
        returning = Array(repeating: [], count: sites.count)
        returningNext = Array(repeating: 0, count: sites.count)
        humanAlias = AliasTable(weights: TrafficModel.humanAgents.map(\.weight))
        botAlias = AliasTable(weights: TrafficModel.botAgents.map(\.weight))
        sourceAlias = AliasTable(weights: TrafficModel.sources.map(\.weight))
        let a = arena
        siteIdRef = sites.map { a.add($0.id) }
        originRef = sites.map { a.add("https://\($0.host)/") }
        langRef = sites.map { a.add($0.region.lang) }
        currencyRef = sites.map { a.add($0.region.currency) }
        countryRef = sites.map { a.add($0.region.country) }
        humanUARef = TrafficModel.humanAgents.map { a.add($0.ua) }
        botUARef = TrafficModel.botAgents.map { a.add($0.ua) }
        screenRef = (TrafficModel.humanAgents + TrafficModel.botAgents).flatMap { agent in
            (0..<5).map { a.add(agent.screens[$0 % agent.screens.count]) }
        }
        referrerRef = TrafficModel.sources.map { a.add($0.referrer) }
        utmRef = TrafficModel.sources.map { a.add($0.utm) }
        searchTermRef = TrafficModel.searchTerms.map { a.add($0) }
        commercePageRef = TrafficModel.commercePages.map { a.add($0) }
        sectionRef = TrafficModel.contentSections.map { a.add($0) }
        typeRef = SimEventType.names.map { a.add($0) }
        a.freeze()
        scratchOwner = ScratchOwner(bytes: Simulator.maxEventBytes)
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
        if !isKnownUniquelyReferenced(&scratchOwner) { scratchOwner = ScratchOwner(bytes: Simulator.maxEventBytes) }
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

    /// No event the simulator writes comes near this (the longest UA, URLs and title stay under 1 KiB).
    static let maxEventBytes = 4096

    mutating func writeEvent(site: Int, ts: Int64, session s: SimSession, type: SimEventType,
                             previous: (SimPage, UInt32)?, value: Int64, into out: inout [UInt8], identified: Bool) {
        let base = arena.base
        var w = ByteCursor(p: scratch)
        w.put("{\"event_id\":\"")
        w.putUUID(rng.next(), rng.next())
        w.put("\",\"site_id\":\"")
        w.put(siteIdRef[site], base)
        w.put("\",\"type\":\"")
        w.put(typeRef[type.index], base)
        w.put("\",\"ts\":")
        w.putInt(ts)
        if identified {
            w.put(",\"session_id\":\"")
            w.putHex(s.id, bytes: 8)
            w.put("\",\"anon_id\":\"")
            w.putHex(s.visitor, bytes: 8)
            w.put(0x22)
            if s.user != 0 {
                w.put(",\"user_id\":\"u")
                w.putInt(Int64(s.user))
                w.put(0x22)
            }
        }
        w.put(",\"url\":\"")
        writeURL(site: site, page: s.page, id: s.pageId, into: &w)
        if s.step == 0, !s.bot {
            if utmRef[Int(s.source)].count > 0 {
                w.put(s.page == .search ? 0x26 : 0x3F)
                w.put(utmRef[Int(s.source)], base)
            }
            w.put(0x22)
            if referrerRef[Int(s.source)].count > 0 {
                w.put(",\"referrer\":\"")
                w.put(referrerRef[Int(s.source)], base)
                w.put(0x22)
            }
        } else {
            w.put(0x22)
            if let (page, id) = previous {
                w.put(",\"referrer\":\"")
                writeURL(site: site, page: page, id: id, into: &w)
                w.put(0x22)
            }
        }
        if type == .pageView {
            w.put(",\"title\":\"")
            writeTitle(site: site, page: s.page, id: s.pageId, into: &w)
            w.put(0x22)
        }
        w.put(",\"ua\":\"")
        w.put(s.bot ? botUARef[Int(s.agent)] : humanUARef[Int(s.agent)], base)
        w.put("\",\"ip\":\"")
        w.putInt(Int64(s.ip >> 24)); w.put(0x2E)
        w.putInt(Int64((s.ip >> 16) & 0xFF)); w.put(0x2E)
        w.putInt(Int64((s.ip >> 8) & 0xFF)); w.put(0x2E)
        w.putInt(Int64(s.ip & 0xFF))
        w.put("\",\"lang\":\"")
        w.put(langRef[site], base)
        w.put("\",\"screen\":\"")
        w.put(screenRef[(s.bot ? TrafficModel.humanAgents.count + Int(s.agent) : Int(s.agent)) * 5 + Int(s.screen) % 5], base)
        w.put("\",\"country\":\"")
        w.put(countryRef[site], base)
        w.put(0x22)
        switch type {
        case .click, .videoPlay, .wishlist:
            w.put(",\"engagement_ms\":")
            w.putInt(Int64(500 + rng.below(60_000)))
        case .scroll:
            w.put(",\"scroll_pct\":")
            w.putInt(Int64(25 * (1 + rng.below(4))))
        case .addToCart, .purchase:
            w.put(",\"value\":")
            w.putCents(value)
            w.put(",\"currency\":\"")
            w.put(currencyRef[site], base)
            w.put(0x22)
            if type == .purchase {
                w.put(",\"props\":{\"order_id\":\"o")
                w.putHex(rng.next(), bytes: 6)
                w.put("\",\"items\":")
                w.putInt(Int64(1 + rng.below(4)))
                w.put(0x7D)
            }
        case .search:
            w.put(",\"props\":{\"query\":\"")
            w.put(searchTermRef[Int(s.pageId) % searchTermRef.count], base)
            w.put("\"}")
        case .pageView: break
        }
        w.put("}\n")
        out.append(contentsOf: UnsafeBufferPointer(start: scratch, count: w.p - scratch))
        if s.bot { stats.bots += 1 }
    }

    func writeURL(site: Int, page: SimPage, id: UInt32, into w: inout ByteCursor) {
        w.put(originRef[site], arena.base)
        switch page {
        case .home: break
        case .category:
            w.put(sites[site].commerce ? commercePageRef[Int(id) % 6] : sectionRef[Int(id) % 6], arena.base)
        case .product: w.put("product/"); w.putInt(Int64(id))
        case .article: w.put("article/"); w.putInt(Int64(id))
        case .search:
            w.put("search?q=")
            w.put(searchTermRef[Int(id) % searchTermRef.count], arena.base)
        case .cart: w.put("cart")
        case .checkout: w.put("checkout")
        case .complete: w.put("checkout/complete")
        }
    }

    func writeTitle(site: Int, page: SimPage, id: UInt32, into w: inout ByteCursor) {
        switch page {
        case .home: w.put("Home")
        case .category: w.put("Browse")
        case .product: w.put("Product "); w.putInt(Int64(id))
        case .article: w.put("Story "); w.putInt(Int64(id))
        case .search: w.put("Search results")
        case .cart: w.put("Your cart")
        case .checkout: w.put("Checkout")
        case .complete: w.put("Thank you")
        }
        w.put(" | ")
        w.put(siteIdRef[site], arena.base)
    }
}

enum SimPage: UInt8, Sendable { case home, category, product, article, search, cart, checkout, complete }

enum SimEventType: Sendable {
    case pageView, click, scroll, search, addToCart, purchase, wishlist, videoPlay
    var index: Int {
        switch self {
        case .pageView: 0
        case .click: 1
        case .scroll: 2
        case .search: 3
        case .addToCart: 4
        case .purchase: 5
        case .wishlist: 6
        case .videoPlay: 7
        }
    }
    static let names: [[UInt8]] = ["page_view", "click", "scroll", "search", "add_to_cart", "purchase", "wishlist", "video_play"].map { Array($0.utf8) }
}

/// Owns the simulator's scratch buffer (a struct cannot deinit).
final class ScratchOwner: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<UInt8>
    init(bytes: Int) { pointer = .allocate(capacity: bytes) }
    deinit { pointer.deallocate() }
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
