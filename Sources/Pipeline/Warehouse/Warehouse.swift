import CSQLite
import Foundation
import Metrics

/// Settings of the warehouse. Validated by `Warehouse.init`.
public struct WarehouseConfig: Sendable {
    /// Raw events (and sessions) older than this many days are deleted by retention.
    public var rawRetentionDays: Int = 30
    /// Rollup rows older than this many days are deleted by retention.
    public var rollupRetentionDays: Int = 400
    /// Inactivity gap that ends a session.
    public var sessionGapMs: Int64 = 30 * 60_000
    /// How often the background loop looks for new manifests.
    public var pollInterval: TimeInterval = 1.0
    /// Default time limit of a query.
    public var queryTimeLimit: TimeInterval = 10
    public init() {}
}

/// What one `loadPending()` did.
public struct LoadReport: Sendable, Equatable, CustomStringConvertible {
    public var manifestsCompleted = 0
    public var objectsLoaded = 0
    /// Objects listed again (replayed manifests, redelivery) and already in the ledger.
    public var objectsAlreadyLoaded = 0
    public var rowsInserted = 0
    /// Lines whose event_id was already in `events` (a record never counts twice).
    public var duplicateRows = 0
    /// Rows older than the raw retention, dropped at load.
    public var expiredRows = 0
    /// Problems that stopped a manifest (missing mandatory object, unreadable object). The manifest is
    /// retried on the next load; objects loaded before the problem stay loaded (they are in the ledger).
    public var errors: [String] = []
    /// Wall time spent reading + inserting rows, and maintaining sessions and rollups (ms).
    public var insertMs: Double = 0
    public var derivedMs: Double = 0
    public init() {}
    public var description: String {
        "manifests \(manifestsCompleted), objects \(objectsLoaded) (+\(objectsAlreadyLoaded) already loaded), rows \(rowsInserted), duplicates \(duplicateRows), expired \(expiredRows), errors \(errors.count)"
    }
}

