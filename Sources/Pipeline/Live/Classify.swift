import Foundation
import Metrics
import CEddy

/// Byte-level classifiers the live path needs per event: URL parts, user agent family, channel.
/// Cheap by design (a few memmem calls); delivery's enrichment is the fuller version for the lake.

enum LiveURLParts {
    /// Host of an absolute URL ("https://www.a.example/x" → "www.a.example"); empty when none.
    static func host(of u: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let b = u.baseAddress, u.count > 0, let s = schemeEnd(u) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        var e = s
        while e < u.count, u[e] != 0x2F, u[e] != 0x3F, u[e] != 0x23, u[e] != 0x3A { e += 1 }
        return UnsafeRawBufferPointer(start: b + s, count: e - s)
    }

    /// Path of a URL without query or fragment ("https://h/a/b?x" → "/a/b"); "/" for a bare host.
    static func path(of u: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let b = u.baseAddress, u.count > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        var s = 0
        if let h = schemeEnd(u) {
            s = h
            while s < u.count, u[s] != 0x2F, u[s] != 0x3F, u[s] != 0x23 { s += 1 }
            if s >= u.count || u[s] != 0x2F { return UnsafeRawBufferPointer(start: slash.utf8Start, count: 1) }
        }
        var e = s
        while e < u.count, u[e] != 0x3F, u[e] != 0x23 { e += 1 }
        return UnsafeRawBufferPointer(start: b + s, count: e - s)
    }

    /// Index just after "://", if the URL has a scheme.
    static func schemeEnd(_ u: UnsafeRawBufferPointer) -> Int? {
        var i = 0
        while i + 2 < u.count && i < 16 {
            if u[i] == 0x3A && u[i + 1] == 0x2F && u[i + 2] == 0x2F { return i + 3 }
            i += 1
        }
        return nil
    }

    static let slash: StaticString = "/"
}

@inline(__always) func contains(_ hay: UnsafeRawBufferPointer, _ needle: StaticString) -> Bool {
    guard let h = hay.baseAddress, hay.count >= needle.utf8CodeUnitCount else { return false }
    return eddy_memmem(h, hay.count, needle.utf8Start, needle.utf8CodeUnitCount) != nil
}

struct UserAgentClass {
    var device: DeviceClass
    var browser: BrowserFamily
    var isBot: Bool

    static func classify(_ ua: UnsafeRawBufferPointer) -> UserAgentClass {
        if ua.count == 0 { return UserAgentClass(device: .unknown, browser: .unknown, isBot: false) }
        if contains(ua, "bot") || contains(ua, "Bot") || contains(ua, "crawl") || contains(ua, "spider")
            || contains(ua, "Headless") || contains(ua, "python-requests") || contains(ua, "curl/") || contains(ua, "Wget") {
            return UserAgentClass(device: .other, browser: .other, isBot: true)
        }
        let device: DeviceClass = contains(ua, "iPad") || contains(ua, "Tablet") || (contains(ua, "Android") && !contains(ua, "Mobile"))
            ? .tablet : (contains(ua, "Mobile") || contains(ua, "iPhone") ? .mobile : .desktop)
        let browser: BrowserFamily
        if contains(ua, "Edg/") { browser = .edge }
        else if contains(ua, "SamsungBrowser") { browser = .samsung }
        else if contains(ua, "OPR/") { browser = .opera }
        else if contains(ua, "Firefox/") { browser = .firefox }
        else if contains(ua, "Chrome/") { browser = .chrome }
        else if contains(ua, "Safari/") { browser = .safari }
        else { browser = .other }
        return UserAgentClass(device: device, browser: browser, isBot: false)
    }
}

/// Channel grouping (GA4-like): utm_medium first, then the referrer's kind.
enum LiveChannelRules {
    enum Group: Equatable {
        case direct, organicSearch, paidSearch, organicSocial, paidSocial, email, referral, display, affiliates, unassigned
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

    static func classify(referrerHost: UnsafeRawBufferPointer, siteHost: UnsafeRawBufferPointer, url: UnsafeRawBufferPointer) -> Group {
        if contains(url, "utm_medium=") {
            if contains(url, "utm_medium=cpc") || contains(url, "utm_medium=ppc") || contains(url, "utm_medium=paidsearch") { return .paidSearch }
            if contains(url, "utm_medium=paid_social") || contains(url, "utm_medium=paidsocial") { return .paidSocial }
            if contains(url, "utm_medium=email") { return .email }
            if contains(url, "utm_medium=display") || contains(url, "utm_medium=banner") || contains(url, "utm_medium=cpm") { return .display }
            if contains(url, "utm_medium=affiliate") { return .affiliates }
        }
        if referrerHost.count == 0 { return contains(url, "utm_") ? .unassigned : .direct }
        if siteHost.count == referrerHost.count, let a = siteHost.baseAddress, let b = referrerHost.baseAddress,
           memcmp(a, b, siteHost.count) == 0 { return .direct }
        for s in searchHosts where contains(referrerHost, s) { return .organicSearch }
        for s in socialHosts where contains(referrerHost, s) { return .organicSocial }
        return .referral
    }

    static let searchHosts: [StaticString] = ["google.", "bing.com", "search.naver", "baidu.com", "duckduckgo", "search.yahoo", "yandex.", "ecosia"]
    static let socialHosts: [StaticString] = ["facebook.com", "instagram.com", "t.co", "twitter.com", "x.com", "linkedin.com", "reddit.com", "tiktok.com", "pinterest.", "youtube.com"]
}
