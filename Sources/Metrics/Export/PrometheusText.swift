/// `/metrics`: a `NodeSnapshot` in the Prometheus text exposition format (version 0.0.4).
///
/// Every figure keeps its `/v1/stats` name: the JSON path in snake_case with an `eddy_` prefix
/// (`sites[].eventsPerSec` → `eddy_site_events_per_sec{site="…"}`). Labels: `site`, `shard`,
/// `app`, `delivery`, `code` (rejects and errors by code), plus `type` (events by type),
/// `partition` (delivery buffers) and `name` (entries of top lists). Latency summaries become
/// `<name>_count`, `_p50_ms`, `_p99_ms`, `_max_ms`. Per-second/minute histories are left out:
/// Prometheus keeps its own history by scraping. Pure function; the collector serves it.
public enum PrometheusText {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func render(_ s: NodeSnapshot) -> String {
        var w = Writer()
        renderNode(s, &w)
        renderCollector(s.collector, &w)
        renderShards(s, &w)
        renderDeliveries(s.deliveries, &w)
        if let wh = s.warehouse { renderWarehouse(wh, &w) }
        renderProcess(s.process, &w)
        latency(&w, "eddy_click_to_dashboard", "Click-to-dashboard latency: collector arrival to applied in live aggregates",
                [([], s.clickToDashboard)])
        renderSites(s.sites, &w)
        if let live = s.live { renderLive(live, &w) }
        return w.out
    }

    // MARK: - Sections

    private static func renderNode(_ s: NodeSnapshot, _ w: inout Writer) {
        let n = s.node
        w.family("eddy_node_info", .gauge, "Node identity; the value is always 1",
                 [([("node_id", n.nodeId), ("version", n.version), ("mode", n.mode), ("stream_name", n.streamName)], .int(1))])
        w.family("eddy_node_started_at_ms", .gauge, "Node start, epoch milliseconds", [([], .int(n.startedAtMs))])
        w.family("eddy_node_ready", .gauge, "1 when the node is ready to take traffic", [([], .bool(n.ready))])
        w.family("eddy_taken_at_ms", .gauge, "When this snapshot was taken, epoch milliseconds", [([], .int(s.takenAtMs))])
    }

    private static func renderCollector(_ c: CollectorStats, _ w: inout Writer) {
        w.family("eddy_collector_events_per_sec", .gauge, "Events accepted per second", [([], .double(c.eventsPerSec))])
        w.family("eddy_collector_bytes_per_sec", .gauge, "Request bytes accepted per second", [([], .double(c.bytesPerSec))])
        w.family("eddy_collector_requests_per_sec", .gauge, "HTTP requests per second", [([], .double(c.requestsPerSec))])
        w.family("eddy_collector_events_total", .counter, "Events accepted since start", [([], .int(c.eventsTotal))])
        w.family("eddy_collector_bytes_total", .counter, "Bytes accepted since start", [([], .int(c.bytesTotal))])
        w.family("eddy_collector_rejects_by_code", .counter, "Records rejected since start, by error code",
                 c.rejectsByCode.sorted { $0.key < $1.key }.map { ([("code", $0.key)], .int($0.value)) })
        w.family("eddy_collector_rejects_per_sec", .gauge, "Records rejected per second", [([], .double(c.rejectsPerSec))])
        latency(&w, "eddy_collector_ack_latency", "Collector acknowledgement latency", [([], c.ackLatency)])
    }

