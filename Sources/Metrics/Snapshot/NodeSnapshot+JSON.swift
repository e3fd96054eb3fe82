/// `/v1/stats` JSON without Foundation's `JSONEncoder`, which takes about a second of CPU for a
/// 320-site snapshot here (2 MB, mostly per-second and per-minute histories). The output is the
/// same document `Codable` describes (same keys, nil optionals left out), so `JSONDecoder`
/// reads it back into an equal `NodeSnapshot`; key order follows the declarations, not sorted.
/// Non-finite doubles, which JSON cannot carry, are written as 0.
public enum SnapshotJSON {
    public static func encode(_ s: NodeSnapshot) -> [UInt8] {
        var w = JSONBytes()
        w.out.reserveCapacity(64 * 1024 + s.sites.count * 24 * 1024)
        w.node(s)
        return w.out
    }

    /// One site's figures, for `GET /v1/stats?site=`.
    public static func encode(_ s: SiteStats) -> [UInt8] {
        var w = JSONBytes()
        w.site(s)
        return w.out
    }
}

struct JSONBytes {
    var out: [UInt8] = []
    private var needsComma = false

    // MARK: - Structure

    mutating func open(_ c: UInt8) { out.append(c); needsComma = false }
    mutating func close(_ c: UInt8) { out.append(c); needsComma = true }
    mutating func key(_ k: StaticString) {
        if needsComma { out.append(0x2C) }
        out.append(0x22)
        k.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(0x22); out.append(0x3A)
        needsComma = false
    }
    mutating func element() { if needsComma { out.append(0x2C) }; needsComma = false }

    // MARK: - Values

