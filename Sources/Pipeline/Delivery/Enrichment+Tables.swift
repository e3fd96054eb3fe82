import Foundation

/// The parts of a URL delivery adds as columns. Ranges index into the URL's bytes.
struct URLParts {
    var host: Range<Int>? = nil
    var path: Range<Int>? = nil
    var query: Range<Int>? = nil

    /// Absolute (`scheme://host[:port]/path?query#frag`), protocol-relative (`//host/…`) or
    /// relative (`/path?query`) URLs. The host excludes user info and port.
    static func parse(_ u: UnsafeRawBufferPointer) -> URLParts {
        var p = URLParts()
        let n = u.count
        var i = 0
        // scheme
        var j = 0
        while j < n, (u[j] >= 0x61 && u[j] <= 0x7A) || (u[j] >= 0x41 && u[j] <= 0x5A) || (j > 0 && (u[j] == 0x2B || u[j] == 0x2D || u[j] == 0x2E || (u[j] >= 0x30 && u[j] <= 0x39))) { j += 1 }
        var hasAuthority = false
        if j > 0, j + 2 < n, u[j] == 0x3A, u[j + 1] == 0x2F, u[j + 2] == 0x2F { i = j + 3; hasAuthority = true }
        else if n >= 2, u[0] == 0x2F, u[1] == 0x2F { i = 2; hasAuthority = true }
        if hasAuthority {
            var end = i
            while end < n, u[end] != 0x2F, u[end] != 0x3F, u[end] != 0x23 { end += 1 }
            var hs = i
            for k in i..<end where u[k] == 0x40 { hs = k + 1 }
            var he = end
            if hs < end, u[hs] == 0x5B { // [ipv6]
                var k = hs; while k < end, u[k] != 0x5D { k += 1 }
                he = min(end, k + 1)
            } else {
                for k in hs..<end where u[k] == 0x3A { he = k; break }
            }
            if he > hs { p.host = hs..<he }
            i = end
        }
        var pe = i
        while pe < n, u[pe] != 0x3F, u[pe] != 0x23 { pe += 1 }
        if pe > i { p.path = i..<pe } else if hasAuthority { p.path = nil }
        if pe < n, u[pe] == 0x3F {
            var qe = pe + 1
            while qe < n, u[qe] != 0x23 { qe += 1 }
            if qe > pe + 1 { p.query = (pe + 1)..<qe }
        }
        return p
    }
}

/// The five UTM parameters of a query string (percent-decoded), nil when absent. The decoded
/// values live in a caller's scratch buffer; the fields are ranges into it.
struct UTM {
    var source: Range<Int>? = nil, medium: Range<Int>? = nil, campaign: Range<Int>? = nil, term: Range<Int>? = nil, content: Range<Int>? = nil
    var any: Bool { source != nil || medium != nil || campaign != nil || term != nil || content != nil }

    static func parse(_ q: UnsafeRawBufferPointer, into buf: inout [UInt8]) -> UTM {
        var t = UTM()
        guard q.count >= 10 else { return t }
        var i = 0
        while i < q.count {
            var e = i
            while e < q.count, q[e] != 0x26 { e += 1 }
            // "utm_" prefix, then the key up to '='
            if e - i > 5, q[i] == 0x75, q[i + 1] == 0x74, q[i + 2] == 0x6D, q[i + 3] == 0x5F {
                var eq = i + 4
                while eq < e, q[eq] != 0x3D { eq += 1 }
                let key = UnsafeRawBufferPointer(rebasing: q[(i + 4)..<eq])
                let start = buf.count
                if eq < e { Bytes.percentDecode(UnsafeRawBufferPointer(rebasing: q[(eq + 1)..<e]), into: &buf) }
                let val = start..<buf.count
                if Bytes.equalsLower(key, "source") { t.source = val }
                else if Bytes.equalsLower(key, "medium") { t.medium = val }
                else if Bytes.equalsLower(key, "campaign") { t.campaign = val }
                else if Bytes.equalsLower(key, "term") { t.term = val }
                else if Bytes.equalsLower(key, "content") { t.content = val }
                else { buf.removeSubrange(start...) }
            }
            i = e + 1
        }
        return t
    }
}