    private static func renderShards(_ s: NodeSnapshot, _ w: inout Writer) {
        let sh = s.shards
        w.family("eddy_shard_info", .gauge, "Shard state and hash range; the value is always 1", sh.map {
            ([("shard", $0.shardId), ("state", $0.state), ("starting_hash_key", $0.startingHashKey),
              ("ending_hash_key", $0.endingHashKey), ("parent_shard_id", $0.parentShardId ?? ""),
              ("adjacent_parent_shard_id", $0.adjacentParentShardId ?? "")], .int(1))
        })
        w.family("eddy_shard_records_per_sec", .gauge, "Records written per second", sh.map { ([("shard", $0.shardId)], .double($0.recordsPerSec)) })
        w.family("eddy_shard_bytes_per_sec", .gauge, "Bytes written per second", sh.map { ([("shard", $0.shardId)], .double($0.bytesPerSec)) })
        w.family("eddy_shard_records", .counter, "Records in the shard", sh.map { ([("shard", $0.shardId)], .int($0.records)) })
        w.family("eddy_shard_size_bytes", .gauge, "Bytes on disk across the shard's segments", sh.map { ([("shard", $0.shardId)], .int($0.sizeBytes)) })
        w.family("eddy_shard_throttles", .counter, "Writes throttled", sh.map { ([("shard", $0.shardId)], .int($0.throttles)) })
        w.family("eddy_shard_hot", .gauge, "1 when the auto-scaler marked the shard hot", sh.map { ([("shard", $0.shardId)], .bool($0.hot)) })

        let cs = s.consumers
        func l(_ c: ConsumerStats) -> [(String, String)] { [("app", c.app), ("shard", c.shardId)] }
        w.family("eddy_consumer_records_behind", .gauge, "Records between the consumer's checkpoint and the shard's end", cs.map { (l($0), .int($0.recordsBehind)) })
        w.family("eddy_consumer_millis_behind_latest", .gauge, "Milliseconds the consumer is behind the shard's newest record", cs.map { (l($0), .int($0.millisBehindLatest)) })
        w.family("eddy_consumer_iterator_age_ms", .gauge, "Now minus the arrival time of the last record read", cs.map { (l($0), .int($0.iteratorAgeMs)) })
    }

    private static func renderDeliveries(_ ds: [DeliveryStats], _ w: inout Writer) {
        func l(_ d: DeliveryStats) -> [(String, String)] { [("delivery", d.name)] }
        w.family("eddy_delivery_size_hint_bytes", .gauge, "Buffer size hint", ds.map { (l($0), .int($0.sizeHintBytes)) })
        w.family("eddy_delivery_interval_hint_ms", .gauge, "Buffer interval hint", ds.map { (l($0), .int($0.intervalHintMs)) })
        w.family("eddy_delivery_objects_written", .counter, "Lake objects written", ds.map { (l($0), .int($0.objectsWritten)) })
        w.family("eddy_delivery_bytes_in", .counter, "Bytes taken in", ds.map { (l($0), .int($0.bytesIn)) })
        w.family("eddy_delivery_bytes_written", .counter, "Bytes written to the lake", ds.map { (l($0), .int($0.bytesWritten)) })
        w.family("eddy_delivery_compression_ratio", .gauge, "Bytes in / bytes written", ds.map { (l($0), .double($0.compressionRatio)) })
        w.family("eddy_delivery_memory_bytes", .gauge, "Memory the buffers hold (capacity, and emptied buffers kept for reuse)", ds.map { (l($0), .int($0.memoryBytes)) })
        w.family("eddy_delivery_memory_limit_bytes", .gauge, "Memory budget of the buffers", ds.map { (l($0), .int($0.memoryLimitBytes)) })
        w.family("eddy_delivery_errors_by_type", .counter, "Delivery errors by type", ds.flatMap { d in
            d.errorsByType.sorted { $0.key < $1.key }.map { ([("delivery", d.name), ("code", $0.key)], .int($0.value)) }
        })
        latency(&w, "eddy_delivery_delivery_latency", "Record arrival to durable lake object", ds.map { (l($0), $0.deliveryLatency) })

        let bs = ds.flatMap { d in d.buffers.map { (d.name, $0) } }
        func bl(_ x: (String, BufferStats)) -> [(String, String)] { [("delivery", x.0), ("partition", x.1.partition)] }
        w.family("eddy_delivery_buffer_bytes", .gauge, "Bytes buffered for the partition", bs.map { (bl($0), .int($0.1.bytes)) })
        w.family("eddy_delivery_buffer_fill_bytes", .gauge, "Bytes of the partition's largest pending object (what the size hint bounds)", bs.map { (bl($0), .int($0.1.fillBytes)) })
        w.family("eddy_delivery_buffer_records", .gauge, "Records buffered for the partition", bs.map { (bl($0), .int($0.1.records)) })
        w.family("eddy_delivery_buffer_age_ms", .gauge, "Age of the oldest buffered record", bs.map { (bl($0), .int($0.1.ageMs)) })
        w.family("eddy_delivery_buffer_ms_to_next_flush", .gauge, "Milliseconds until the interval hint flushes the buffer", bs.map { (bl($0), .int($0.1.msToNextFlush)) })
    }

