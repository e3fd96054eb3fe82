import CZlib
import CZstd
import Foundation

/// Writes lake objects and manifests exactly per docs/LAKE.md, for the warehouse tests and the
/// benchmark (the delivery stage writes the real ones). Enrichment is crude but has every field of
/// the contract: it is derived from the simulator's event without any real UA/geo lookups.
public struct LakeFixture: Sendable {
    public enum Codec: Sendable { case zstd, gzip, plain
        var ext: String { switch self { case .zstd: ".ndjson.zst"; case .gzip: ".ndjson.gz"; case .plain: ".ndjson" } }
    }
    public struct Entry: Sendable { public var url: String; public var bytes: Int; public var records: Int; public var mandatory = true }

    public let dataDirectory: String
    public var lakeRoot: String { dataDirectory + "/lake" }
    public init(dataDirectory: String) { self.dataDirectory = dataDirectory }

    static func two(_ x: Int) -> String { x < 10 ? "0\(x)" : "\(x)" }
    static func pad20(_ x: Int) -> String { let s = String(x); return String(repeating: "0", count: max(0, 20 - s.count)) + s }

    public static func partition(arrivalMs: Int64) -> (dt: String, hr: String) {
        let day = Warehouse.dayString(arrivalMs)
        let hr = Int((arrivalMs % 86_400_000 + 86_400_000) % 86_400_000 / 3_600_000)
        return (day, two(hr))
    }

    /// Writes one object (lines are complete NDJSON lines, each ending in "\n") and returns its entry.
    @discardableResult
    public func writeObject(_ body: [UInt8], records: Int, site: String, oldestArrivalMs: Int64, shard: String = "shardId-000000000000",
                            firstSeq: Int, lastSeq: Int, codec: Codec = .zstd, delivery: String = "events") throws -> Entry {
        let (dt, hr) = Self.partition(arrivalMs: oldestArrivalMs)
        let rel = "\(delivery)/site=\(site)/dt=\(dt)/hr=\(hr)/\(delivery)-\(shard)-\(Self.pad20(firstSeq))-\(Self.pad20(lastSeq))\(codec.ext)"
        let bytes = try Self.compress(body, codec)
        try atomicWrite(bytes, to: lakeRoot + "/" + rel)
        return Entry(url: rel, bytes: bytes.count, records: records)
    }

    /// Writes a manifest listing `entries`; returns its path.
    @discardableResult
    public func writeManifest(_ entries: [Entry], timeMs: Int64, shard: String = "shardId-000000000000", firstSeq: Int,
                              delivery: String = "events") throws -> String {
        let list = entries.map {
            "{\"url\":\"\($0.url)\",\"mandatory\":\($0.mandatory),\"meta\":{\"content_length\":\($0.bytes),\"records\":\($0.records)}}"
        }.joined(separator: ",")
        let (dt, hr) = Self.partition(arrivalMs: timeMs)
        let path = "\(lakeRoot)/_manifests/\(delivery)/dt=\(dt)/hr=\(hr)/\(Self.pad20(Int(timeMs)))-\(shard)-\(Self.pad20(firstSeq)).json"
        try atomicWrite(Array("{\"entries\":[\(list)]}".utf8), to: path)
        return path
    }

    func atomicWrite(_ bytes: [UInt8], to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let tmp = path + ".tmp"
        try Data(bytes).write(to: URL(fileURLWithPath: tmp))
        _ = rename(tmp, path)
    }

    public static func compress(_ b: [UInt8], _ codec: Codec) throws -> [UInt8] {
        switch codec {
        case .plain: return b
        case .zstd:
            var out = [UInt8](repeating: 0, count: ZSTD_compressBound(b.count))
            let n = b.withUnsafeBytes { src in out.withUnsafeMutableBytes { ZSTD_compress($0.baseAddress, $0.count, src.baseAddress, src.count, 3) } }
            guard ZSTD_isError(n) == 0 else { throw LakeReadError(path: "", message: "zstd compress failed") }
            return Array(out[0..<n])
        case .gzip:
            var zs = z_stream()
            guard deflateInit2_(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw LakeReadError(path: "", message: "deflateInit failed")
            }
            var out = [UInt8](repeating: 0, count: Int(deflateBound(&zs, UInt(b.count))) + 64)
            var src = b
            let produced: Int = src.withUnsafeMutableBytes { s in
                out.withUnsafeMutableBytes { o in
                    zs.next_in = s.baseAddress?.assumingMemoryBound(to: Bytef.self); zs.avail_in = UInt32(s.count)
                    zs.next_out = o.baseAddress!.assumingMemoryBound(to: Bytef.self); zs.avail_out = UInt32(o.count)
                    _ = deflate(&zs, Z_FINISH)
                    return o.count - Int(zs.avail_out)
                }
            }
            deflateEnd(&zs)
            return Array(out[0..<produced])
        }
    }

