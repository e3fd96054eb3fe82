import Foundation
import Metrics
@testable import Pipeline

// The enricher as it was before the byte-level rewrite (2026-11-26), kept verbatim as the oracle
// for DeliveryEnrichmentEquivalenceTests: the rewrite must produce the same bytes.

struct ReferenceEnricher {
    var geo: (any CountryLookup)? = nil
    private var uaCache: [UInt64: [UInt8]] = [:]
    private var hostCache: [UInt64: HostKind] = [:]
    private var channelCache: [UInt64: ChannelGroup] = [:]
    static let cacheLimit = 8192

    init(geo: (any CountryLookup)? = nil) { self.geo = geo }

    private mutating func uaFragment(_ ua: UnsafeRawBufferPointer?) -> [UInt8] {
        guard let ua else {
            return UserAgentInfo.parse("").jsonFragment
        }
        let h = Hash64.hash(ua)
        if let f = uaCache[h] { return f }
        let f = UserAgentInfo.parse(String(decoding: ua, as: UTF8.self)).jsonFragment
        if uaCache.count >= Self.cacheLimit { uaCache.removeAll(keepingCapacity: true) }
        uaCache[h] = f
        return f
    }

    private mutating func hostKind(_ host: UnsafeRawBufferPointer) -> HostKind {
        let h = Hash64.hash(host)
        if let k = hostCache[h] { return k }
        let k = ChannelRules.hostKind(String(decoding: host, as: UTF8.self))
        if hostCache.count >= Self.cacheLimit { hostCache.removeAll(keepingCapacity: true) }
        hostCache[h] = k
        return k
    }