    private static func renderWarehouse(_ wh: WarehouseStats, _ w: inout Writer) {
        w.family("eddy_warehouse_objects_pending", .gauge, "Lake objects not yet loaded", [([], .int(wh.objectsPending))])
        w.family("eddy_warehouse_records_pending", .gauge, "Records not yet loaded", [([], .int(wh.recordsPending))])
        w.family("eddy_warehouse_rows_loaded", .counter, "Rows loaded into the warehouse", [([], .int(wh.rowsLoaded))])
        if let newest = wh.newestEventLoadedMs {
            w.family("eddy_warehouse_newest_event_loaded_ms", .gauge, "Arrival time of the newest loaded event", [([], .int(newest))])
        }
        w.family("eddy_warehouse_lag_ms", .gauge, "Warehouse loader lag", [([], .int(wh.lagMs))])
        w.family("eddy_warehouse_sqlite_memory_bytes", .gauge, "Bytes SQLite holds in this process (page caches, statements)", [([], .int(wh.sqliteMemoryBytes))])
        w.family("eddy_warehouse_sqlite_memory_limit_bytes", .gauge, "SQLite's soft heap limit (0 = none)", [([], .int(wh.sqliteMemoryLimitBytes))])
    }

    private static func renderProcess(_ p: ProcessStats, _ w: inout Writer) {
        w.family("eddy_process_cpu_percent", .gauge, "CPU used, percent of one core", [([], .double(p.cpuPercent))])
        w.family("eddy_process_rss_bytes", .gauge, "Resident set size", [([], .int(p.rssBytes))])
        w.family("eddy_process_open_files", .gauge, "Open file descriptors", [([], .int(p.openFiles))])
        w.family("eddy_process_heap_in_use_bytes", .gauge, "malloc: bytes in live allocations (glibc mallinfo2)", [([], .int(p.heapInUseBytes))])
        w.family("eddy_process_heap_free_bytes", .gauge, "malloc: bytes held free in its arenas (fragmentation when it grows)", [([], .int(p.heapFreeBytes))])
        w.family("eddy_process_chunk_pool_free_bytes", .gauge, "Delivery chunk blocks kept free for reuse (mapped outside malloc)", [([], .int(p.chunkPoolFreeBytes))])
        w.family("eddy_process_uptime_ms", .gauge, "Process uptime", [([], .int(p.uptimeMs))])
    }