    // MARK: Enrichment

    static func hex16(_ x: UInt64) -> String { let s = String(x, radix: 16); return String(repeating: "0", count: 16 - s.count) + s }
    static func fnv(_ s: some Sequence<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf29ce484222325
        for b in s { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return h
    }
    static func jsonString(_ s: String) -> String {
        var o = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": o += "\\\""
            case "\\": o += "\\\\"
            case "\n": o += "\\n"
            default: if ch.value < 0x20 { o += String(format: "\\u%04x", ch.value) } else { o.unicodeScalars.append(ch) }
            }
        }
        return o + "\""
    }

    /// Appends the enriched form of one raw event line (without its newline) to `out`, with "\n".
    /// Returns (site_id, arrival ms) or nil when the line is not an object with site_id and ts.
    @discardableResult
    public static func enrich(_ line: UnsafeBufferPointer<UInt8>, seq: Int, shard: String, arrivalDelayMs: Int64 = 150,
                              into out: inout [UInt8]) -> (site: String, arrivalMs: Int64)? {
        var p = ParsedLine()
        guard (try? LakeLineParser.parse(line, into: &p)) != nil else { return nil }
        func str(_ c: EventColumn) -> String? {
            guard p.kinds[c.rawValue] == .string else { return nil }
            let s = p.starts[c.rawValue], e = p.ends[c.rawValue]
            return p.decoded[c.rawValue] ? String(decoding: p.scratch[s..<e], as: UTF8.self) : String(decoding: UnsafeBufferPointer(rebasing: line[s..<e]), as: UTF8.self)
        }
        guard let site = str(.siteId), let ts = Warehouse.tsValue(p, line) else { return nil }
        let arrival = ts + arrivalDelayMs
        let url = str(.url) ?? ""
        var host: String?, path: String?, query: String?
        if let comps = URLComponents(string: url) { host = comps.host; path = comps.path.isEmpty ? "/" : comps.path; query = comps.query }
        var utm: [String: String] = [:]
        for kv in (query ?? "").split(separator: "&") {
            let f = kv.split(separator: "=", maxSplits: 1)
            if f.count == 2, f[0].hasPrefix("utm_") { utm[String(f[0])] = String(f[1]) }
        }
        let ref = str(.referrer)
        let refHost = ref.flatMap { URLComponents(string: $0)?.host }
        let ua = str(.ua) ?? ""
        let lower = ua.lowercased()
        let botWords = ["bot", "crawler", "spider", "headless", "curl", "python"]
        let botWord = botWords.first { lower.contains($0) }
        let isBot = botWord != nil
        let device = isBot ? "bot" : lower.contains("ipad") || lower.contains("tablet") ? "tablet" : lower.contains("mobile") || lower.contains("iphone") || lower.contains("android") ? "mobile" : "desktop"
        let browser = isBot ? "Bot" : lower.contains("firefox") ? "Firefox" : lower.contains("edg/") ? "Edge" : lower.contains("chrome") ? "Chrome" : lower.contains("safari") ? "Safari" : "Other"
        let os = lower.contains("windows") ? "Windows" : lower.contains("android") ? "Android" : lower.contains("iphone") || lower.contains("ipad") ? "iOS" : lower.contains("mac os") ? "macOS" : lower.contains("linux") ? "Linux" : "Other"
        let medium = utm["utm_medium"]?.lowercased()
        let channel: String
        if isBot { channel = "Unassigned" }
        else if medium == "cpc" || medium == "ppc" || medium == "paid" { channel = (refHost ?? "").contains("google") || (refHost ?? "").contains("bing") ? "Paid Search" : "Paid Social" }
        else if medium == "email" { channel = "Email" }
        else if medium == "display" { channel = "Display" }
        else if medium == "affiliate" { channel = "Affiliates" }
        else if let rh = refHost, rh != host {
            channel = ["google", "bing", "duckduckgo", "yahoo"].contains { rh.contains($0) } ? "Organic Search"
                : ["facebook", "twitter", "t.co", "instagram", "linkedin", "reddit", "x.com"].contains { rh.contains($0) } ? "Organic Social" : "Referral"
        } else { channel = "Direct" }
        let ip = str(.ip) ?? ""
        var ipTrunc = ip
        if let dot = ip.lastIndex(of: ".") { ipTrunc = ip[..<dot] + ".0" }
        let fp = hex16(fnv(Array((site + ip + ua + Warehouse.dayString(ts)).utf8)))
        let country = str(.country)

        // Copy the original object without its closing brace and without "ip", then add the fields.
        var end = line.count
        while end > 0, line[end - 1] != 0x7D { end -= 1 }
        var body = Array(UnsafeBufferPointer(rebasing: line[0..<(end - 1)]))
        if p.kinds[EventColumn.ip.rawValue] == .string, let r = String(decoding: body, as: UTF8.self).range(of: ",\"ip\":\"" + ip + "\"") {
            var s = String(decoding: body, as: UTF8.self); s.removeSubrange(r); body = Array(s.utf8)
        }
        out.append(contentsOf: body)
        func add(_ k: String, _ v: String?) {
            out.append(contentsOf: Array(",\"\(k)\":".utf8))
            if let v { out.append(contentsOf: Array(jsonString(v).utf8)) } else { out.append(contentsOf: Array("null".utf8)) }
        }
        if p.kinds[EventColumn.eventId.rawValue] != .string { add("event_id", "\(shard)-\(seq)") }
        out.append(contentsOf: Array(",\"arrival_ms\":\(arrival)".utf8))
        add("seq", String(seq)); add("shard", shard)
        add("url_host", host); add("url_path", path); add("url_query", query)
        for k in ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"] { add(k, utm[k]) }
        add("ref_host", refHost); add("channel", channel)
        add("browser", browser); add("browser_version", isBot ? nil : "120"); add("os", os); add("device", device)
        out.append(contentsOf: Array(",\"is_bot\":\(isBot)".utf8))
        add("bot_reason", botWord.map { "ua:\($0)" })
        add("geo_country", country); add("ip", ipTrunc); add("fingerprint", fp)
        out.append(contentsOf: Array("}\n".utf8))
        return (site, arrival)
    }

    /// Generates `events` simulator events, enriches them and writes them as objects of up to
    /// `objectRecords` records per (site, hour), with a manifest every `objectsPerManifest` objects.
    /// Returns the number of records written.
    @discardableResult
    public func writeSimulated(events: Int, sites: Int = 20, seed: UInt64 = 7, startMs: Int64 = 1_795_651_200_000,
                               rate: Double = 200, objectRecords: Int = 2_000, objectsPerManifest: Int = 8,
                               codec: Codec = .zstd) throws -> Int {
        var sim = Simulator(SimulatorConfig(sites: sites, seed: seed, rate: rate, startMs: startMs))
        struct Buf { var bytes: [UInt8] = []; var records = 0; var oldest: Int64 = 0; var firstSeq = 0; var hour: Int64 = 0 }
        var bufs: [String: Buf] = [:]
        var pending: [Entry] = []
        var seq = 0, written = 0, manifestSeq = 0
        var lastArrival: Int64 = startMs
        func flushObject(_ site: String) throws {
            guard let b = bufs[site], b.records > 0 else { return }
            pending.append(try writeObject(b.bytes, records: b.records, site: site, oldestArrivalMs: b.oldest,
                                           firstSeq: b.firstSeq, lastSeq: seq, codec: codec))
            written += b.records
            bufs[site] = nil
            if pending.count >= objectsPerManifest { try flushManifest() }
        }
        func flushManifest() throws {
            guard !pending.isEmpty else { return }
            manifestSeq += 1
            try writeManifest(pending, timeMs: lastArrival + Int64(manifestSeq), firstSeq: manifestSeq)
            pending = []
        }
        var remaining = events
        while remaining > 0 {
            let n = min(remaining, 5_000)
            remaining -= n
            let raw = sim.batch(count: n)
            var start = 0
            try raw.withUnsafeBufferPointer { all in
                for i in 0..<all.count where all[i] == 0x0A {
                    let line = UnsafeBufferPointer(rebasing: all[start..<i])
                    start = i + 1
                    seq += 1
                    var tmp: [UInt8] = []
                    guard let (site, arrival) = Self.enrich(line, seq: seq, shard: "shardId-000000000000", into: &tmp) else { continue }
                    lastArrival = arrival
                    let hour = arrival / 3_600_000
                    if let b = bufs[site], b.hour != hour { try flushObject(site) }
                    if bufs[site] == nil { bufs[site] = Buf(oldest: arrival, firstSeq: seq, hour: hour) }
                    bufs[site]!.bytes += tmp
                    bufs[site]!.records += 1
                    if bufs[site]!.records >= objectRecords { try flushObject(site) }
                }
            }
        }
        for s in bufs.keys.sorted() { try flushObject(s) }
        try flushManifest()
        return written
    }
}