    /// Appends one enriched NDJSON line (with its newline) for `e`, whose spans index `rec`.
    mutating func enrich(_ rec: UnsafeRawBufferPointer, _ e: ParsedEvent, origin: RecordOrigin, out: inout [UInt8]) {
        // Decoded string values (escapes resolved only when there were any).
        func value(_ s: ByteSpan) -> [UInt8]? {
            guard s.isPresent else { return nil }
            let raw = UnsafeRawBufferPointer(rebasing: rec[Int(s.start)..<Int(s.start + s.count)])
            return s.escaped ? (JSONString.unescape(raw) ?? []) : Array(raw)
        }
        // The value's bytes without a copy unless it held escapes.
        func withValue(_ s: ByteSpan, _ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
            guard s.isPresent else { return false }
            let raw = UnsafeRawBufferPointer(rebasing: rec[Int(s.start)..<Int(s.start + s.count)])
            if !s.escaped { body(raw) } else { (JSONString.unescape(raw) ?? []).withUnsafeBytes(body) }
            return true
        }
        // 1. Copy the record, replacing ip (and a string ts) in place.
        var replacements: [(Range<Int>, [UInt8])] = []
        if e.ip.isPresent {
            let ipBytes = value(e.ip) ?? []
            var rep: [UInt8] = []
            if let t = Self.truncateIP(ipBytes) { rep.appendJSONString(t) } else { rep.appendLiteral("null") }
            replacements.append(((Int(e.ip.start) - 1)..<(Int(e.ip.start + e.ip.count) + 1), rep))
        }
        if Self.mayHaveStringTS(rec), let r = TopLevelScan.valueRange(rec, key: "ts"), rec[r.lowerBound] == 0x22 {
            var rep: [UInt8] = []; rep.appendDecimal(e.tsMs)
            replacements.append((r, rep))
        }
        replacements.sort { $0.0.lowerBound < $1.0.lowerBound }
        let end = rec.count - 1 // the final '}'
        var pos = 0
        for (r, rep) in replacements {
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: rec[pos..<r.lowerBound]))
            out.append(contentsOf: rep)
            pos = r.upperBound
        }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: rec[pos..<end]))
        // 2. Added fields.
        var hasFields = false
        for i in stride(from: end - 1, through: 0, by: -1) {
            let c = rec[i]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { continue }
            hasFields = c != 0x7B; break
        }
        if hasFields { out.append(0x2C) }
        if !e.eventId.isPresent {
            out.appendLiteral("\"event_id\":\""); out.append(contentsOf: origin.shardId); out.append(0x2D)
            out.append(contentsOf: origin.seq); out.appendLiteral("\",")
        }
        out.appendLiteral("\"arrival_ms\":"); out.appendDecimal(origin.arrivalMs)
        out.appendLiteral(",\"seq\":\""); out.append(contentsOf: origin.seq)
        out.appendLiteral("\",\"shard\":\""); out.append(contentsOf: origin.shardId); out.append(0x22)

        // URL
        var pageHost: [UInt8]? = nil
        var utm = OldUTM()
        out.appendLiteral(",\"url_host\":")
        let hasURL = withValue(e.url) { u in
            do {
                let p = URLParts.parse(u)
                if let h = p.host { let hb = Array(u[h]).map(Bytes.lower); pageHost = hb; out.appendJSONString(hb) } else { out.appendLiteral("null") }
                out.appendLiteral(",\"url_path\":")
                if let r = p.path { out.appendJSONString(UnsafeRawBufferPointer(rebasing: u[r])) } else { out.appendLiteral("null") }
                out.appendLiteral(",\"url_query\":")
                if let r = p.query {
                    let q = UnsafeRawBufferPointer(rebasing: u[r])
                    out.appendJSONString(q)
                    utm = OldUTM.parse(q)
                } else { out.appendLiteral("null") }
            }
        }
        if !hasURL {
            out.appendLiteral("null,\"url_path\":null,\"url_query\":null")
        }
        func opt(_ name: StaticString, _ v: [UInt8]?) {
            out.appendLiteral(name)
            if let v { out.appendJSONString(v) } else { out.appendLiteral("null") }
        }
        opt(",\"utm_source\":", utm.source); opt(",\"utm_medium\":", utm.medium); opt(",\"utm_campaign\":", utm.campaign)
        opt(",\"utm_term\":", utm.term); opt(",\"utm_content\":", utm.content)

        // Referrer and channel. A referrer on the page's own host is internal navigation: no referrer.
        var refKind: HostKind? = nil
        out.appendLiteral(",\"ref_host\":")
        let hasRef = withValue(e.referrer) { r in
            do {
                let p = URLParts.parse(r)
                if let h = p.host {
                    let hb = Array(r[h]).map(Bytes.lower)
                    out.appendJSONString(hb)
                    if hb != pageHost { refKind = hb.withUnsafeBytes { hostKind($0) } }
                } else { out.appendLiteral("null") }
            }
        }
        if !hasRef { out.appendLiteral("null") }
        let channel: ChannelGroup
        if !utm.any && refKind == nil { channel = .direct }
        else if !utm.any, let k = refKind { channel = k == .search ? .organicSearch : k == .social ? .organicSocial : .referral }
        else {
            var key = refKind.map { k -> UInt64 in k == .search ? 1 : k == .social ? 2 : 3 } ?? 0
            key = Hash64.mix(key ^ (utm.medium.map { $0.withUnsafeBytes { Hash64.hash($0) } } ?? 0x51))
            key = Hash64.mix(key ^ (utm.source.map { $0.withUnsafeBytes { Hash64.hash($0) } } ?? 0x73))
            if let c = channelCache[key] { channel = c } else {
                channel = ChannelRules.classify(medium: utm.medium.map { String(decoding: $0, as: UTF8.self) },
                                                source: utm.source.map { String(decoding: $0, as: UTF8.self) },
                                                refKind: refKind, hasUTM: utm.any)
                if channelCache.count >= Self.cacheLimit { channelCache.removeAll(keepingCapacity: true) }
                channelCache[key] = channel
            }
        }
        out.appendLiteral(",\"channel\":\""); out.append(contentsOf: channel.rawValue.utf8); out.append(0x22)

        // User agent
        out.append(0x2C)
        if !withValue(e.ua, { out.append(contentsOf: uaFragment($0)) }) { out.append(contentsOf: uaFragment(nil)) }

        // Geo: MaxMind when configured, else the event's own country.
        out.appendLiteral(",\"geo_country\":")
        var country: [UInt8]? = nil
        if let geo, let ip = value(e.ip), let c = geo.country(ip: String(decoding: ip, as: UTF8.self)) { country = Array(c.utf8) }
        if country == nil, let c = value(e.country), c.count == 2 { country = c.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 32 : $0 } }
        if let country { out.appendJSONString(country) } else { out.appendLiteral("null") }

        // Fingerprint: site + full ip + ua + UTC day.
        let day = UInt64(bitPattern: (e.tsMs > 0 ? e.tsMs : origin.arrivalMs) / 86_400_000)
        var h = Hash64.mix(day &+ 0x9E37_79B9_7F4A_7C15)
        func mixIn(_ span: ByteSpan) {
            let part: UInt64 = span.isPresent ? Hash64.hash(UnsafeRawBufferPointer(rebasing: rec[Int(span.start)..<Int(span.start + span.count)])) : 0
            h = Hash64.mix(h ^ part &* 0xBF58_476D_1CE4_E5B9)
        }
        mixIn(e.siteId); mixIn(e.ip); mixIn(e.ua)
        out.appendLiteral(",\"fingerprint\":\""); out.appendHex16(h)
        out.append(0x22)
        out.append(0x7D); out.append(0x0A)
    }

    /// True when the bytes hold `"ts":"` (or `"ts": "`): only then is ts an RFC 3339 string to
    /// replace. Jumps from colon to colon with memchr; numbers (the common case) cost one pass.
    static func mayHaveStringTS(_ rec: UnsafeRawBufferPointer) -> Bool {
        guard let base = rec.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
        let n = rec.count
        var i = 4
        while i < n {
            guard let p = memchr(base + i, 0x3A, n - i) else { return false }
            let at = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(p))
            if at >= 4, base[at - 1] == 0x22, base[at - 2] == 0x73, base[at - 3] == 0x74, base[at - 4] == 0x22 {
                var j = at + 1
                while j < n, base[j] == 0x20 { j += 1 }
                if j < n, base[j] == 0x22 { return true }
            }
            i = at + 1
        }
        return false
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