    private static func renderSites(_ ss: [SiteStats], _ w: inout Writer) {
        func l(_ s: SiteStats) -> [(String, String)] { [("site", s.siteId)] }
        w.family("eddy_site_events_per_sec", .gauge, "Events per second now", ss.map { (l($0), .double($0.eventsPerSec)) })
        w.family("eddy_site_pageviews_per_sec", .gauge, "Pageviews per second now", ss.map { (l($0), .double($0.pageviewsPerSec)) })
        w.family("eddy_site_events_total", .counter, "Events since start", ss.map { (l($0), .int($0.eventsTotal)) })
        w.family("eddy_site_events_by_type", .counter, "Events since start by type", ss.flatMap { s in
            s.eventsByType.sorted { $0.key < $1.key }.map { ([("site", s.siteId), ("type", $0.key)], .int($0.value)) }
        })
        w.family("eddy_site_active_visitors", .gauge, "Distinct visitors in the last 5 minutes (HyperLogLog)", ss.map { (l($0), .int($0.activeVisitors)) })
        w.family("eddy_site_visitors_today", .gauge, "Distinct visitors today, UTC (HyperLogLog)", ss.map { (l($0), .int($0.visitorsToday)) })
        w.family("eddy_site_sessions", .counter, "Sessions since start", ss.map { (l($0), .int($0.sessions)) })
        w.family("eddy_site_bounce_rate", .gauge, "Share of sessions with at most one pageview", ss.map { (l($0), .double($0.bounceRate)) })
        w.family("eddy_site_avg_session_seconds", .gauge, "Mean session length", ss.map { (l($0), .double($0.avgSessionSeconds)) })
        w.family("eddy_site_pageviews", .counter, "Pageviews since start", ss.map { (l($0), .int($0.pageviews)) })
        ranked(&w, "eddy_site_top_pages", "Top pages by pageviews", ss, \.topPages)
        ranked(&w, "eddy_site_referrers", "Top referrer hosts by pageviews", ss, \.referrers)
        ranked(&w, "eddy_site_channels", "Pageviews by channel", ss, \.channels)
        ranked(&w, "eddy_site_countries", "Pageviews by country", ss, \.countries)
        ranked(&w, "eddy_site_devices", "Pageviews by device class", ss, \.devices)
        ranked(&w, "eddy_site_browsers", "Pageviews by browser family", ss, \.browsers)
        w.family("eddy_site_bot_share", .gauge, "Share of events from bots", ss.map { (l($0), .double($0.botShare)) })
        w.family("eddy_site_add_to_carts", .counter, "Add-to-cart events since start", ss.map { (l($0), .int($0.addToCarts)) })
        w.family("eddy_site_purchases", .counter, "Purchases since start", ss.map { (l($0), .int($0.purchases)) })
        w.family("eddy_site_revenue", .counter, "Revenue since start", ss.map { (l($0), .double($0.revenue)) })
    }

    private static func renderLive(_ v: LiveAggregatesStats, _ w: inout Writer) {
        w.family("eddy_live_sites", .gauge, "Sites held by the live aggregates", [([], .int(v.sites))])
        w.family("eddy_live_events_applied", .counter, "Events applied to the live aggregates", [([], .int(v.eventsApplied))])
        w.family("eddy_live_events_dropped", .counter, "Events refused by the live aggregates", [([], .int(v.eventsDropped))])
        w.family("eddy_live_sessions_open", .gauge, "Open sessions held", [([], .int(v.sessionsOpen))])
        w.family("eddy_live_sessions_evicted", .counter, "Open sessions closed early because the table was full", [([], .int(v.sessionsEvicted))])
        w.family("eddy_live_sessions_expired", .counter, "Sessions closed by the inactivity timeout", [([], .int(v.sessionsExpired))])
        w.family("eddy_live_session_capacity", .gauge, "Open sessions held at most", [([], .int(v.sessionCapacity))])
        w.family("eddy_live_memory_bytes", .gauge, "Bytes held by live sketches, windows and sessions", [([], .int(v.memoryBytes))])
    }

    // MARK: - Helpers

    private static func ranked(_ w: inout Writer, _ name: String, _ help: String, _ ss: [SiteStats], _ list: KeyPath<SiteStats, [RankedCount]>) {
        w.family(name + "_count", .gauge, help + ": count", ss.flatMap { s in
            s[keyPath: list].map { ([("site", s.siteId), ("name", $0.name)], .int($0.count)) }
        })
        w.family(name + "_error", .gauge, help + ": Space-Saving overestimation bound (0 when exact)", ss.flatMap { s in
            s[keyPath: list].map { ([("site", s.siteId), ("name", $0.name)], .int($0.error)) }
        })
    }

    private static func latency(_ w: inout Writer, _ name: String, _ help: String, _ xs: [([(String, String)], LatencySummary)]) {
        w.family(name + "_count", .gauge, help + ": samples summarised", xs.map { ($0.0, .int($0.1.count)) })
        w.family(name + "_p50_ms", .gauge, help + ": median, ms", xs.map { ($0.0, .double($0.1.p50Ms)) })
        w.family(name + "_p99_ms", .gauge, help + ": 99th percentile, ms", xs.map { ($0.0, .double($0.1.p99Ms)) })
        w.family(name + "_max_ms", .gauge, help + ": maximum, ms", xs.map { ($0.0, .double($0.1.maxMs)) })
    }