    mutating func string(_ s: String) {
        var s = s
        out.append(0x22)
        s.withUTF8 { u in
            var start = 0
            for i in 0..<u.count {
                let b = u[i]
                guard b < 0x20 || b == 0x22 || b == 0x5C else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: u[start..<i]))
                switch b {
                case 0x22: out.append(0x5C); out.append(0x22)
                case 0x5C: out.append(0x5C); out.append(0x5C)
                case 0x0A: out.append(0x5C); out.append(0x6E)
                case 0x0D: out.append(0x5C); out.append(0x72)
                case 0x09: out.append(0x5C); out.append(0x74)
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
                }
                start = i + 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: u[start..<u.count]))
        }
        out.append(0x22)
        needsComma = true
    }

    mutating func int(_ v: Int64) {
        if v == 0 { out.append(0x30); needsComma = true; return }
        var m = v.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch, enough for 20 digits
        withUnsafeMutableBytes(of: &digits) { buf in
            var i = buf.count
            while m > 0 { i -= 1; buf[i] = UInt8(truncatingIfNeeded: 0x30 &+ m % 10); m /= 10 }
            if v < 0 { i -= 1; buf[i] = 0x2D }
            out.append(contentsOf: buf[i...])
        }
        needsComma = true
    }

    mutating func double(_ d: Double) {
        guard d.isFinite else { return int(0) }
        if d == d.rounded(.towardZero) && d.magnitude < 1e15 {
            return int(Int64(d))
        }
        out.append(contentsOf: d.description.utf8)
        needsComma = true
    }

    mutating func bool(_ b: Bool) { out.append(contentsOf: (b ? "true" : "false").utf8); needsComma = true }

    // MARK: - Fields

    mutating func field(_ k: StaticString, _ v: String) { key(k); string(v) }
    mutating func field(_ k: StaticString, _ v: Int64) { key(k); int(v) }
    mutating func field(_ k: StaticString, _ v: Double) { key(k); double(v) }
    mutating func field(_ k: StaticString, _ v: Bool) { key(k); bool(v) }
    mutating func field(_ k: StaticString, _ v: String?) { if let v { field(k, v) } }
    mutating func field(_ k: StaticString, _ v: Int64?) { if let v { field(k, v) } }
    mutating func field(_ k: StaticString, _ v: [String: Int64]) {
        key(k); open(0x7B)
        for (name, n) in v.sorted(by: { $0.key < $1.key }) {
            element(); string(name); out.append(0x3A); int(n)
        }
        close(0x7D)
    }
    mutating func field(_ k: StaticString, _ v: [Double]) {
        key(k); open(0x5B)
        for d in v { element(); double(d) }
        close(0x5D)
    }
    mutating func array<T>(_ k: StaticString, _ xs: [T], _ body: (inout JSONBytes, T) -> Void) {
        key(k); open(0x5B)
        for x in xs { element(); body(&self, x) }
        close(0x5D)
    }
    mutating func object(_ body: (inout JSONBytes) -> Void) { open(0x7B); body(&self); close(0x7D) }

    // MARK: - Types (keys are the Codable keys: the property names)

    mutating func node(_ s: NodeSnapshot) {
        object { w in
            w.field("takenAtMs", s.takenAtMs)
            w.key("node"); w.object { w in
                w.field("nodeId", s.node.nodeId); w.field("version", s.node.version)
                w.field("startedAtMs", s.node.startedAtMs); w.field("streamName", s.node.streamName)
                w.field("mode", s.node.mode); w.field("ready", s.node.ready)
            }
            w.key("collector"); w.object { w in
                let c = s.collector
                w.field("eventsPerSec", c.eventsPerSec); w.field("bytesPerSec", c.bytesPerSec)
                w.field("requestsPerSec", c.requestsPerSec); w.field("eventsTotal", c.eventsTotal)
                w.field("bytesTotal", c.bytesTotal); w.field("rejectsByCode", c.rejectsByCode)
                w.field("rejectsPerSec", c.rejectsPerSec); w.key("ackLatency"); w.latency(c.ackLatency)
            }
            w.array("shards", s.shards) { w, x in w.object { w in
                w.field("shardId", x.shardId); w.field("state", x.state)
                w.field("startingHashKey", x.startingHashKey); w.field("endingHashKey", x.endingHashKey)
                w.field("parentShardId", x.parentShardId); w.field("adjacentParentShardId", x.adjacentParentShardId)
                w.field("recordsPerSec", x.recordsPerSec); w.field("bytesPerSec", x.bytesPerSec)
                w.field("records", x.records); w.field("sizeBytes", x.sizeBytes)
                w.field("throttles", x.throttles); w.field("hot", x.hot)
            } }
            w.array("consumers", s.consumers) { w, x in w.object { w in
                w.field("app", x.app); w.field("shardId", x.shardId); w.field("recordsBehind", x.recordsBehind)
                w.field("millisBehindLatest", x.millisBehindLatest); w.field("iteratorAgeMs", x.iteratorAgeMs)
                w.field("checkpoint", x.checkpoint)
            } }
            w.array("deliveries", s.deliveries) { w, d in w.object { w in
                w.field("name", d.name); w.field("sizeHintBytes", d.sizeHintBytes)
                w.field("intervalHintMs", d.intervalHintMs)
                w.array("buffers", d.buffers) { w, b in w.object { w in
                    w.field("partition", b.partition); w.field("bytes", b.bytes); w.field("records", b.records)
                    w.field("ageMs", b.ageMs); w.field("msToNextFlush", b.msToNextFlush); w.field("fillBytes", b.fillBytes)
                } }
                w.field("objectsWritten", d.objectsWritten); w.field("bytesIn", d.bytesIn)
                w.field("bytesWritten", d.bytesWritten); w.field("compressionRatio", d.compressionRatio)
                w.field("errorsByType", d.errorsByType); w.key("deliveryLatency"); w.latency(d.deliveryLatency)
                w.field("memoryBytes", d.memoryBytes); w.field("memoryLimitBytes", d.memoryLimitBytes)
            } }
            if let wh = s.warehouse {
                w.key("warehouse"); w.object { w in
                    w.field("objectsPending", wh.objectsPending); w.field("recordsPending", wh.recordsPending)
                    w.field("rowsLoaded", wh.rowsLoaded); w.field("newestEventLoadedMs", wh.newestEventLoadedMs)
                    w.field("lagMs", wh.lagMs)
                    w.field("sqliteMemoryBytes", wh.sqliteMemoryBytes); w.field("sqliteMemoryLimitBytes", wh.sqliteMemoryLimitBytes)
                }
            }
            w.key("process"); w.object { w in
                w.field("cpuPercent", s.process.cpuPercent); w.field("rssBytes", s.process.rssBytes)
                w.field("openFiles", s.process.openFiles); w.field("uptimeMs", s.process.uptimeMs)
                w.field("heapInUseBytes", s.process.heapInUseBytes); w.field("heapFreeBytes", s.process.heapFreeBytes)
                w.field("chunkPoolFreeBytes", s.process.chunkPoolFreeBytes)
            }
            w.key("clickToDashboard"); w.latency(s.clickToDashboard)
            w.array("sites", s.sites) { w, x in w.site(x) }
            if let l = s.live {
                w.key("live"); w.object { w in
                    w.field("sites", l.sites); w.field("eventsApplied", l.eventsApplied)
                    w.field("eventsDropped", l.eventsDropped); w.field("sessionsOpen", l.sessionsOpen)
                    w.field("sessionsEvicted", l.sessionsEvicted); w.field("sessionsExpired", l.sessionsExpired)
                    w.field("sessionCapacity", l.sessionCapacity); w.field("memoryBytes", l.memoryBytes)
                }
            }
        }
    }

    mutating func latency(_ l: LatencySummary) {
        object { w in
            w.field("count", l.count); w.field("p50Ms", l.p50Ms); w.field("p99Ms", l.p99Ms); w.field("maxMs", l.maxMs)
        }
    }

    mutating func ranked(_ k: StaticString, _ xs: [RankedCount]) {
        array(k, xs) { w, r in w.object { w in
            w.field("name", r.name); w.field("count", r.count); w.field("error", r.error)
        } }
    }

    mutating func site(_ x: SiteStats) {
        object { w in
            w.field("siteId", x.siteId); w.field("eventsPerSec", x.eventsPerSec); w.field("pageviewsPerSec", x.pageviewsPerSec)
            w.field("eventsPerSecHistory", x.eventsPerSecHistory); w.field("eventsPerMinuteHistory", x.eventsPerMinuteHistory)
            w.field("eventsTotal", x.eventsTotal); w.field("eventsByType", x.eventsByType)
            w.field("activeVisitors", x.activeVisitors); w.field("visitorsToday", x.visitorsToday)
            w.field("sessions", x.sessions); w.field("bounceRate", x.bounceRate); w.field("avgSessionSeconds", x.avgSessionSeconds)
            w.field("pageviews", x.pageviews)
            w.ranked("topPages", x.topPages); w.ranked("referrers", x.referrers); w.ranked("channels", x.channels)
            w.ranked("countries", x.countries); w.ranked("devices", x.devices); w.ranked("browsers", x.browsers)
            w.field("botShare", x.botShare); w.field("addToCarts", x.addToCarts); w.field("purchases", x.purchases)
            w.field("revenue", x.revenue)
        }
    }
}