/// The ten channel groups of the lake contract (GA4's default channel grouping, simplified).
public enum ChannelGroup: String, Sendable, CaseIterable {
    case direct = "Direct", organicSearch = "Organic Search", paidSearch = "Paid Search"
    case organicSocial = "Organic Social", paidSocial = "Paid Social", email = "Email"
    case referral = "Referral", display = "Display", affiliates = "Affiliates", unassigned = "Unassigned"
}

extension ChannelGroup {
    /// The name as a JSON string, quotes included (the enricher appends it without a String per event).
    var jsonString: StaticString {
        switch self {
        case .direct: return "\"Direct\""
        case .organicSearch: return "\"Organic Search\""
        case .paidSearch: return "\"Paid Search\""
        case .organicSocial: return "\"Organic Social\""
        case .paidSocial: return "\"Paid Social\""
        case .email: return "\"Email\""
        case .referral: return "\"Referral\""
        case .display: return "\"Display\""
        case .affiliates: return "\"Affiliates\""
        case .unassigned: return "\"Unassigned\""
        }
    }
}

public enum HostKind: Sendable { case search, social, other }

public enum ChannelRules {
    /// Registrable-name tokens of search engines: a host matches when one of its labels equals the token
    /// (google matches www.google.com and google.co.jp) or it ends with a listed domain.
    static let searchLabels: Set<String> = ["google", "bing", "baidu", "yandex", "duckduckgo", "ecosia", "naver", "sogou", "seznam", "daum", "qwant", "startpage"]
    static let searchDomains = ["search.yahoo.com", "search.yahoo.co.jp", "yahoo.co.jp", "ask.com", "search.brave.com", "aol.com"]
    static let socialLabels: Set<String> = ["facebook", "instagram", "twitter", "linkedin", "reddit", "tiktok", "pinterest", "youtube", "snapchat", "tumblr", "weibo", "quora", "threads", "mastodon", "discord", "telegram", "whatsapp", "vk"]
    static let socialDomains = ["t.co", "x.com", "fb.com", "m.me", "lnkd.in", "youtu.be", "ok.ru", "line.me"]

    public static func hostKind(_ host: String) -> HostKind {
        let h = host.lowercased()
        func endsWith(_ d: String) -> Bool { h == d || h.hasSuffix("." + d) }
        let labels = h.split(separator: ".")
        let inner = labels.dropLast() // the TLD never names the engine
        if searchDomains.contains(where: endsWith) || inner.contains(where: { searchLabels.contains(String($0)) }) { return .search }
        if socialDomains.contains(where: endsWith) || inner.contains(where: { socialLabels.contains(String($0)) }) { return .social }
        return .other
    }

    /// `refKind` is nil when there is no (external) referrer.
    public static func classify(medium: String?, source: String?, refKind: HostKind?, hasUTM: Bool) -> ChannelGroup {
        let m = medium?.lowercased() ?? ""
        let s = source?.lowercased() ?? ""
        let sourceKind: HostKind? = s.isEmpty ? nil : hostKind(s.contains(".") ? s : s + ".com")
        let socialish = sourceKind == .social || refKind == .social
        switch m {
        case "cpc", "ppc", "paidsearch", "paid_search", "paid-search", "cpv", "cpa":
            return socialish ? .paidSocial : .paidSearch
        case "paid_social", "paidsocial", "paid-social", "social_paid", "social-paid": return .paidSocial
        case "email", "e-mail", "e_mail", "e mail", "newsletter": return .email
        case "display", "banner", "cpm", "interstitial", "expandable": return .display
        case "affiliate", "affiliates": return .affiliates
        case "organic": return .organicSearch
        case "social", "social-network", "social-media", "sm", "social network", "social media": return .organicSocial
        case "referral": return .referral
        default: break
        }
        if m.hasPrefix("paid") { return socialish ? .paidSocial : .paidSearch }
        if !m.isEmpty { return .unassigned }
        if let k = refKind {
            switch k {
            case .search: return .organicSearch
            case .social: return .organicSocial
            case .other: return .referral
            }
        }
        if sourceKind == .search { return .organicSearch }
        if sourceKind == .social { return .organicSocial }
        return hasUTM ? .unassigned : .direct
    }
}

