import Foundation
import Metrics

/// Where a record came from in the stream: the fields delivery adds besides enrichment.
struct RecordOrigin {
    var arrivalMs: Int64
    var shardId: [UInt8]      // "shardId-000000000001"
    var seq: [UInt8]          // decimal sequence number
}

/// The built-in transform chain (URL, referrer/channel, UA, IP, geo, fingerprint) working on bytes.
///
/// The output line is the original record with `ip` replaced by its truncation and a string `ts`
/// replaced by epoch ms, then the added fields spliced in before the final `}` — no JSON object
/// is built per event, and nothing is allocated per event: decoded values go to scratch buffers
/// the enricher keeps. User agents, referrer hosts, channel inputs and IP networks repeat heavily,
/// so their classification is cached by a 64-bit hash of their bytes. One enricher per thread.
struct Enricher {
    var geo: (any CountryLookup)? = nil
    /// UA, referrer and channel rules, shared with the live aggregates.
    private var classifier = TrafficClassifier()
    /// IP network (or address) → two ASCII bytes of the country, 0 when the database had none.
    private var geoCache: [UInt64: UInt16] = [:]
    private(set) var geoLookups = 0
    /// Scratch: lower-cased page host, lower-cased referrer host, decoded UTM values.
    private var pageHost: [UInt8] = []
    private var refHost: [UInt8] = []
    private var utmBuf: [UInt8] = []
    static let cacheLimit = 8192

    init(geo: (any CountryLookup)? = nil) { self.geo = geo }

    /// Country from the database for the (untruncated) address, cached per /24 for IPv4 when the
    /// database's network is at least that wide, else per address. 0 when unknown.
    private mutating func geoCountry(_ geo: any CountryLookup, _ ip: UnsafeRawBufferPointer) -> UInt16 {
        let v4 = Self.parseIPv4(ip)
        let netKey: UInt64? = v4.map { UInt64($0 >> 8) | 0x1 << 40 }
        let addrKey: UInt64 = v4.map { UInt64($0) | 0x2 << 40 } ?? (Hash64.hash(ip) | 1 << 63)
        if let k = netKey, let c = geoCache[k] { return c }
        if let c = geoCache[addrKey] { return c }
        geoLookups += 1
        let (country, bits) = geo.countryNetwork(ip: String(decoding: ip, as: UTF8.self))
        var code: UInt16 = 0
        if let c = country?.utf8, c.count == 2 {
            let a = Bytes.upper(c[c.startIndex]), b = Bytes.upper(c[c.index(after: c.startIndex)])
            code = UInt16(a) << 8 | UInt16(b)
        }
        if geoCache.count >= Self.cacheLimit { geoCache.removeAll(keepingCapacity: true) }
        if let k = netKey, let bits, bits <= 24 { geoCache[k] = code } else { geoCache[addrKey] = code }
        return code
    }

