import Foundation
import Metrics

/// The "live" stream consumer's translator: stream records → `LiveEvent`s for `LiveAggregates`.
///
/// Per record it runs the event parser over the record's bytes (spans, no objects), hashes the
/// ids, classifies device, browser and channel from bytes, and interns display names only the
/// first time a site is seen. Owned by one thread (the node's live loop); not thread-safe.
public final class LiveFeeder {
    public let aggregates: LiveAggregates
    let parser = EventParser()
    var siteIndex: [UInt64: UInt32] = [:]
    var batch = LiveEventBatch(reservingCapacity: 1024)
    var events: [ParsedEvent] = []
    var errors: [RecordError] = []
    /// The same UA and channel rules (and caches) as delivery's enrichment.
    var classifier = TrafficClassifier()
    /// Records in the stream that are not valid events (e.g. raw Kinesis blobs); skipped here.
    public private(set) var skipped: Int64 = 0
    public private(set) var applied: Int64 = 0
    /// Distinct sites tracked live (~86 KB each); events of sites beyond it are counted, not tracked.
    public let maxSites: Int
    public private(set) var overSiteLimit: Int64 = 0

    public init(aggregates: LiveAggregates = LiveAggregates(), maxSites: Int = 10_000) {
        self.aggregates = aggregates
        self.maxSites = maxSites
        events.reserveCapacity(4)
    }

    /// Applies every record of a read batch.
    public func apply(_ read: ReadBatch) {
        read.bytes.withUnsafeBytes { raw in
            for r in read.records {
                let data = UnsafeRawBufferPointer(rebasing: raw[r.dataStart..<(r.dataStart + r.dataCount)])
                events.removeAll(keepingCapacity: true)
                errors.removeAll(keepingCapacity: true)
                // A record's payload may hold one event or a small NDJSON batch (Firehose-style).
                _ = parser.parseRecords(data, nowMs: r.arrivalMs, events: &events, errors: &errors)
                skipped += Int64(errors.count)
                for e in events { append(e, arrivalMs: r.arrivalMs, origin: data) }
            }
        }
        aggregates.apply(batch)
        applied += Int64(batch.count)
        batch.removeAll()
    }

    @inline(__always)
    func span(_ s: ByteSpan, _ origin: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard s.isPresent, let b = origin.baseAddress else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: b + Int(s.start), count: Int(s.count))
    }

    func append(_ e: ParsedEvent, arrivalMs: Int64, origin: UnsafeRawBufferPointer) {
        let siteBytes = span(e.siteId, origin)
        let siteHash = Hash64.hash(siteBytes)
        var siteName: NameRef = .none
        let idx: UInt32
        if let i = siteIndex[siteHash] {
            idx = i
        } else if siteIndex.count >= maxSites {
            overSiteLimit += 1
            return
        } else {
            idx = UInt32(siteIndex.count)
            siteIndex[siteHash] = idx
            siteName = batch.intern(siteBytes)
        }
        let ua = span(e.ua, origin)
        let agent = withValue(e.ua, ua) { classifier.agent($0) }?.live ?? classifier.agent(nil).live
        let url = span(e.url, origin)
        let path = LiveURLParts.path(of: url)
        let ref = span(e.referrer, origin)
        let refHost = LiveURLParts.host(of: ref)
        let channel = withValue(e.url, url) { u in withValue(e.referrer, ref) { classifier.channel(url: u, referrer: $0) } ?? classifier.channel(url: u, referrer: nil) }
            ?? withValue(e.referrer, ref) { classifier.channel(url: nil, referrer: $0) } ?? .direct
        let visitorSpan = e.anonId.isPresent ? e.anonId : (e.userId.isPresent ? e.userId : e.ip)
        var ev = LiveEvent(site: idx, type: LiveEventType(typeBytes: span(e.type, origin)),
                           channel: channel.live, device: agent.device, browser: agent.browser,
                           country: countryCode(span(e.country, origin)), isBot: agent.isBot, tsMs: e.tsMs,
                           arrivalMs: arrivalMs, visitor: Hash64.hash(span(visitorSpan, origin)),
                           session: e.sessionId.isPresent ? Hash64.hash(span(e.sessionId, origin)) : 0,
                           page: path.count > 0 ? Hash64.hash(path) : 0,
                           referrer: refHost.count > 0 && channel != .direct ? Hash64.hash(refHost) : 0,
                           value: e.value.isNaN ? 0 : e.value)
        ev.siteName = siteName
        if path.count > 0 { ev.pageName = batch.intern(path) }
        if refHost.count > 0 { ev.referrerName = batch.intern(refHost) }
        batch.append(ev)
    }

    /// `body` on the value's bytes (unescaped when the JSON string held escapes), nil when absent.
    @inline(__always)
    func withValue<R>(_ s: ByteSpan, _ raw: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        guard s.isPresent else { return nil }
        if !s.escaped { return body(raw) }
        return (JSONString.unescape(raw) ?? []).withUnsafeBytes(body)
    }

    @inline(__always) func countryCode(_ b: UnsafeRawBufferPointer) -> UInt16 {
        guard b.count == 2 else { return 0 }
        return UInt16(b[0]) << 8 | UInt16(b[1])
    }
}

extension LiveEventType {
    /// Maps an event type name to the live aggregates' code without building a String.
    init(typeBytes b: UnsafeRawBufferPointer) {
        @inline(__always) func eq(_ s: StaticString) -> Bool {
            b.count == s.utf8CodeUnitCount && memcmp(b.baseAddress!, s.utf8Start, b.count) == 0
        }
        guard b.count > 0, b.baseAddress != nil else { self = .other; return }
        if eq("page_view") || eq("pageview") { self = .pageview }
        else if eq("click") { self = .click }
        else if eq("scroll") { self = .scroll }
        else if eq("add_to_cart") { self = .addToCart }
        else if eq("purchase") { self = .purchase }
        else if eq("search") { self = .search }
        else if eq("checkout") { self = .checkout }
        else if eq("signup") { self = .signup }
        else if eq("login") { self = .login }
        else if eq("remove_from_cart") { self = .removeFromCart }
        else { self = .custom }
    }
}