/// What the user agent says about the client.
public struct UserAgentInfo: Sendable, Equatable {
    public var browser: String?
    public var version: String?
    public var os: String?
    public var device: String   // desktop | mobile | tablet | bot
    public var isBot: Bool
    public var botReason: String?

    /// Token tables, checked in order on the lowercased agent. First match wins.
    static let crawlerTokens = ["googlebot", "bingbot", "yandexbot", "baiduspider", "duckduckbot", "slurp", "ahrefsbot", "semrushbot",
                                "mj12bot", "dotbot", "petalbot", "applebot", "facebookexternalhit", "twitterbot", "linkedinbot",
                                "gptbot", "ccbot", "bytespider", "amazonbot", "claudebot", "crawler", "spider", "bot/", "bot;", "robot"]
    static let headlessTokens = ["headlesschrome", "phantomjs", "puppeteer", "playwright", "selenium", "electron/"]
    static let libraryTokens = ["python-requests", "python-urllib", "aiohttp", "httpx", "curl/", "wget/", "go-http-client",
                                "okhttp", "java/", "apache-httpclient", "libwww-perl", "node-fetch", "axios/", "scrapy", "httpie", "postmanruntime"]

    public static func parse(_ ua: String) -> UserAgentInfo {
        let l = ua.lowercased()
        var info = UserAgentInfo(browser: nil, version: nil, os: nil, device: "desktop", isBot: false, botReason: nil)
        func version(after token: String) -> String? {
            guard let r = ua.range(of: token, options: .caseInsensitive) else { return nil }
            let v = ua[r.upperBound...].prefix { $0.isNumber || $0 == "." || $0 == "_" }
            return v.isEmpty ? nil : String(v).replacingOccurrences(of: "_", with: ".")
        }
        // Browser
        let browsers: [(token: String, name: String)] = [
            ("edg/", "Edge"), ("edga/", "Edge"), ("edgios/", "Edge"), ("opr/", "Opera"), ("samsungbrowser/", "Samsung Internet"),
            ("yabrowser/", "Yandex Browser"), ("ucbrowser/", "UC Browser"), ("headlesschrome/", "HeadlessChrome"),
            ("firefox/", "Firefox"), ("fxios/", "Firefox"), ("crios/", "Chrome"), ("chrome/", "Chrome"),
        ]
        for b in browsers where l.contains(b.token) { info.browser = b.name; info.version = version(after: b.token); break }
        if info.browser == nil, l.contains("safari/"), l.contains("version/") { info.browser = "Safari"; info.version = version(after: "version/") }
        // OS
        if l.contains("windows nt") || l.contains("windows") { info.os = "Windows" }
        else if l.contains("iphone") || l.contains("ipad") || l.contains("ipod") { info.os = "iOS" }
        else if l.contains("android") { info.os = "Android" }
        else if l.contains("mac os x") || l.contains("macintosh") { info.os = "macOS" }
        else if l.contains("cros") { info.os = "ChromeOS" }
        else if l.contains("linux") || l.contains("x11") { info.os = "Linux" }
        // Device
        if l.contains("ipad") || l.contains("tablet") || (l.contains("android") && !l.contains("mobile")) { info.device = "tablet" }
        else if l.contains("mobi") || l.contains("iphone") || l.contains("ipod") { info.device = "mobile" }
        // Bots
        let trimmed = l.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty || trimmed == "-" { info.botReason = "empty user agent" }
        else if let t = headlessTokens.first(where: { l.contains($0) }) { info.botReason = "headless browser (\(t.trimmingCharacters(in: CharacterSet(charactersIn: "/;"))))" }
        else if let t = libraryTokens.first(where: { l.contains($0) }) { info.botReason = "http library (\(t.trimmingCharacters(in: CharacterSet(charactersIn: "/;"))))" }
        else if let t = crawlerTokens.first(where: { l.contains($0) }) {
            // name the crawler by the product token holding the match, e.g. "Googlebot/2.1"
            var name = t.trimmingCharacters(in: CharacterSet(charactersIn: "/;"))
            if let r = l.range(of: t) {
                let start = l[..<r.lowerBound].lastIndex(where: { $0 == " " || $0 == ";" || $0 == "(" }).map { l.index(after: $0) } ?? l.startIndex
                let end = l[r.lowerBound...].firstIndex(where: { $0 == "/" || $0 == ";" || $0 == " " || $0 == ")" }) ?? l.endIndex
                if start < end { name = String(l[start..<end]) }
            }
            info.botReason = "known crawler (\(name))"
        }
        if info.botReason != nil { info.isBot = true; info.device = "bot" }
        return info
    }

