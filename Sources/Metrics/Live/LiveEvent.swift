/// One event as the live aggregates see it: small integers and 64-bit hashes, no strings.
///
/// Pipeline builds these from parsed records and applies them in batches (`LiveAggregates.apply`).
/// Display names travel beside the batch as bytes (`NameRef` into the batch's name buffer) and are
/// copied only when a site is first seen or a page/referrer takes a top-K counter.
///
/// Time: every live figure (rates, windows, active visitors, "today", sessions) is keyed by
/// `arrivalMs`, the collector's stamp, which is immune to client clock skew and monotone enough
/// per shard. `tsMs` (client time) is carried for callers but not used for aggregation.
public struct LiveEvent: Sendable, BitwiseCopyable {
    /// Dense site index assigned by the caller (0, 1, 2, … in order of first sight is ideal).
    public var site: UInt32
    /// `LiveEventType.rawValue`.
    public var type: UInt8
    /// `Channel.rawValue`.
    public var channel: UInt8
    /// `DeviceClass.rawValue`.
    public var device: UInt8
    /// `BrowserFamily.rawValue`.
    public var browser: UInt8
    /// ISO 3166 alpha-2 as two ASCII bytes, first letter in the high byte ("US" = 0x5553); 0 unknown.
    public var country: UInt16
    public var isBot: Bool
    public var tsMs: Int64
    public var arrivalMs: Int64
    /// Hashes of the visitor id, session id, page path and referrer host; 0 means absent. Events
    /// without a session id are sessionised by visitor (30 minutes of inactivity ends a session).
    public var visitor: UInt64
    public var session: UInt64
    public var page: UInt64
    public var referrer: UInt64
    /// Revenue for purchases (in the site's currency units); ignored for other types.
    public var value: Double
    public var siteName: NameRef
    public var pageName: NameRef
    public var referrerName: NameRef

    public init(site: UInt32, type: LiveEventType, channel: Channel = .direct, device: DeviceClass = .unknown,
                browser: BrowserFamily = .unknown, country: UInt16 = 0, isBot: Bool = false, tsMs: Int64 = 0,
                arrivalMs: Int64, visitor: UInt64 = 0, session: UInt64 = 0, page: UInt64 = 0, referrer: UInt64 = 0,
                value: Double = 0, siteName: NameRef = .none, pageName: NameRef = .none, referrerName: NameRef = .none) {
        self.site = site; self.type = type.rawValue; self.channel = channel.rawValue; self.device = device.rawValue
        self.browser = browser.rawValue; self.country = country; self.isBot = isBot; self.tsMs = tsMs
        self.arrivalMs = arrivalMs; self.visitor = visitor; self.session = session; self.page = page
        self.referrer = referrer; self.value = value; self.siteName = siteName; self.pageName = pageName
        self.referrerName = referrerName
    }

    /// Two ASCII letters → `country` code.
    public static func countryCode(_ iso2: String) -> UInt16 {
        let u = Array(iso2.utf8)
        guard u.count == 2 else { return 0 }
        return UInt16(u[0]) << 8 | UInt16(u[1])
    }
}

/// Where a display name sits in the bytes passed beside a batch. `length == 0` means no name.
public struct NameRef: Sendable, BitwiseCopyable, Equatable {
    public var offset: UInt32
    public var length: UInt32
    public init(offset: UInt32, length: UInt32) { self.offset = offset; self.length = length }
    public static let none = NameRef(offset: 0, length: 0)

    @inline(__always)
    func bytes(in buffer: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let end = Int(offset) + Int(length)
        guard length > 0, end <= buffer.count, let base = buffer.baseAddress else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + Int(offset), count: Int(length))
    }
}

/// Event type codes. The names are the keys of `SiteStats.eventsByType` and of `/metrics`.
/// Append new cases at the end; codes past the last case count as `.other`.
public enum LiveEventType: UInt8, Sendable, CaseIterable {
    case pageview, click, scroll, search, addToCart, removeFromCart, checkout, purchase, signup, login, custom, other
    public var name: String {
        switch self {
        case .pageview: "pageview"
        case .click: "click"
        case .scroll: "scroll"
        case .search: "search"
        case .addToCart: "add_to_cart"
        case .removeFromCart: "remove_from_cart"
        case .checkout: "checkout"
        case .purchase: "purchase"
        case .signup: "signup"
        case .login: "login"
        case .custom: "custom"
        case .other: "other"
        }
    }
    public init(name: String) {
        self = Self.allCases.first { $0.name == name } ?? .other
    }
}

/// Acquisition channel codes (`SiteStats.channels`).
public enum Channel: UInt8, Sendable, CaseIterable {
    case direct, organicSearch, paidSearch, social, email, referral, display, affiliate, other
    public var name: String {
        switch self {
        case .direct: "direct"
        case .organicSearch: "organic_search"
        case .paidSearch: "paid_search"
        case .social: "social"
        case .email: "email"
        case .referral: "referral"
        case .display: "display"
        case .affiliate: "affiliate"
        case .other: "other"
        }
    }
    public init(name: String) { self = Self.allCases.first { $0.name == name } ?? .other }
}

/// Device class codes (`SiteStats.devices`).
public enum DeviceClass: UInt8, Sendable, CaseIterable {
    case unknown, desktop, mobile, tablet, other
    public var name: String {
        switch self {
        case .unknown: "unknown"
        case .desktop: "desktop"
        case .mobile: "mobile"
        case .tablet: "tablet"
        case .other: "other"
        }
    }
    public init(name: String) { self = Self.allCases.first { $0.name == name } ?? .other }
}

/// Browser family codes (`SiteStats.browsers`).
public enum BrowserFamily: UInt8, Sendable, CaseIterable {
    case unknown, chrome, safari, firefox, edge, samsung, opera, other
    public var name: String {
        switch self {
        case .unknown: "unknown"
        case .chrome: "chrome"
        case .safari: "safari"
        case .firefox: "firefox"
        case .edge: "edge"
        case .samsung: "samsung"
        case .opera: "opera"
        case .other: "other"
        }
    }
    public init(name: String) { self = Self.allCases.first { $0.name == name } ?? .other }
}
