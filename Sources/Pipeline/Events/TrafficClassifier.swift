import Foundation
import Metrics

/// Channel and user-agent classification shared by delivery's enrichment (the lake's `channel`,
/// `device`, `browser`, `is_bot` columns) and the live aggregates (the dashboard's channel mix,
/// devices and bot share), so both read the same for the same events. The rules are
/// `ChannelRules` and `UserAgentInfo`; this adds caches keyed by a 64-bit hash of the bytes
/// (agents, referrer hosts and UTM pairs repeat heavily). One per thread; not thread-safe.
struct TrafficClassifier {
    static let cacheLimit = 8192

    /// What one user agent classifies as: the lake's JSON fragment and the live aggregates' class.
    struct Agent {
        var fragment: [UInt8]
        var live: UserAgentClass
    }

    private var agents: [UInt64: Agent] = [:]
    private var hostKinds: [UInt64: HostKind] = [:]
    private var channels: [UInt64: ChannelGroup] = [:]
    // Scratch for `channel(url:referrer:)`.
    private var pageHost: [UInt8] = []
    private var refHost: [UInt8] = []
    private var utmBuf: [UInt8] = []

    /// The agent's classification; `ua` nil means the event had none. `rawHash` is Hash64 of the
    /// bytes when the caller already has it.
    mutating func agent(_ ua: UnsafeRawBufferPointer?, rawHash: UInt64? = nil) -> Agent {
        let h: UInt64 = ua.map { (rawHash ?? Hash64.hash($0)) | 1 << 63 } ?? 0x6e6f_2d75_61 // "no-ua"
        if let a = agents[h] { return a }
        let info = UserAgentInfo.parse(ua.map { String(decoding: $0, as: UTF8.self) } ?? "")
        let a = Agent(fragment: info.jsonFragment, live: info.liveClass)
        if agents.count >= Self.cacheLimit { agents.removeAll(keepingCapacity: true) }
        agents[h] = a
        return a
    }

    /// Kind of the external referrer: nil when there is no referrer host, or when it is the page's
    /// own host (internal navigation). Both hosts lower-cased.
    mutating func referrerKind(pageHost: UnsafeRawBufferPointer?, refHost: UnsafeRawBufferPointer?) -> HostKind? {
        guard let r = refHost, r.count > 0 else { return nil }
        if let p = pageHost, p.count == r.count, let pa = p.baseAddress, let ra = r.baseAddress, memcmp(pa, ra, r.count) == 0 { return nil }
        let h = Hash64.hash(r)
        if let k = hostKinds[h] { return k }
        let k = ChannelRules.hostKind(String(decoding: r, as: UTF8.self))
        if hostKinds.count >= Self.cacheLimit { hostKinds.removeAll(keepingCapacity: true) }
        hostKinds[h] = k
        return k
    }

    /// The channel group from the UTM parameters (decoded values in `utmBytes`) and the external
    /// referrer's kind.
    mutating func channel(_ utm: UTM, utmBytes ub: UnsafeRawBufferPointer, refKind: HostKind?) -> ChannelGroup {
        if !utm.any {
            guard let k = refKind else { return .direct }
            return k == .search ? .organicSearch : k == .social ? .organicSocial : .referral
        }
        var key = refKind.map { k -> UInt64 in k == .search ? 1 : k == .social ? 2 : 3 } ?? 0
        key = Hash64.mix(key ^ (utm.medium.map { Hash64.hash(UnsafeRawBufferPointer(rebasing: ub[$0])) } ?? 0x51))
        key = Hash64.mix(key ^ (utm.source.map { Hash64.hash(UnsafeRawBufferPointer(rebasing: ub[$0])) } ?? 0x73))
        if let c = channels[key] { return c }
        let medium = utm.medium.map { String(decoding: ub[$0], as: UTF8.self) }
        let source = utm.source.map { String(decoding: ub[$0], as: UTF8.self) }
        let c = ChannelRules.classify(medium: medium, source: source, refKind: refKind, hasUTM: true)
        if channels.count >= Self.cacheLimit { channels.removeAll(keepingCapacity: true) }
        channels[key] = c
        return c
    }

    /// The whole channel decision from an event's page URL and referrer (the live path; delivery
    /// makes the same calls while it writes the URL columns).
    mutating func channel(url: UnsafeRawBufferPointer?, referrer: UnsafeRawBufferPointer?) -> ChannelGroup {
        pageHost.removeAll(keepingCapacity: true); refHost.removeAll(keepingCapacity: true); utmBuf.removeAll(keepingCapacity: true)
        var utm = UTM()
        var hasPageHost = false
        if let u = url {
            let p = URLParts.parse(u)
            if let h = p.host { for c in UnsafeRawBufferPointer(rebasing: u[h]) { pageHost.append(Bytes.lower(c)) }; hasPageHost = true }
            if let q = p.query { utm = UTM.parse(UnsafeRawBufferPointer(rebasing: u[q]), into: &utmBuf) }
        }
        var hasRefHost = false
        if let r = referrer, let h = URLParts.parse(r).host {
            for c in UnsafeRawBufferPointer(rebasing: r[h]) { refHost.append(Bytes.lower(c)) }
            hasRefHost = true
        }
        let page = pageHost, ref = refHost, ub = utmBuf
        return page.withUnsafeBytes { pb in
            ref.withUnsafeBytes { rb in
                ub.withUnsafeBytes { u in
                    let kind = referrerKind(pageHost: hasPageHost ? pb : nil, refHost: hasRefHost ? rb : nil)
                    return channel(utm, utmBytes: u, refKind: kind)
                }
            }
        }
    }
}

extension UserAgentInfo {
    /// The live aggregates' view of the same classification.
    var liveClass: UserAgentClass {
        let device: DeviceClass = isBot ? .other : device == "mobile" ? .mobile : device == "tablet" ? .tablet : .desktop
        let family: BrowserFamily
        switch browser {
        case "Chrome": family = .chrome
        case "Safari": family = .safari
        case "Firefox": family = .firefox
        case "Edge": family = .edge
        case "Samsung Internet": family = .samsung
        case "Opera": family = .opera
        default: family = .other
        }
        return UserAgentClass(device: device, browser: family, isBot: isBot)
    }
}

extension ChannelGroup {
    /// The live aggregates' coarser channel (paid and organic social together, unassigned as other).
    var live: Channel {
        switch self {
        case .direct: .direct
        case .organicSearch: .organicSearch
        case .paidSearch: .paidSearch
        case .organicSocial, .paidSocial: .social
        case .email: .email
        case .referral: .referral
        case .display: .display
        case .affiliates: .affiliate
        case .unassigned: .other
        }
    }
}

/// What the live aggregates keep of a user agent.
struct UserAgentClass: Equatable {
    var device: DeviceClass
    var browser: BrowserFamily
    var isBot: Bool
}