    /// Appends one enriched NDJSON line (with its newline) for `e`, whose spans index `rec`.
    mutating func enrich<Out: ByteSink>(_ rec: UnsafeRawBufferPointer, _ e: ParsedEvent, origin: RecordOrigin, out: inout Out) {
        @inline(__always) func raw(_ s: ByteSpan) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: rec[Int(s.start)..<Int(s.start + s.count)])
        }
        // The value's bytes without a copy unless it held escapes (rare: then one allocation).
        @inline(__always) func withValue<R>(_ s: ByteSpan, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
            guard s.isPresent else { return nil }
            if !s.escaped { return body(raw(s)) }
            return (JSONString.unescape(raw(s)) ?? []).withUnsafeBytes(body)
        }
        // Room for the line (the sink grows geometrically).
        out.reserveMore(rec.count + 640)
        // 1. Copy the record, replacing ip (and a string ts) in place: at most two replacements.
        let ipRange: Range<Int>? = e.ip.isPresent ? (Int(e.ip.start) - 1)..<(Int(e.ip.start + e.ip.count) + 1) : nil
        // The parser hands over a string ts's span: no second scan of the record for it.
        let tsRange: Range<Int>? = e.tsText.isPresent ? (Int(e.tsText.start) - 1)..<(Int(e.tsText.start + e.tsText.count) + 1) : nil
        let end = rec.count - 1 // the final '}'
        var pos = 0
        func copy(to: Int) { out.put(UnsafeRawBufferPointer(rebasing: rec[pos..<to])) }
        func putIP(_ r: Range<Int>) {
            copy(to: r.lowerBound)
            if withValue(e.ip, { Self.appendTruncatedIP($0, to: &out) }) != true { out.appendLiteral("null") }
            pos = r.upperBound
        }
        func putTS(_ r: Range<Int>) { copy(to: r.lowerBound); out.appendDecimal(e.tsMs); pos = r.upperBound }
        switch (ipRange, tsRange) {
        case let (i?, t?): if i.lowerBound < t.lowerBound { putIP(i); putTS(t) } else { putTS(t); putIP(i) }
        case let (i?, nil): putIP(i)
        case let (nil, t?): putTS(t)
        case (nil, nil): break
        }
        copy(to: end)
        // 2. Added fields.
        var hasFields = false
        for i in stride(from: end - 1, through: 0, by: -1) {
            let c = rec[i]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { continue }
            hasFields = c != 0x7B; break
        }
        if hasFields { out.put(0x2C) }
        if !e.eventId.isPresent {
            out.appendLiteral("\"event_id\":\""); out.put(origin.shardId); out.put(0x2D)
            out.put(origin.seq); out.appendLiteral("\",")
        }
        out.appendLiteral("\"arrival_ms\":"); out.appendDecimal(origin.arrivalMs)
        out.appendLiteral(",\"seq\":\""); out.put(origin.seq)
        out.appendLiteral("\",\"shard\":\""); out.put(origin.shardId); out.put(0x22)

        // URL
        pageHost.removeAll(keepingCapacity: true)
        var hasPageHost = false
        utmBuf.removeAll(keepingCapacity: true)
        var utm = UTM()
        out.appendLiteral(",\"url_host\":")
        let hasURL = withValue(e.url) { (u: UnsafeRawBufferPointer) -> Void in
            let p = URLParts.parse(u)
            if let h = p.host {
                for c in UnsafeRawBufferPointer(rebasing: u[h]) { pageHost.append(Bytes.lower(c)) }
                hasPageHost = true
                out.appendJSONString(pageHost)
            } else { out.appendLiteral("null") }
            out.appendLiteral(",\"url_path\":")
            if let r = p.path { out.appendJSONString(UnsafeRawBufferPointer(rebasing: u[r])) } else { out.appendLiteral("null") }
            out.appendLiteral(",\"url_query\":")
            if let r = p.query {
                let q = UnsafeRawBufferPointer(rebasing: u[r])
                out.appendJSONString(q)
                utm = UTM.parse(q, into: &utmBuf)
            } else { out.appendLiteral("null") }
        } != nil
        if !hasURL {
            out.appendLiteral("null,\"url_path\":null,\"url_query\":null")
        }
        if utm.source == nil && utm.medium == nil && utm.campaign == nil && utm.term == nil && utm.content == nil {
            // Most page views carry no UTM: the five nulls in one copy.
            out.appendLiteral(",\"utm_source\":null,\"utm_medium\":null,\"utm_campaign\":null,\"utm_term\":null,\"utm_content\":null")
        } else { utmBuf.withUnsafeBytes { ub in
            func opt(_ name: StaticString, _ r: Range<Int>?) {
                out.appendLiteral(name)
                if let r { out.appendJSONString(UnsafeRawBufferPointer(rebasing: ub[r])) } else { out.appendLiteral("null") }
            }
            opt(",\"utm_source\":", utm.source); opt(",\"utm_medium\":", utm.medium); opt(",\"utm_campaign\":", utm.campaign)
            opt(",\"utm_term\":", utm.term); opt(",\"utm_content\":", utm.content)
        } }

        // Referrer and channel. A referrer on the page's own host is internal navigation: no referrer.
        var refKind: HostKind? = nil
        out.appendLiteral(",\"ref_host\":")
        let hasRef = withValue(e.referrer) { (r: UnsafeRawBufferPointer) -> Void in
            let p = URLParts.parse(r)
            if let h = p.host {
                refHost.removeAll(keepingCapacity: true)
                for c in UnsafeRawBufferPointer(rebasing: r[h]) { refHost.append(Bytes.lower(c)) }
                out.appendJSONString(refHost)
                refKind = refHost.withUnsafeBytes { rb in
                    hasPageHost ? pageHost.withUnsafeBytes { classifier.referrerKind(pageHost: $0, refHost: rb) }
                                : classifier.referrerKind(pageHost: nil, refHost: rb)
                }
            } else { out.appendLiteral("null") }
        } != nil
        if !hasRef { out.appendLiteral("null") }
        let channel = utmBuf.withUnsafeBytes { classifier.channel(utm, utmBytes: $0, refKind: refKind) }
        out.appendLiteral(",\"channel\":"); out.appendLiteral(channel.jsonString)

        // User agent
        out.put(0x2C)
        // The UA's hash serves the cache here and the fingerprint below.
        let uaHash: UInt64 = e.ua.isPresent ? Hash64.hash(raw(e.ua)) : 0
        let agent = withValue(e.ua) { classifier.agent($0, rawHash: e.ua.escaped ? nil : uaHash) } ?? classifier.agent(nil)
        out.put(agent.fragment)

        // Geo: MaxMind when configured (on the full address, before truncation), else the event's own country.
        out.appendLiteral(",\"geo_country\":")
        var code: UInt16 = 0
        if let geo, e.ip.isPresent { code = withValue(e.ip) { geoCountry(geo, $0) } ?? 0 }
        if code == 0, let c = withValue(e.country, { v -> UInt16 in
            v.count == 2 ? UInt16(Bytes.upper(v[0])) << 8 | UInt16(Bytes.upper(v[1])) : 0
        }) { code = c }
        if code != 0 {
            let two = (UInt8(code >> 8), UInt8(code & 0xFF))
            withUnsafeBytes(of: two) { out.appendJSONString($0) }
        } else { out.appendLiteral("null") }

        // Fingerprint: site + full ip + ua + UTC day.
        let day = UInt64(bitPattern: (e.tsMs > 0 ? e.tsMs : origin.arrivalMs) / 86_400_000)
        var h = Hash64.mix(day &+ 0x9E37_79B9_7F4A_7C15)
        func mixIn(_ part: UInt64) { h = Hash64.mix(h ^ part &* 0xBF58_476D_1CE4_E5B9) }
        mixIn(e.siteId.isPresent ? Hash64.hash(raw(e.siteId)) : 0)
        mixIn(e.ip.isPresent ? Hash64.hash(raw(e.ip)) : 0)
        mixIn(uaHash)
        out.appendLiteral(",\"fingerprint\":\""); out.appendHex16(h)
        out.put(0x22)
        out.put(0x7D); out.put(0x0A)
    }

    /// Dotted-quad IPv4 as a number, or nil (leading zeros and more than three digits refused).
    static func parseIPv4(_ ip: UnsafeRawBufferPointer) -> UInt32? {
        var v: UInt32 = 0, octet: UInt32 = 0, digits = 0, dots = 0
        for c in ip {
            if c == 0x2E {
                if digits == 0 { return nil }
                v = v << 8 | octet; dots += 1; digits = 0; octet = 0
            } else if c >= 0x30 && c <= 0x39 {
                digits += 1; octet = octet * 10 + UInt32(c - 0x30)
                if digits > 3 || octet > 255 { return nil }
            } else { return nil }
        }
        guard dots == 3, digits > 0 else { return nil }
        return v << 8 | octet
    }

    /// Appends the truncated address as a JSON string; false (nothing appended) when `ip` is not an address.
    static func appendTruncatedIP<Out: ByteSink>(_ ip: UnsafeRawBufferPointer, to out: inout Out) -> Bool {
        var dots = 0, lastDot = -1, digits = 0, octet = 0, v4 = true
        for (i, c) in ip.enumerated() {
            if c == 0x2E { if digits == 0 { v4 = false; break }; dots += 1; lastDot = i; digits = 0; octet = 0 }
            else if c >= 0x30 && c <= 0x39 {
                digits += 1; octet = octet * 10 + Int(c - 0x30)
                if digits > 3 || octet > 255 { v4 = false; break }
            } else { v4 = false; break }
        }
        if v4, dots == 3, digits > 0 {
            out.put(0x22); out.put(UnsafeRawBufferPointer(rebasing: ip[...lastDot])); out.put(0x30); out.put(0x22)
            return true
        }
        guard let t = IPTruncation.truncate(String(decoding: ip, as: UTF8.self)) else { return false }
        out.appendJSONString(t)
        return true
    }

    /// IPv4 on bytes (the common case), IPv6 through `IPTruncation`.
    static func truncateIP(_ ip: [UInt8]) -> [UInt8]? {
        var dots = 0, lastDot = -1, digits = 0, octet = 0
        for (i, c) in ip.enumerated() {
            if c == 0x2E { if digits == 0 { return fallback(ip) }; dots += 1; lastDot = i; digits = 0; octet = 0 }
            else if c >= 0x30 && c <= 0x39 {
                digits += 1; octet = octet * 10 + Int(c - 0x30)
                if digits > 3 || octet > 255 { return fallback(ip) }
            }
            else { return fallback(ip) }
        }
        guard dots == 3, digits > 0 else { return fallback(ip) }
        return Array(ip[...lastDot]) + [0x30]
    }
    private static func fallback(_ ip: [UInt8]) -> [UInt8]? {
        IPTruncation.truncate(String(decoding: ip, as: UTF8.self)).map { Array($0.utf8) }
    }
}

/// Country of an IP address: `MaxMindCountryLookup` when a database is configured.
public protocol CountryLookup: Sendable {
    /// ISO 3166-1 alpha-2 code, upper case, or nil when unknown.
    func country(ip: String) -> String?
    /// The same, plus the prefix length (in the address's family) the answer holds for; the
    /// enricher caches answers per /24 (IPv4) or /48 (IPv6) only when the network is at least that
    /// wide. A nil prefix means "this address only".
    func countryNetwork(ip: String) -> (country: String?, prefixBits: Int?)
}

extension CountryLookup {
    public func countryNetwork(ip: String) -> (country: String?, prefixBits: Int?) { (country(ip: ip), nil) }
}