    enum Kind: String { case gauge, counter }
    enum Value {
        case int(Int64), double(Double), bool(Bool)
        var text: String {
            switch self {
            case .int(let v): return String(v)
            case .bool(let b): return b ? "1" : "0"
            case .double(let d): return Self.text(d)
            }
        }
        static func text(_ d: Double) -> String {
            if d.isNaN { return "NaN" }
            if d.isInfinite { return d > 0 ? "+Inf" : "-Inf" }
            return "\(d)"
        }
    }

    /// Builds the exposition as bytes: a 320-site snapshot is ~45k series, and String
    /// interpolation per series cost ~70 ms.
    struct Writer {
        private var bytes: [UInt8] = []
        var out: String { String(decoding: bytes, as: UTF8.self) }

        init() { bytes.reserveCapacity(1 << 20) }

        private mutating func append(_ s: String) {
            var s = s
            s.withUTF8 { bytes.append(contentsOf: $0) }
        }

        private mutating func appendInt(_ v: Int64) {
            if v == 0 { bytes.append(0x30); return }
            var m = v.magnitude
            var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)
            withUnsafeMutableBytes(of: &scratch) { buf in
                var i = buf.count
                while m > 0 { i -= 1; buf[i] = UInt8(truncatingIfNeeded: 0x30 &+ m % 10); m /= 10 }
                if v < 0 { i -= 1; buf[i] = 0x2D }
                bytes.append(contentsOf: buf[i...])
            }
        }

        private mutating func appendValue(_ v: Value) {
            switch v {
            case .int(let i): appendInt(i)
            case .bool(let b): bytes.append(b ? 0x31 : 0x30)
            case .double(let d):
                if d.isFinite && d == d.rounded(.towardZero) && d.magnitude < 1e15 { appendInt(Int64(d)) }
                else { append(Value.text(d)) }
            }
        }

        mutating func family(_ name: String, _ kind: Kind, _ help: String, _ samples: [([(String, String)], Value)]) {
            guard !samples.isEmpty else { return }
            append("# HELP \(name) \(escapeHelp(help))\n# TYPE \(name) \(kind.rawValue)\n")
            // A scrape with a repeated series is rejected whole; two entries can share a label set
            // (e.g. two sites with one id, or page names equal after truncation): keep the first.
            var seen: [Int: [Range<Int>]] = [:]
            for (labels, value) in samples {
                let start = bytes.count
                append(name)
                if !labels.isEmpty {
                    bytes.append(0x7B)
                    for (i, (k, v)) in labels.enumerated() {
                        if i > 0 { bytes.append(0x2C) }
                        append(k)
                        bytes.append(0x3D); bytes.append(0x22)
                        append(escapeLabel(v))
                        bytes.append(0x22)
                    }
                    bytes.append(0x7D)
                }
                let series = start..<bytes.count
                var h = Hasher()
                bytes.withUnsafeBytes { h.combine(bytes: UnsafeRawBufferPointer(rebasing: $0[series])) }
                let key = h.finalize()
                if let earlier = seen[key], earlier.contains(where: { bytes[$0].elementsEqual(bytes[series]) }) {
                    bytes.removeSubrange(series)
                    continue
                }
                seen[key, default: []].append(series)
                bytes.append(0x20)
                appendValue(value)
                bytes.append(0x0A)
            }
        }
    }

    static func escapeLabel(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == 0x5C || $0 == 0x22 || $0 == 0x0A }) else { return s }
        var r = String.UnicodeScalarView()
        for c in s.unicodeScalars {
            switch c {
            case "\\": r.append(contentsOf: "\\\\".unicodeScalars)
            case "\"": r.append(contentsOf: "\\\"".unicodeScalars)
            case "\n": r.append(contentsOf: "\\n".unicodeScalars)
            default: r.append(c)
            }
        }
        return String(r)
    }

    static func escapeHelp(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }
}

private extension String {
    func replacingOccurrences(of a: String, with b: String) -> String {
        split(separator: a, omittingEmptySubsequences: false).joined(separator: b)
    }
}