/// The five UTM parameters of a query string (percent-decoded), nil when absent.
struct OldUTM {
    var source: [UInt8]? = nil, medium: [UInt8]? = nil, campaign: [UInt8]? = nil, term: [UInt8]? = nil, content: [UInt8]? = nil
    var any: Bool { source != nil || medium != nil || campaign != nil || term != nil || content != nil }

    static func parse(_ q: UnsafeRawBufferPointer) -> OldUTM {
        var t = OldUTM()
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
                let val = eq < e ? Bytes.percentDecode(UnsafeRawBufferPointer(rebasing: q[(eq + 1)..<e])) : []
                if Bytes.equalsLower(key, "source") { t.source = val }
                else if Bytes.equalsLower(key, "medium") { t.medium = val }
                else if Bytes.equalsLower(key, "campaign") { t.campaign = val }
                else if Bytes.equalsLower(key, "term") { t.term = val }
                else if Bytes.equalsLower(key, "content") { t.content = val }
            }
            i = e + 1
        }
        return t
    }
}

/// Finds the value of a top-level key in a JSON object without building anything.
enum TopLevelScan {
    static func valueRange(_ b: UnsafeRawBufferPointer, key: String) -> Range<Int>? {
        let k = Array(key.utf8)
        var i = 0
        let n = b.count
        func ws() { while i < n, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }
        func skipString() { i += 1; while i < n { if b[i] == 0x5C { i += 2; continue }; if b[i] == 0x22 { i += 1; return }; i += 1 } }
        func skipValue() {
            ws()
            guard i < n else { return }
            if b[i] == 0x22 { skipString(); return }
            if b[i] == 0x7B || b[i] == 0x5B {
                var depth = 0
                while i < n {
                    let c = b[i]
                    if c == 0x22 { skipString(); continue }
                    if c == 0x7B || c == 0x5B { depth += 1 } else if c == 0x7D || c == 0x5D { depth -= 1; if depth == 0 { i += 1; return } }
                    i += 1
                }
                return
            }
            while i < n, b[i] != 0x2C, b[i] != 0x7D, b[i] != 0x5D, b[i] != 0x20, b[i] != 0x0A { i += 1 }
        }
        ws()
        guard i < n, b[i] == 0x7B else { return nil }
        i += 1
        while i < n {
            ws()
            guard i < n, b[i] == 0x22 else { return nil }
            let ks = i + 1
            skipString()
            let ke = i - 1
            let match = ke - ks == k.count && k.withUnsafeBytes { kb in memcmp(b.baseAddress! + ks, kb.baseAddress!, k.count) == 0 }
            ws(); guard i < n, b[i] == 0x3A else { return nil }
            i += 1; ws()
            let vs = i
            skipValue()
            if match { return vs..<i }
            ws()
            if i < n, b[i] == 0x2C { i += 1; continue }
            return nil
        }
        return nil
    }
}