    /// The JSON fragment the enricher splices (without a leading comma).
    var jsonFragment: [UInt8] {
        var o: [UInt8] = []
        func opt(_ s: String?) { if let s { o.appendJSONString(s) } else { o.appendLiteral("null") } }
        o.appendLiteral("\"browser\":"); opt(browser)
        o.appendLiteral(",\"browser_version\":"); opt(version)
        o.appendLiteral(",\"os\":"); opt(os)
        o.appendLiteral(",\"device\":"); o.appendJSONString(device)
        o.appendLiteral(",\"is_bot\":"); if isBot { o.appendLiteral("true") } else { o.appendLiteral("false") }
        o.appendLiteral(",\"bot_reason\":"); opt(botReason)
        return o
    }
}

public enum IPTruncation {
    /// IPv4 → last octet zeroed; IPv6 → the first 48 bits, printed `a:b:c::`. Nil for anything else.
    public static func truncate(_ ip: String) -> String? {
        if ip.contains(":") {
            var s = Substring(ip)
            if let pct = s.firstIndex(of: "%") { s = s[..<pct] } // zone id
            let halves = s.components(separatedBy: "::")
            guard halves.count <= 2 else { return nil }
            let head = halves[0].isEmpty ? [] : halves[0].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            let tail = halves.count == 2 && !halves[1].isEmpty ? halves[1].split(separator: ":", omittingEmptySubsequences: false).map(String.init) : []
            var groups: [UInt16] = []
            func parse(_ gs: [String]) -> [UInt16]? {
                var out: [UInt16] = []
                for (k, g) in gs.enumerated() {
                    if g.contains(".") && k == gs.count - 1 { // embedded IPv4
                        let o = g.split(separator: ".").compactMap { UInt8($0) }
                        guard o.count == 4 else { return nil }
                        out.append(UInt16(o[0]) << 8 | UInt16(o[1])); out.append(UInt16(o[2]) << 8 | UInt16(o[3]))
                    } else {
                        guard (1...4).contains(g.count), let v = UInt16(g, radix: 16) else { return nil }
                        out.append(v)
                    }
                }
                return out
            }
            guard let h = parse(head), let t = parse(tail) else { return nil }
            if halves.count == 2 { guard h.count + t.count <= 7 else { return nil }; groups = h + Array(repeating: 0, count: 8 - h.count - t.count) + t }
            else { guard h.count == 8 else { return nil }; groups = h }
            return groups[0..<3].map { String($0, radix: 16) }.joined(separator: ":") + "::"
        }
        let o = ip.split(separator: ".", omittingEmptySubsequences: false)
        guard o.count == 4, o.allSatisfy({ !$0.isEmpty && $0.count <= 3 && UInt8($0) != nil }) else { return nil }
        return "\(UInt8(o[0])!).\(UInt8(o[1])!).\(UInt8(o[2])!).0"
    }
}