/// The SQL warehouse: `<data>/warehouse/eddy.sqlite` in WAL mode, loaded exactly once from the lake's
/// manifests, with sessions and rollups maintained in the same transaction as the rows.
///
/// One writer connection (the loader, serialised by a lock); readers open their own connections
/// through `queryRunner()`.
public final class Warehouse: @unchecked Sendable {
    public let dataDirectory: String
    public let lakeRoot: String
    public let databasePath: String
    public let config: WarehouseConfig
    let writer: SQLiteConnection
    private let lock = NSLock()
    private let loopCondition = NSCondition()
    private var loopThread: Thread?
    private var stopping = false
    private var lastRetentionMs: Int64 = 0
    /// Parsed manifests by path (manifests are immutable once renamed into place).
    private var manifestCache: [String: Manifest] = [:]
    private let cacheLock = NSLock()
    /// Stats read through their own connection and lock, so the dashboard never waits for a load.
    private let statsLock = NSLock()
    private var statsConn: SQLiteConnection?
    /// Test seam: called after each row is inserted with (object url, rows so far in the object);
    /// a throw aborts that object's transaction as a crash would.
    public var faultInjection: (@Sendable (String, Int) throws -> Void)?
    public var now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }

    public init(dataDirectory: String, config: WarehouseConfig = WarehouseConfig()) throws {
        var problems: [String] = []
        if config.rawRetentionDays < 1 { problems.append("rawRetentionDays must be ≥ 1") }
        if config.rollupRetentionDays < config.rawRetentionDays { problems.append("rollupRetentionDays must be ≥ rawRetentionDays") }
        if config.sessionGapMs <= 0 { problems.append("sessionGapMs must be > 0") }
        if config.queryTimeLimit <= 0 { problems.append("queryTimeLimit must be > 0") }
        if !problems.isEmpty { throw SQLiteError(code: SQLITE_MISUSE, message: "invalid warehouse config: " + problems.joined(separator: "; ")) }
        self.dataDirectory = dataDirectory
        self.config = config
        lakeRoot = (dataDirectory as NSString).appendingPathComponent("lake")
        let dir = (dataDirectory as NSString).appendingPathComponent("warehouse")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        databasePath = (dir as NSString).appendingPathComponent("eddy.sqlite")
        writer = try SQLiteConnection(path: databasePath)
        try writer.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536")
        try Schema.migrate(writer)
        try writer.exec("""
            CREATE TEMP TABLE aff_min (site_id TEXT, minute_ms INTEGER, PRIMARY KEY (site_id, minute_ms)) WITHOUT ROWID;
            CREATE TEMP TABLE aff_hour (site_id TEXT, hour_ms INTEGER, PRIMARY KEY (site_id, hour_ms)) WITHOUT ROWID;
            """)
    }

    deinit { stop() }

    /// A read-only query runner on its own connection, with `lake_events` registered.
    public func queryRunner() throws -> QueryRunner {
        try QueryRunner(databasePath: databasePath, lakeRoot: lakeRoot, timeLimit: config.queryTimeLimit)
    }

    // MARK: Background loop

    /// Starts polling for new manifests every `pollInterval`. Errors are kept in `lastError`.
    public func start() {
        loopCondition.lock(); defer { loopCondition.unlock() }
        guard loopThread == nil else { return }
        stopping = false
        let t = Thread { [weak self] in self?.loop() }
        t.name = "eddy-warehouse-loader"
        loopThread = t
        t.start()
    }

    /// Stops the loop and waits for a load in progress to finish (it commits or rolls back whole).
    public func stop() {
        loopCondition.lock()
        guard loopThread != nil else { loopCondition.unlock(); return }
        stopping = true
        loopCondition.broadcast()
        while loopThread != nil { loopCondition.wait() }
        loopCondition.unlock()
    }

    private let errorLock = NSLock()
    private var _lastError: String?
    /// The last error the background loop met, if any.
    public var lastError: String? { errorLock.lock(); defer { errorLock.unlock() }; return _lastError }

    private func loop() {
        while true {
            do {
                let r = try loadPending()
                errorLock.lock(); _lastError = r.errors.last; errorLock.unlock()
            } catch {
                errorLock.lock(); _lastError = "\(error)"; errorLock.unlock()
            }
            loopCondition.lock()
            if !stopping { _ = loopCondition.wait(until: Date().addingTimeInterval(config.pollInterval)) }
            if stopping { loopThread = nil; loopCondition.broadcast(); loopCondition.unlock(); return }
            loopCondition.unlock()
        }
    }

    // MARK: Manifests

    struct Manifest {
        struct Entry { var url: String; var mandatory: Bool; var contentLength: Int64?; var records: Int64? }
        var delivery: String
        var name: String
        var path: String
        var entries: [Entry]
        /// Epoch ms from the 20-digit prefix of the name.
        var writtenMs: Int64?
    }

    /// All manifests on disk in (delivery, name) order.
    func listManifests() throws -> [Manifest] {
        let root = (lakeRoot as NSString).appendingPathComponent("_manifests")
        let fm = FileManager.default
        guard let deliveries = try? fm.contentsOfDirectory(atPath: root) else { return [] }
        var out: [Manifest] = []
        for d in deliveries.sorted() {
            let dir = (root as NSString).appendingPathComponent(d)
            guard let names = try? fm.contentsOfDirectory(atPath: dir) else { continue }
            for n in names.sorted() where n.hasSuffix(".json") {
                let path = (dir as NSString).appendingPathComponent(n)
                cacheLock.lock()
                let cached = manifestCache[path]
                cacheLock.unlock()
                if let cached { out.append(cached); continue }
                guard let data = fm.contents(atPath: path),
                      let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                      let entries = obj["entries"] as? [[String: Any]] else {
                    throw LakeReadError(path: path, message: "not a manifest ({\"entries\":[…]})")
                }
                let es = entries.compactMap { e -> Manifest.Entry? in
                    guard let url = e["url"] as? String else { return nil }
                    let meta = e["meta"] as? [String: Any]
                    return Manifest.Entry(url: url, mandatory: (e["mandatory"] as? Bool) ?? false,
                                          contentLength: (meta?["content_length"] as? NSNumber)?.int64Value,
                                          records: (meta?["records"] as? NSNumber)?.int64Value)
                }
                let m = Manifest(delivery: d, name: n, path: path, entries: es,
                                 writtenMs: Int64(n.prefix(while: { $0.isNumber })))
                cacheLock.lock(); manifestCache[path] = m; cacheLock.unlock()
                out.append(m)
            }
        }
        return out
    }

    /// Resolves a manifest url (relative to the lake root; an `s3://bucket/` or `file://` prefix is
    /// tolerated and stripped to the key) to a local path.
    func localPath(_ url: String) -> String {
        var u = url
        if u.hasPrefix("file://") { return String(u.dropFirst(7)) }
        if u.hasPrefix("s3://") { u = String(u.dropFirst(5)); if let i = u.firstIndex(of: "/") { u = String(u[u.index(after: i)...]) } }
        return (lakeRoot as NSString).appendingPathComponent(u)
    }

    // MARK: Loading

    /// Loads every object of every manifest not yet completed, in name order, each object exactly
    /// once (ledger row in the same transaction as its events, sessions and rollups).
    public func loadPending() throws -> LoadReport {
        lock.lock(); defer { writer.resetAll(); lock.unlock() }
        var report = LoadReport()
        let manifests = try listManifests()
        let done = try completedManifests()
        for m in manifests where !done.contains(m.delivery + "/" + m.name) {
            var ok = true
            var batch: [(url: String, path: String)] = []
            for e in m.entries {
                if try isLoaded(e.url) { report.objectsAlreadyLoaded += 1; continue }
                let path = localPath(e.url)
                if !FileManager.default.fileExists(atPath: path) {
                    if e.mandatory {
                        report.errors.append("manifest \(m.delivery)/\(m.name): mandatory object missing: \(e.url)")
                        ok = false
                        break
                    }
                    continue
                }
                batch.append((e.url, path))
            }
            // The objects before a missing one still load (they are complete and durable).
            if !batch.isEmpty {
                do {
                    try loadObjects(batch, manifest: m, report: &report)
                } catch {
                    report.errors.append("manifest \(m.delivery)/\(m.name): \(error)")
                    ok = false
                }
            }
            if ok {
                try writer.statement("INSERT OR IGNORE INTO loaded_manifests VALUES (?, ?, ?, ?)")
                    .run(.text(m.delivery), .text(m.name), .integer(Int64(m.entries.count)), .integer(now()))
                report.manifestsCompleted += 1
            }
        }
        let t = now()
        if t - lastRetentionMs > 3_600_000 {
            lastRetentionMs = t
            try applyRetentionLocked(nowMs: t)
        }
        return report
    }

    func completedManifests(_ c: SQLiteConnection? = nil) throws -> Set<String> {
        let s = try (c ?? writer).statement("SELECT delivery || '/' || name FROM loaded_manifests")
        var out = Set<String>()
        while try s.step() { out.insert(s.text(0) ?? "") }
        return out
    }

    func isLoaded(_ url: String, _ c: SQLiteConnection? = nil) throws -> Bool {
        let s = try (c ?? writer).statement("SELECT 1 FROM loaded_objects WHERE url = ?")
        defer { sqlite3_reset(s.s) }
        s.bind(1, url)
        return try s.step()
    }

    static let insertSQL = "INSERT OR IGNORE INTO events (" + EventColumn.names.joined(separator: ", ") + ", visitor) VALUES ("
        + Array(repeating: "?", count: EventColumn.count + 1).joined(separator: ", ") + ")"

    /// The listed objects of one manifest in one transaction: their rows, the sessions and rollups
    /// they change, and their ledger rows commit together or not at all. One transaction per
    /// manifest rather than per object: each commit writes every dirty index page to the WAL, and
    /// the bucket rollups are recomputed once for the batch.
    func loadObjects(_ items: [(url: String, path: String)], manifest: Manifest, report: inout LoadReport) throws {
        let c = writer
        var local = LoadReport()
        try c.transaction {
            let batchFirstId = (try c.scalarInt("SELECT coalesce(max(id), 0) FROM events") ?? 0)
            let ins = try c.statement(Self.insertSQL)
            var p = ParsedLine()
            let fault = faultInjection
            let cutoff = now() - Int64(config.rawRetentionDays) * 86_400_000
            let tInsert = DispatchTime.now().uptimeNanoseconds
            var any = false
            for (url, path) in items {
                // Checked again inside the write transaction: another loader may have won the race.
                if try isLoaded(url) { local.objectsAlreadyLoaded += 1; continue }
                let reader = try LakeObjectReader(path: path)
                var records = 0, inserted = 0, duplicates = 0
                var newestTs: Int64?, newestArrival: Int64?
                let objFirstId = (try c.scalarInt("SELECT coalesce(max(id), 0) FROM events") ?? 0)
                do {
                    try reader.forEachLine { line in
                        do { try LakeLineParser.parse(line, into: &p) } catch let e as LakeLineParser.Bad {
                            throw LakeReadError(path: url, message: e.message, line: reader.lineNumber)
                        }
                        records += 1
                        guard p.kinds[EventColumn.eventId.rawValue] == .string else {
                            throw LakeReadError(path: url, message: "event_id missing", line: reader.lineNumber)
                        }
                        try Self.bindRow(ins, p, line)
                        try ins.step()
                        sqlite3_reset(ins.s)
                        if c.changes == 1 {
                            inserted += 1
                            try fault?(url, inserted)
                        } else { duplicates += 1 }
                        return true
                    }
                } catch let e as LakeReadError {
                    throw e
                } catch {
                    throw LakeReadError(path: url, message: "\(error)", line: reader.lineNumber)
                }
                // Late rows older than the raw retention would corrupt recomputed rollups: drop them.
                try c.statement("DELETE FROM events NOT INDEXED WHERE id > ? AND ts < ?").run(.integer(objFirstId), .integer(cutoff))
                let exp = c.changes
                inserted -= exp
                local.expiredRows += exp
                let r = try c.statement("SELECT max(ts), max(arrival_ms) FROM events NOT INDEXED WHERE id > ?")
                r.bind(1, objFirstId)
                if try r.step() { newestTs = r.isNull(0) ? nil : r.int(0); newestArrival = r.isNull(1) ? nil : r.int(1) }
                sqlite3_reset(r.s)
                try c.statement("INSERT INTO loaded_objects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)").run(
                    .text(url), .text(manifest.delivery), .text(manifest.name), .integer(Int64(records)),
                    .integer(Int64(inserted)), .integer(reader.compressedBytesRead),
                    newestTs.map { .integer($0) } ?? .null, newestArrival.map { .integer($0) } ?? .null, .integer(now()))
                local.objectsLoaded += 1
                local.rowsInserted += inserted
                local.duplicateRows += duplicates
                if inserted > 0 { any = true }
            }
            let tDerived = DispatchTime.now().uptimeNanoseconds
            if any { try maintainDerived(firstNewId: batchFirstId) }
            local.insertMs = Double(tDerived - tInsert) / 1e6
            local.derivedMs = Double(DispatchTime.now().uptimeNanoseconds - tDerived) / 1e6
        }
        // Counted only once committed.
        report.objectsLoaded += local.objectsLoaded
        report.objectsAlreadyLoaded += local.objectsAlreadyLoaded
        report.rowsInserted += local.rowsInserted
        report.duplicateRows += local.duplicateRows
        report.expiredRows += local.expiredRows
        report.insertMs += local.insertMs
        report.derivedMs += local.derivedMs
    }

    /// Binds one parsed line to the INSERT. Text spans are bound without copying (SQLITE_STATIC is
    /// safe: the statement is stepped before the buffers change).
    static func bindRow(_ ins: Statement, _ p: ParsedLine, _ line: UnsafeBufferPointer<UInt8>) throws {
        let s = ins.s
        for col in 0..<EventColumn.count {
            let idx = Int32(col + 1)
            switch p.kinds[col] {
            case .absent, .null: sqlite3_bind_null(s, idx)
            case .bool: sqlite3_bind_int64(s, idx, p.boolValue[col] ? 1 : 0)
            case .string, .number, .raw:
                if col == EventColumn.ts.rawValue {
                    guard let ts = tsValue(p, line) else { throw LakeReadError(path: "", message: "bad ts") }
                    sqlite3_bind_int64(s, idx, ts)
                    continue
                }
                bindSpan(s, idx, p, col, line)
            }
        }
        // visitor
        for v in visitorPrecedence where p.kinds[v.rawValue] == .string && p.ends[v.rawValue] > p.starts[v.rawValue] {
            bindSpan(s, Int32(EventColumn.count + 1), p, v.rawValue, line)
            return
        }
        bindSpan(s, Int32(EventColumn.count + 1), p, EventColumn.eventId.rawValue, line)
    }

    @inline(__always) static func bindSpan(_ s: OpaquePointer, _ idx: Int32, _ p: ParsedLine, _ col: Int, _ line: UnsafeBufferPointer<UInt8>) {
        let st = p.starts[col], n = p.ends[col] - st
        if p.decoded[col] {
            p.scratch.withUnsafeBufferPointer { b in
                _ = sqlite3_bind_text(s, idx, UnsafeRawPointer(b.baseAddress! + st).assumingMemoryBound(to: CChar.self), Int32(n), SQLITE_TRANSIENT_PTR)
            }
        } else {
            _ = sqlite3_bind_text(s, idx, UnsafeRawPointer(line.baseAddress! + st).assumingMemoryBound(to: CChar.self), Int32(n), SQLITE_STATIC_PTR)
        }
    }

    static func tsValue(_ p: ParsedLine, _ line: UnsafeBufferPointer<UInt8>) -> Int64? {
        let c = EventColumn.ts.rawValue
        switch p.kinds[c] {
        case .number: return LakeLineParser.int(line, p.starts[c], p.ends[c])
        case .string where !p.decoded[c]: return RFC3339.parseMs(line.baseAddress! + p.starts[c], p.ends[c] - p.starts[c])
        default: return nil
        }
    }

    // MARK: Sessions and rollups

    struct SessionRow {
        var siteId: String, visitor: String
        var startMs: Int64, endMs: Int64
        var entryPage: String?, exitPage: String?
        var pageviews: Int64, events: Int64
        var channel: String?, refHost: String?, device: String?, country: String?
        var converted: Bool, revenue: Double, isBot: Bool
        var bounce: Bool { events == 1 }
    }

    struct SiteBucket: Hashable { var site: String, ms: Int64 }
    struct DayKey: Hashable { var site: String, day: String, a: String, b: String }
    struct DayDelta { var sessions: Int64 = 0, bounces: Int64 = 0, pageviews: Int64 = 0, conversions: Int64 = 0, revenue: Double = 0 }

    static func dayString(_ ms: Int64) -> String {
        let d = RFC3339.civilFromDays(Int((ms >= 0 ? ms : ms - 86_399_999) / 86_400_000))
        return String(format: "%04d-%02d-%02d", d.year, d.month, d.day)
    }

    /// Re-sessionises every visitor touched by rows with id > firstNewId, then recomputes or adjusts
    /// the rollups of the buckets those rows and sessions fall in.
    func maintainDerived(firstNewId: Int64) throws {
        let c = writer
        let gap = config.sessionGapMs
        try c.exec("DELETE FROM temp.aff_min; DELETE FROM temp.aff_hour")
        // Buckets of the new rows.
        try c.statement("INSERT OR IGNORE INTO temp.aff_min SELECT site_id, ts / 60000 * 60000 FROM events NOT INDEXED WHERE id > ?").run(.integer(firstNewId))
        try c.statement("INSERT OR IGNORE INTO temp.aff_hour SELECT site_id, ts / 3600000 * 3600000 FROM events NOT INDEXED WHERE id > ?").run(.integer(firstNewId))
        try c.statement("""
            INSERT INTO sites SELECT site_id, min(ts), max(ts), count(*) FROM events NOT INDEXED WHERE id > ? GROUP BY site_id
            ON CONFLICT(site_id) DO UPDATE SET first_event_ms = min(first_event_ms, excluded.first_event_ms),
              last_event_ms = max(last_event_ms, excluded.last_event_ms), events = events + excluded.events
            """).run(.integer(firstNewId))
        try c.statement("""
            INSERT INTO rollup_geo_device_day (site_id, day, country, device, events, pageviews)
            SELECT site_id, date(ts / 1000, 'unixepoch'), coalesce(geo_country, ''), coalesce(device, ''), count(*),
                   sum(type = 'page_view') FROM events NOT INDEXED WHERE id > ? AND is_bot IS NOT 1 GROUP BY 1, 2, 3, 4
            ON CONFLICT(site_id, day, country, device) DO UPDATE SET events = events + excluded.events,
              pageviews = pageviews + excluded.pageviews
            """).run(.integer(firstNewId))

        try c.statement("""
            INSERT OR IGNORE INTO visitor_days SELECT DISTINCT site_id, date(ts / 1000, 'unixepoch'), visitor
            FROM events NOT INDEXED WHERE id > ? AND is_bot IS NOT 1
            """).run(.integer(firstNewId))
        try c.statement("""
            INSERT OR REPLACE INTO rollup_site_day SELECT site_id, day, count(*) FROM visitor_days
            WHERE (site_id, day) IN (SELECT DISTINCT site_id, date(ts / 1000, 'unixepoch') FROM events NOT INDEXED WHERE id > ? AND is_bot IS NOT 1)
            GROUP BY site_id, day
            """).run(.integer(firstNewId))

        // Sessions: for each touched visitor, take the existing sessions within a gap of the new rows,
        // delete them, and rebuild from all of that visitor's rows in the widened span.
        var channelDelta: [DayKey: DayDelta] = [:]
        var geoDelta: [DayKey: DayDelta] = [:]
        var sessionMinutes = Set<SiteBucket>()
        func account(_ s: SessionRow, _ sign: Int64) throws {
            guard !s.isBot else { return }
            let day = Self.dayString(s.startMs)
            let ck = DayKey(site: s.siteId, day: day, a: s.channel ?? "", b: s.refHost ?? "")
            channelDelta[ck, default: DayDelta()].sessions += sign
            channelDelta[ck, default: DayDelta()].bounces += s.bounce ? sign : 0
            channelDelta[ck, default: DayDelta()].pageviews += sign * s.pageviews
            channelDelta[ck, default: DayDelta()].conversions += s.converted ? sign : 0
            channelDelta[ck, default: DayDelta()].revenue += Double(sign) * s.revenue
            let gk = DayKey(site: s.siteId, day: day, a: s.country ?? "", b: s.device ?? "")
            geoDelta[gk, default: DayDelta()].sessions += sign
            geoDelta[gk, default: DayDelta()].bounces += s.bounce ? sign : 0
            sessionMinutes.insert(SiteBucket(site: s.siteId, ms: s.startMs / 60000 * 60000))
        }

        let touched = try c.statement("SELECT site_id, visitor, min(ts), max(ts) FROM events NOT INDEXED WHERE id > ? GROUP BY site_id, visitor")
        touched.bind(1, firstNewId)
        var visitors: [(String, String, Int64, Int64)] = []
        while try touched.step() { visitors.append((touched.text(0) ?? "", touched.text(1) ?? "", touched.int(2), touched.int(3))) }

        let findOld = try c.statement("""
            SELECT id, start_ms, end_ms, entry_page, exit_page, pageviews, events, channel, ref_host, device, country,
                   converted, revenue, is_bot FROM sessions WHERE site_id = ? AND visitor = ? AND end_ms >= ? AND start_ms <= ?
            """)
        let delOld = try c.statement("DELETE FROM sessions WHERE id = ?")
        let rows = try c.statement("""
            SELECT ts, type, url_path, channel, ref_host, device, geo_country, value, is_bot FROM events
            WHERE site_id = ? AND visitor = ? AND ts >= ? AND ts <= ? ORDER BY ts, id
            """)
        let insSession = try c.statement("""
            INSERT INTO sessions (site_id, visitor, start_ms, end_ms, duration_ms, entry_page, exit_page, pageviews, events,
              bounce, channel, ref_host, device, country, converted, revenue, is_bot)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for (site, visitor, lo0, hi0) in visitors {
            var lo = lo0, hi = hi0
            sqlite3_reset(findOld.s)
            findOld.bind(1, site); findOld.bind(2, visitor); findOld.bind(3, lo0 - gap); findOld.bind(4, hi0 + gap)
            var oldIds: [Int64] = []
            while try findOld.step() {
                oldIds.append(findOld.int(0))
                let s = SessionRow(siteId: site, visitor: visitor, startMs: findOld.int(1), endMs: findOld.int(2),
                                   entryPage: findOld.text(3), exitPage: findOld.text(4), pageviews: findOld.int(5),
                                   events: findOld.int(6), channel: findOld.text(7), refHost: findOld.text(8),
                                   device: findOld.text(9), country: findOld.text(10), converted: findOld.int(11) != 0,
                                   revenue: findOld.double(12), isBot: findOld.int(13) != 0)
                lo = min(lo, s.startMs); hi = max(hi, s.endMs)
                try account(s, -1)
            }
            for id in oldIds { try delOld.run(.integer(id)) }
            sqlite3_reset(rows.s)
            rows.bind(1, site); rows.bind(2, visitor); rows.bind(3, lo); rows.bind(4, hi)
            var cur: SessionRow?
            func flush() throws {
                guard let s = cur else { return }
                try insSession.run(.text(s.siteId), .text(s.visitor), .integer(s.startMs), .integer(s.endMs),
                                   .integer(s.endMs - s.startMs), s.entryPage.map { .text($0) } ?? .null,
                                   s.exitPage.map { .text($0) } ?? .null, .integer(s.pageviews), .integer(s.events),
                                   .integer(s.bounce ? 1 : 0), s.channel.map { .text($0) } ?? .null,
                                   s.refHost.map { .text($0) } ?? .null, s.device.map { .text($0) } ?? .null,
                                   s.country.map { .text($0) } ?? .null, .integer(s.converted ? 1 : 0),
                                   .real(s.revenue), .integer(s.isBot ? 1 : 0))
                try account(s, 1)
            }
            while try rows.step() {
                let ts = rows.int(0)
                let type = rows.text(1)
                let isPV = type == "page_view"
                let isPurchase = type == "purchase"
                if var s = cur, ts - s.endMs <= gap {
                    s.endMs = ts
                    s.events += 1
                    if isPV { s.pageviews += 1; s.exitPage = rows.text(2); if s.entryPage == nil { s.entryPage = s.exitPage } }
                    if isPurchase { s.converted = true; s.revenue += rows.double(7) }
                    if rows.int(8) != 0 { s.isBot = true }
                    cur = s
                } else {
                    try flush()
                    let path = isPV ? rows.text(2) : nil
                    cur = SessionRow(siteId: site, visitor: visitor, startMs: ts, endMs: ts, entryPage: path, exitPage: path,
                                     pageviews: isPV ? 1 : 0, events: 1, channel: rows.text(3), refHost: rows.text(4),
                                     device: rows.text(5), country: rows.text(6), converted: isPurchase,
                                     revenue: isPurchase ? rows.double(7) : 0, isBot: rows.int(8) != 0)
                }
            }
            try flush()
        }

        let affMin = try c.statement("INSERT OR IGNORE INTO temp.aff_min VALUES (?, ?)")
        let affHour = try c.statement("INSERT OR IGNORE INTO temp.aff_hour VALUES (?, ?)")
        var hours = Set<SiteBucket>()
        for b in sessionMinutes {
            try affMin.run(.text(b.site), .integer(b.ms))
            hours.insert(SiteBucket(site: b.site, ms: b.ms / 3_600_000 * 3_600_000))
        }
        for b in hours { try affHour.run(.text(b.site), .integer(b.ms)) }

        // Additive daily rollups: apply the deltas.
        let upChannel = try c.statement("""
            INSERT INTO rollup_channel_day VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(site_id, day, channel, ref_host) DO UPDATE SET sessions = sessions + excluded.sessions,
              bounces = bounces + excluded.bounces, pageviews = pageviews + excluded.pageviews,
              conversions = conversions + excluded.conversions, revenue = revenue + excluded.revenue
            """)
        for (k, d) in channelDelta where d.sessions != 0 || d.bounces != 0 || d.pageviews != 0 || d.conversions != 0 || d.revenue != 0 {
            try upChannel.run(.text(k.site), .text(k.day), .text(k.a), .text(k.b), .integer(d.sessions), .integer(d.bounces),
                              .integer(d.pageviews), .integer(d.conversions), .real(d.revenue))
        }
        let upGeo = try c.statement("""
            INSERT INTO rollup_geo_device_day (site_id, day, country, device, sessions, bounces) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(site_id, day, country, device) DO UPDATE SET sessions = sessions + excluded.sessions,
              bounces = bounces + excluded.bounces
            """)
        for (k, d) in geoDelta where d.sessions != 0 || d.bounces != 0 {
            try upGeo.run(.text(k.site), .text(k.day), .text(k.a), .text(k.b), .integer(d.sessions), .integer(d.bounces))
        }

        // Bucket rollups with distinct visitors: recompute each touched bucket from events and sessions.
        for sql in Self.bucketRollupSQL { try c.statement(sql).run() }
    }

    /// Recomputes the minute and page-hour rows of the buckets in temp.aff_min / temp.aff_hour.
    static let bucketRollupSQL: [String] = [
        """
            DELETE FROM rollup_minute WHERE (site_id, minute_ms) IN (SELECT site_id, minute_ms FROM temp.aff_min)
            """,
        """
            INSERT INTO rollup_minute (site_id, minute_ms, events, pageviews, visitors, purchases, revenue, bot_events)
            SELECT a.site_id, a.minute_ms,
                   count(*) FILTER (WHERE e.is_bot IS NOT 1),
                   count(*) FILTER (WHERE e.is_bot IS NOT 1 AND e.type = 'page_view'),
                   count(DISTINCT e.visitor) FILTER (WHERE e.is_bot IS NOT 1),
                   count(*) FILTER (WHERE e.is_bot IS NOT 1 AND e.type = 'purchase'),
                   coalesce(sum(e.value) FILTER (WHERE e.is_bot IS NOT 1 AND e.type = 'purchase'), 0),
                   count(*) FILTER (WHERE e.is_bot IS 1)
            FROM temp.aff_min a JOIN events e ON e.site_id = a.site_id AND e.ts >= a.minute_ms AND e.ts < a.minute_ms + 60000
            GROUP BY a.site_id, a.minute_ms
            """,
        """
            UPDATE rollup_minute SET
              sessions = (SELECT count(*) FROM sessions s WHERE s.site_id = rollup_minute.site_id AND s.start_ms >= rollup_minute.minute_ms
                          AND s.start_ms < rollup_minute.minute_ms + 60000 AND s.is_bot = 0),
              bounces = (SELECT count(*) FROM sessions s WHERE s.site_id = rollup_minute.site_id AND s.start_ms >= rollup_minute.minute_ms
                          AND s.start_ms < rollup_minute.minute_ms + 60000 AND s.is_bot = 0 AND s.bounce = 1)
            WHERE (site_id, minute_ms) IN (SELECT site_id, minute_ms FROM temp.aff_min)
            """,
        """
            DELETE FROM rollup_page_hour WHERE (site_id, hour_ms) IN (SELECT site_id, hour_ms FROM temp.aff_hour)
            """,
        """
            INSERT INTO rollup_page_hour (site_id, hour_ms, url_path, pageviews, visitors)
            SELECT a.site_id, a.hour_ms, coalesce(e.url_path, ''), count(*), count(DISTINCT e.visitor)
            FROM temp.aff_hour a JOIN events e ON e.site_id = a.site_id AND e.ts >= a.hour_ms AND e.ts < a.hour_ms + 3600000
            WHERE e.type = 'page_view' AND e.is_bot IS NOT 1
            GROUP BY a.site_id, a.hour_ms, coalesce(e.url_path, '')
            """,
        """
            INSERT INTO rollup_page_hour (site_id, hour_ms, url_path, entries, bounces)
            SELECT a.site_id, a.hour_ms, s.entry_page, count(*), sum(s.bounce)
            FROM temp.aff_hour a JOIN sessions s ON s.site_id = a.site_id AND s.start_ms >= a.hour_ms AND s.start_ms < a.hour_ms + 3600000
            WHERE s.is_bot = 0 AND s.entry_page IS NOT NULL
            GROUP BY a.site_id, a.hour_ms, s.entry_page
            ON CONFLICT(site_id, hour_ms, url_path) DO UPDATE SET entries = excluded.entries, bounces = excluded.bounces
            """,
        """
            INSERT INTO rollup_page_hour (site_id, hour_ms, url_path, exits)
            SELECT a.site_id, a.hour_ms, s.exit_page, count(*)
            FROM temp.aff_hour a JOIN sessions s ON s.site_id = a.site_id AND s.start_ms >= a.hour_ms AND s.start_ms < a.hour_ms + 3600000
            WHERE s.is_bot = 0 AND s.exit_page IS NOT NULL
            GROUP BY a.site_id, a.hour_ms, s.exit_page
            ON CONFLICT(site_id, hour_ms, url_path) DO UPDATE SET exits = excluded.exits
            """,
    ]

    // MARK: Retention

    /// Deletes raw events and sessions older than `rawRetentionDays`, rollups older than `rollupRetentionDays`.
    public func applyRetention(nowMs: Int64? = nil) throws {
        lock.lock(); defer { lock.unlock() }
        try applyRetentionLocked(nowMs: nowMs ?? now())
    }

    func applyRetentionLocked(nowMs: Int64) throws {
        let raw = nowMs - Int64(config.rawRetentionDays) * 86_400_000
        let roll = nowMs - Int64(config.rollupRetentionDays) * 86_400_000
        try writer.transaction {
            try writer.statement("DELETE FROM events WHERE ts < ?").run(.integer(raw))
            try writer.statement("DELETE FROM sessions WHERE end_ms < ?").run(.integer(raw))
            try writer.statement("DELETE FROM rollup_minute WHERE minute_ms < ?").run(.integer(roll))
            try writer.statement("DELETE FROM rollup_page_hour WHERE hour_ms < ?").run(.integer(roll))
            try writer.statement("DELETE FROM rollup_channel_day WHERE day < ?").run(.text(Self.dayString(roll)))
            try writer.statement("DELETE FROM rollup_geo_device_day WHERE day < ?").run(.text(Self.dayString(roll)))
            try writer.statement("DELETE FROM rollup_site_day WHERE day < ?").run(.text(Self.dayString(roll)))
            try writer.statement("DELETE FROM visitor_days WHERE day < ?").run(.text(Self.dayString(roll)))
        }
    }

    // MARK: Stats

    /// Loader lag: objects and records listed in manifests but not yet loaded, and the newest event loaded.
    public func stats() -> WarehouseStats {
        statsLock.lock(); defer { statsLock.unlock() }
        var st = WarehouseStats()
        do {
            if statsConn == nil {
                statsConn = try SQLiteConnection(path: databasePath)
                try statsConn!.exec("PRAGMA query_only = 1")
            }
            let c = statsConn!
            // One read transaction, so ledger and manifests are seen at one point in time.
            c.resetAll()
            try c.exec("BEGIN")
            defer { c.resetAll(); try? c.exec("COMMIT") }
            let done = try completedManifests(c)
            var oldestPendingMs: Int64?
            for m in try listManifests() where !done.contains(m.delivery + "/" + m.name) {
                for e in m.entries where try !isLoaded(e.url, c) {
                    st.objectsPending += 1
                    st.recordsPending += e.records ?? 0
                    if let w = m.writtenMs { oldestPendingMs = min(oldestPendingMs ?? w, w) }
                }
            }
            st.rowsLoaded = try c.scalarInt("SELECT coalesce(sum(rows_inserted), 0) FROM loaded_objects") ?? 0
            st.newestEventLoadedMs = try c.scalarInt("SELECT max(newest_ts) FROM loaded_objects")
            st.lagMs = oldestPendingMs.map { max(0, now() - $0) } ?? 0
        } catch {}
        return st
    }
}
