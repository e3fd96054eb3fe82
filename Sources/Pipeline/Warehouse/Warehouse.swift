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
    mutating func add(_ o: LoadReport) {
        manifestsCompleted += o.manifestsCompleted
        objectsLoaded += o.objectsLoaded
        objectsAlreadyLoaded += o.objectsAlreadyLoaded
        rowsInserted += o.rowsInserted
        duplicateRows += o.duplicateRows
        expiredRows += o.expiredRows
        errors += o.errors
        insertMs += o.insertMs
        derivedMs += o.derivedMs
    }
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
    /// Parsed manifests by path (manifests are immutable once renamed into place). Holds the
    /// pending ones only: `listManifests(excluding:)` replaces it with what it returned, so a
    /// completed manifest leaves it (it used to keep every manifest ever written: ~240 a minute at
    /// 15k events/s, about 0.4 MB a minute of heap that never came back).
    private var manifestCache: [String: Manifest] = [:]
    /// Manifests held by the cache (for tests).
    var manifestCacheCount: Int { cacheLock.lock(); defer { cacheLock.unlock() }; return manifestCache.count }
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
        // WAL with synchronous=NORMAL: a commit is in the WAL (the OS page cache) before COMMIT
        // returns, so it survives kill -9 of the process; only an OS crash or power loss can drop the
        // last commits, and then their ledger rows go with them and the loader loads those objects
        // again from the lake (which is the durable copy). A checkpoint every 64 MiB of WAL rather
        // than 4 MiB interrupts bulk loads less often; reads of index pages go through mmap.
        try writer.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536; PRAGMA mmap_size=268435456; PRAGMA wal_autocheckpoint=16384")
        try Schema.migrate(writer)
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

    /// The manifests on disk whose "delivery/name" is not in `completed`, in (delivery, name) order.
    /// Completed ones are neither read nor kept in the cache.
    func listManifests(excluding completed: Set<String> = []) throws -> [Manifest] {
        let root = (lakeRoot as NSString).appendingPathComponent("_manifests")
        let fm = FileManager.default
        guard let deliveries = try? fm.contentsOfDirectory(atPath: root) else { return [] }
        var out: [Manifest] = []
        defer {
            let keep = Dictionary(out.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
            cacheLock.lock(); manifestCache = keep; cacheLock.unlock()
        }
        for d in deliveries.sorted() {
            let dir = (root as NSString).appendingPathComponent(d)
            guard let names = try? fm.contentsOfDirectory(atPath: dir) else { continue }
            for n in names.sorted() where n.hasSuffix(".json") && !completed.contains(d + "/" + n) {
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

    /// Rows after which `loadPending` commits and opens the next transaction. Several manifests
    /// share a transaction (each in its own savepoint): fewer commits write each dirty index page
    /// to the WAL fewer times; readers see new rows at each commit.
    static let rowsPerTransaction = 250_000

    /// Loads every object of every manifest not yet completed, in name order, each object exactly
    /// once (ledger row in the same transaction as its events, sessions and rollups). Manifests are
    /// grouped into transactions of about `rowsPerTransaction` rows; each manifest is a savepoint,
    /// so one that fails is rolled back alone and the others commit.
    public func loadPending() throws -> LoadReport {
        lock.lock(); defer { writer.resetAll(); lock.unlock() }
        var report = LoadReport()
        var pending = LoadReport() // counted once committed
        var inTransaction = false
        func commit() throws {
            guard inTransaction else { return }
            try writer.exec("COMMIT")
            inTransaction = false
            report.add(pending)
            pending = LoadReport()
        }
        let done = try completedManifests()
        let manifests = try listManifests(excluding: done)
        do {
            manifestLoop: for m in manifests where !done.contains(m.delivery + "/" + m.name) {
                var ok = true
                var batch: [(url: String, path: String)] = []
                var local = LoadReport()
                for e in m.entries {
                    if try isLoaded(e.url) { local.objectsAlreadyLoaded += 1; continue }
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
                if !inTransaction { try writer.exec("BEGIN IMMEDIATE"); inTransaction = true }
                try writer.exec("SAVEPOINT manifest")
                do {
                    // The objects before a missing one still load (they are complete and durable).
                    if !batch.isEmpty { try loadObjects(batch, manifest: m, report: &local) }
                    if ok {
                        try writer.statement("INSERT OR IGNORE INTO loaded_manifests VALUES (?, ?, ?, ?)")
                            .run(.text(m.delivery), .text(m.name), .integer(Int64(m.entries.count)), .integer(now()))
                        local.manifestsCompleted += 1
                    }
                    writer.resetAll()
                    try writer.exec("RELEASE manifest")
                    pending.add(local)
                } catch {
                    writer.resetAll()
                    report.errors.append("manifest \(m.delivery)/\(m.name): \(error)")
                    guard writer.inTransaction else {
                        // SQLite rolled the whole transaction back itself (a full disk does): the
                        // manifests grouped with this one are undone too, ledger rows included, so
                        // they load again on the next pass. Stop here; the disk needs attention.
                        inTransaction = false
                        pending = LoadReport()
                        break manifestLoop
                    }
                    try writer.exec("ROLLBACK TO manifest")
                    try writer.exec("RELEASE manifest")
                }
                if pending.rowsInserted + pending.duplicateRows >= Self.rowsPerTransaction { try commit() }
            }
            try commit()
        } catch {
            writer.resetAll()
            if inTransaction { try? writer.exec("ROLLBACK") }
            throw error
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

    /// The listed objects of one manifest, inside the caller's transaction and savepoint: their rows,
    /// the sessions and rollups they change, and their ledger rows commit together or not at all.
    ///
    /// Rows are inserted through one prepared statement with spans of the decompressed object bound
    /// in place; each inserted row is also kept as a `BatchRow` (strings interned), from which the
    /// sessions and rollups of the whole batch are computed in memory and upserted once per key.
    func loadObjects(_ items: [(url: String, path: String)], manifest: Manifest, report: inout LoadReport) throws {
        let c = writer
        var local = LoadReport()
        do {
            let batchLastOldId = (try c.scalarInt("SELECT coalesce(max(id), 0) FROM events") ?? 0)
            let ins = try c.statement(Self.insertSQL)
            var p = ParsedLine()
            let fault = faultInjection
            let cutoff = now() - Int64(config.rawRetentionDays) * 86_400_000
            let tInsert = DispatchTime.now().uptimeNanoseconds
            var strings = ByteInterner()
            var rows: [BatchRow] = []
            rows.reserveCapacity(items.count * 5_000)
            for (url, path) in items {
                // Checked again inside the write transaction: another loader may have won the race.
                if try isLoaded(url) { local.objectsAlreadyLoaded += 1; continue }
                let reader = try LakeObjectReader(path: path)
                var records = 0, inserted = 0, duplicates = 0, expired = 0
                var newestTs: Int64?, newestArrival: Int64?
                do {
                    try reader.forEachLine { line in
                        do { try LakeLineParser.parse(line, into: &p) } catch let e as LakeLineParser.Bad {
                            throw LakeReadError(path: url, message: e.message, line: reader.lineNumber)
                        }
                        records += 1
                        guard p.kinds[EventColumn.eventId.rawValue] == .string else {
                            throw LakeReadError(path: url, message: "event_id missing", line: reader.lineNumber)
                        }
                        guard let ts = Self.tsValue(p, line) else {
                            throw LakeReadError(path: url, message: "bad ts", line: reader.lineNumber)
                        }
                        // Rows already older than the raw retention are not kept (retention would delete them).
                        if ts < cutoff { expired += 1; return true }
                        try Self.bindRow(ins, p, line)
                        try ins.step()
                        sqlite3_reset(ins.s)
                        if c.changes == 1 {
                            inserted += 1
                            newestTs = max(newestTs ?? ts, ts)
                            let a = EventColumn.arrivalMs.rawValue
                            if p.kinds[a] == .number, let v = LakeLineParser.int(line, p.starts[a], p.ends[a]) {
                                newestArrival = max(newestArrival ?? v, v)
                            }
                            rows.append(Self.batchRow(p, line, ts: ts, seq: Int32(truncatingIfNeeded: rows.count), strings: &strings))
                            try fault?(url, inserted)
                        } else { duplicates += 1 }
                        return true
                    }
                } catch let e as LakeReadError {
                    throw e
                } catch {
                    throw LakeReadError(path: url, message: "\(error)", line: reader.lineNumber)
                }
                try c.statement("INSERT INTO loaded_objects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)").run(
                    .text(url), .text(manifest.delivery), .text(manifest.name), .integer(Int64(records)),
                    .integer(Int64(inserted)), .integer(reader.compressedBytesRead),
                    newestTs.map { .integer($0) } ?? .null, newestArrival.map { .integer($0) } ?? .null, .integer(now()))
                local.objectsLoaded += 1
                local.rowsInserted += inserted
                local.duplicateRows += duplicates
                local.expiredRows += expired
            }
            let tDerived = DispatchTime.now().uptimeNanoseconds
            if !rows.isEmpty { try maintainDerived(rows: &rows, strings: &strings, lastOldId: batchLastOldId) }
            local.insertMs = Double(tDerived - tInsert) / 1e6
            local.derivedMs = Double(DispatchTime.now().uptimeNanoseconds - tDerived) / 1e6
        }
        // Counted only once the caller's savepoint is released.
        report.add(local)
    }

    /// Interns a text column of a parsed line; -1 when absent or null.
    @inline(__always) static func internColumn(_ p: ParsedLine, _ line: UnsafeBufferPointer<UInt8>, _ col: EventColumn, _ strings: inout ByteInterner) -> Int32 {
        let i = col.rawValue
        switch p.kinds[i] {
        case .absent, .null: return -1
        case .bool: return p.boolValue[i] ? strings.intern("1") : strings.intern("0")
        case .string, .number, .raw:
            let st = p.starts[i], n = p.ends[i] - st
            if p.decoded[i] {
                return p.scratch.withUnsafeBufferPointer { b in strings.intern(b.baseAddress! + st, n) }
            }
            return strings.intern(line.baseAddress! + st, n)
        }
    }

    @inline(__always) static func spanEquals(_ p: ParsedLine, _ line: UnsafeBufferPointer<UInt8>, _ col: EventColumn, _ s: StaticString) -> Bool {
        let i = col.rawValue
        guard p.kinds[i] == .string, p.ends[i] - p.starts[i] == s.utf8CodeUnitCount else { return false }
        if p.decoded[i] {
            return p.scratch.withUnsafeBufferPointer { memcmp($0.baseAddress! + p.starts[i], s.utf8Start, s.utf8CodeUnitCount) == 0 }
        }
        return memcmp(line.baseAddress! + p.starts[i], s.utf8Start, s.utf8CodeUnitCount) == 0
    }

    /// What the derived tables need of one inserted row, with the same conversions the events
    /// columns apply (INTEGER affinity for is_bot, REAL for value, visitor precedence).
    static func batchRow(_ p: ParsedLine, _ line: UnsafeBufferPointer<UInt8>, ts: Int64, seq: Int32, strings: inout ByteInterner) -> BatchRow {
        let kind: UInt8 = spanEquals(p, line, .type, "page_view") ? 1 : spanEquals(p, line, .type, "purchase") ? 2 : 0
        let b = EventColumn.isBot.rawValue
        var bot = false
        switch p.kinds[b] {
        case .bool: bot = p.boolValue[b]
        case .number: bot = LakeLineParser.int(line, p.starts[b], p.ends[b]) == 1
        case .string where !p.decoded[b]: bot = LakeLineParser.double(line, p.starts[b], p.ends[b]).map { $0 == 1 } ?? false
        default: break
        }
        var value = 0.0
        if kind == 2 {
            let v = EventColumn.value.rawValue
            if (p.kinds[v] == .number || p.kinds[v] == .string) && !p.decoded[v] && p.ends[v] > p.starts[v] {
                value = LakeLineParser.double(line, p.starts[v], p.ends[v]) ?? 0
            }
        }
        var visitor: Int32 = -1
        for v in visitorPrecedence where p.kinds[v.rawValue] == .string && p.ends[v.rawValue] > p.starts[v.rawValue] {
            visitor = internColumn(p, line, v, &strings)
            break
        }
        if visitor < 0 { visitor = internColumn(p, line, .eventId, &strings) }
        return BatchRow(site: internColumn(p, line, .siteId, &strings), visitor: visitor,
                        path: internColumn(p, line, .urlPath, &strings), channel: internColumn(p, line, .channel, &strings),
                        ref: internColumn(p, line, .refHost, &strings), device: internColumn(p, line, .device, &strings),
                        country: internColumn(p, line, .geoCountry, &strings), kind: kind, bot: bot, ts: ts, value: value, seq: seq)
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

    static func dayString(_ ms: Int64) -> String {
        let d = RFC3339.civilFromDays(Int((ms >= 0 ? ms : ms - 86_399_999) / 86_400_000))
        return String(format: "%04d-%02d-%02d", d.year, d.month, d.day)
    }

    static let findSessionsSQL = """
        SELECT id, start_ms, end_ms, entry_page, exit_page, pageviews, events, channel, ref_host, device, country,
               converted, revenue, is_bot FROM sessions WHERE site_id = ? AND visitor = ? AND end_ms >= ? AND start_ms <= ?
        ORDER BY start_ms
        """

    /// Sessions and rollups for the rows of one batch (already inserted, ids > lastOldId), computed in
    /// memory and written once per session and once per rollup key.
    ///
    /// Per visitor (rows sorted by ts, then load order), the stored sessions within a gap (or the
    /// same hours) of the new rows are read. When no new row falls inside a stored session, the new
    /// rows and stored sessions are merged in time order without reading stored events (the usual
    /// case: events arrive roughly in order). Otherwise that visitor's sessions in the span are rebuilt
    /// from `events`. Either way each changed session subtracts its old contribution from the
    /// session-based rollups and adds its new one. Distinct visitors per minute and per page-hour
    /// count a (visitor, bucket) only when the visitor had no earlier-loaded human event there.
    func maintainDerived(rows: inout [BatchRow], strings: inout ByteInterner, lastOldId: Int64) throws {
        let c = writer
        let gap = config.sessionGapMs
        let empty = strings.intern("")
        var d = DerivedDeltas()

        // Event-level aggregates.
        for r in rows {
            let site = r.site < 0 ? empty : r.site
            var st = d.sites[site, default: DerivedDeltas.Site()]
            st.events += 1; st.first = min(st.first, r.ts); st.last = max(st.last, r.ts)
            d.sites[site] = st
            let mk = DerivedDeltas.MinuteKey(site: site, ms: r.ts / 60_000 * 60_000)
            if r.bot { d.minute[mk, default: DerivedDeltas.Minute()].botEvents += 1; continue }
            var m = d.minute[mk, default: DerivedDeltas.Minute()]
            m.events += 1
            if r.kind == 1 { m.pageviews += 1 }
            if r.kind == 2 { m.purchases += 1; m.revenue += r.value }
            d.minute[mk] = m
            let gk = DerivedDeltas.DayKey(site: site, day: DerivedDeltas.day(r.ts), a: r.country < 0 ? empty : r.country, b: r.device < 0 ? empty : r.device)
            d.geo[gk, default: DerivedDeltas.Geo()].events += 1
            if r.kind == 1 {
                d.geo[gk, default: DerivedDeltas.Geo()].pageviews += 1
                d.page[DerivedDeltas.PageKey(site: site, hour: r.ts / 3_600_000 * 3_600_000, path: r.path < 0 ? empty : r.path), default: DerivedDeltas.Page()].pageviews += 1
            }
        }

        rows.sort { a, b in
            if a.site != b.site { return a.site < b.site }
            if a.visitor != b.visitor { return a.visitor < b.visitor }
            if a.ts != b.ts { return a.ts < b.ts }
            return a.seq < b.seq
        }

        let findOld = try c.statement(Self.findSessionsSQL)
        let oldEvents = try c.statement("""
            SELECT ts, type, url_path, is_bot FROM events WHERE site_id = ? AND visitor = ? AND ts >= ? AND ts < ? AND id <= ?
            """)
        let spanEvents = try c.statement("""
            SELECT ts, type, url_path, channel, ref_host, device, geo_country, value, is_bot FROM events
            WHERE site_id = ? AND visitor = ? AND ts >= ? AND ts <= ? ORDER BY ts, id
            """)
        let delSession = try c.statement("DELETE FROM sessions WHERE id = ?")
        let insSession = try c.statement("""
            INSERT INTO sessions (site_id, visitor, start_ms, end_ms, duration_ms, entry_page, exit_page, pageviews, events,
              bounce, channel, ref_host, device, country, converted, revenue, is_bot)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let updSession = try c.statement("""
            UPDATE sessions SET start_ms = ?3, end_ms = ?4, duration_ms = ?5, entry_page = ?6, exit_page = ?7, pageviews = ?8,
              events = ?9, bounce = ?10, channel = ?11, ref_host = ?12, device = ?13, country = ?14, converted = ?15,
              revenue = ?16, is_bot = ?17 WHERE id = ?18 AND site_id = ?1 AND visitor = ?2
            """)
        let insVisitorDay = try c.statement("INSERT OR IGNORE INTO visitor_days VALUES (?, ?, ?)")
        let pageId = strings.intern("page_view"), purchaseId = strings.intern("purchase")
        var dayCache: [Int32: String] = [:]
        func dayString(_ day: Int32) -> String {
            if let s = dayCache[day] { return s }
            let s = Self.dayString(Int64(day) * 86_400_000)
            dayCache[day] = s
            return s
        }

        func bindSession(_ st: Statement, _ site: Int32, _ visitor: Int32, _ s: BatchSession) {
            let h = st.s
            sqlite3_reset(h)
            strings.bind(h, 1, site); strings.bind(h, 2, visitor)
            sqlite3_bind_int64(h, 3, s.start); sqlite3_bind_int64(h, 4, s.end); sqlite3_bind_int64(h, 5, s.end - s.start)
            strings.bind(h, 6, s.entry); strings.bind(h, 7, s.exit)
            sqlite3_bind_int64(h, 8, s.pageviews); sqlite3_bind_int64(h, 9, s.events); sqlite3_bind_int64(h, 10, s.bounce ? 1 : 0)
            strings.bind(h, 11, s.channel); strings.bind(h, 12, s.ref); strings.bind(h, 13, s.device); strings.bind(h, 14, s.country)
            sqlite3_bind_int64(h, 15, s.converted ? 1 : 0); sqlite3_bind_double(h, 16, s.revenue); sqlite3_bind_int64(h, 17, s.bot ? 1 : 0)
        }
        /// Stores `s`, which replaces the stored sessions `old` (their contributions already removed).
        func store(_ site: Int32, _ visitor: Int32, _ s: BatchSession, replacing old: [Int64]) throws {
            d.account(s, site: site, empty: empty, sign: 1)
            if let keep = old.first {
                for id in old.dropFirst() { try delSession.run(.integer(id)) }
                bindSession(updSession, site, visitor, s)
                sqlite3_bind_int64(updSession.s, 18, keep)
                try updSession.step()
            } else {
                bindSession(insSession, site, visitor, s)
                try insSession.step()
            }
        }

        var lo = 0
        var minutes = Set<Int64>(), pageHours = Set<DerivedDeltas.PageKey>()
        var oldMinutes = Set<Int64>(), oldPageHours = Set<DerivedDeltas.PageKey>()
        var visitorDays = Set<Int32>()
        var old: [BatchSession] = []
        while lo < rows.count {
            var hi = lo + 1
            while hi < rows.count, rows[hi].site == rows[lo].site, rows[hi].visitor == rows[lo].visitor { hi += 1 }
            defer { lo = hi }
            let siteId = rows[lo].site, site = siteId < 0 ? empty : siteId, visitor = rows[lo].visitor
            let first = rows[lo].ts, last = rows[hi - 1].ts
            // Hours of the new rows: earlier-loaded events there decide distinct visitors.
            let hourLo = DerivedDeltas.floorDiv(first, 3_600_000) * 3_600_000
            let hourHi = DerivedDeltas.floorDiv(last, 3_600_000) * 3_600_000 + 3_600_000

            // Stored sessions near the new rows (within a gap, or overlapping their hours).
            old.removeAll(keepingCapacity: true)
            let fh = findOld.s
            sqlite3_reset(fh)
            strings.bind(fh, 1, site); strings.bind(fh, 2, visitor)
            sqlite3_bind_int64(fh, 3, min(first - gap, hourLo)); sqlite3_bind_int64(fh, 4, max(last + gap, hourHi))
            while try findOld.step() {
                old.append(BatchSession(id: findOld.int(0), start: findOld.int(1), end: findOld.int(2),
                                        entry: strings.intern(column: 3, of: fh), exit: strings.intern(column: 4, of: fh),
                                        pageviews: findOld.int(5), events: findOld.int(6),
                                        channel: strings.intern(column: 7, of: fh), ref: strings.intern(column: 8, of: fh),
                                        device: strings.intern(column: 9, of: fh), country: strings.intern(column: 10, of: fh),
                                        converted: findOld.int(11) != 0, revenue: findOld.double(12), bot: findOld.int(13) != 0))
            }
            sqlite3_reset(fh)

            // Distinct visitors per minute / page-hour / day: only (visitor, bucket) pairs new to the warehouse.
            minutes.removeAll(keepingCapacity: true); pageHours.removeAll(keepingCapacity: true); visitorDays.removeAll(keepingCapacity: true)
            for k in lo..<hi where !rows[k].bot {
                let r = rows[k]
                minutes.insert(r.ts / 60_000 * 60_000)
                visitorDays.insert(DerivedDeltas.day(r.ts))
                if r.kind == 1 { pageHours.insert(DerivedDeltas.PageKey(site: site, hour: r.ts / 3_600_000 * 3_600_000, path: r.path < 0 ? empty : r.path)) }
            }
            oldMinutes.removeAll(keepingCapacity: true); oldPageHours.removeAll(keepingCapacity: true)
            if !minutes.isEmpty, old.contains(where: { $0.end >= hourLo && $0.start < hourHi }) {
                let oh = oldEvents.s
                sqlite3_reset(oh)
                strings.bind(oh, 1, site); strings.bind(oh, 2, visitor)
                sqlite3_bind_int64(oh, 3, hourLo); sqlite3_bind_int64(oh, 4, hourHi); sqlite3_bind_int64(oh, 5, lastOldId)
                while try oldEvents.step() {
                    if oldEvents.int(3) == 1 { continue } // bots do not count as visitors
                    let ts = oldEvents.int(0)
                    oldMinutes.insert(ts / 60_000 * 60_000)
                    if strings.intern(column: 1, of: oh) == pageId {
                        let path = strings.intern(column: 2, of: oh)
                        oldPageHours.insert(DerivedDeltas.PageKey(site: site, hour: ts / 3_600_000 * 3_600_000, path: path < 0 ? empty : path))
                    }
                }
                sqlite3_reset(oh)
            }
            for m in minutes where !oldMinutes.contains(m) { d.minute[DerivedDeltas.MinuteKey(site: site, ms: m), default: DerivedDeltas.Minute()].visitors += 1 }
            for k in pageHours where !oldPageHours.contains(k) { d.page[k, default: DerivedDeltas.Page()].visitors += 1 }
            for day in visitorDays {
                let vh = insVisitorDay.s
                sqlite3_reset(vh)
                strings.bind(vh, 1, site); _ = dayString(day).withCString { sqlite3_bind_text(vh, 2, $0, -1, SQLITE_TRANSIENT_PTR) }
                strings.bind(vh, 3, visitor)
                try insVisitorDay.step()
                if c.changes == 1 { d.siteDay[DerivedDeltas.SiteDayKey(site: site, day: day), default: 0] += 1 }
            }

            // Sessions. Fast path unless a new row falls inside a stored session.
            let inside = old.contains { o in (lo..<hi).contains { k in o.start <= rows[k].ts && rows[k].ts < o.end } }
            if !inside {
                // Merge new rows and stored sessions in time order; each item lies after the current session.
                var i = lo, j = 0
                var cur: BatchSession?
                var curOld: [BatchSession] = []
                var curHasNew = false
                func emit() throws {
                    // A stored session that merged with nothing new stays as it is.
                    guard let s = cur, curHasNew else { return }
                    for o in curOld { d.account(o, site: site, empty: empty, sign: -1) }
                    try store(site, visitor, s, replacing: curOld.map { $0.id })
                }
                while i < hi || j < old.count {
                    let takeOld = j < old.count && (i >= hi || old[j].start <= rows[i].ts)
                    let item = takeOld ? old[j] : BatchSession(row: rows[i])
                    if var s = cur, item.start - s.end <= gap {
                        s.absorb(item)
                        cur = s
                    } else {
                        try emit()
                        cur = item; curOld = []; curHasNew = false
                    }
                    if takeOld { curOld.append(old[j]); j += 1 } else { curHasNew = true; i += 1 }
                }
                try emit()
            } else {
                // Rebuild from events: every stored session in the window is replaced.
                var loT = first, hiT = last
                for o in old {
                    loT = min(loT, o.start); hiT = max(hiT, o.end)
                    d.account(o, site: site, empty: empty, sign: -1)
                    try delSession.run(.integer(o.id))
                }
                let sh = spanEvents.s
                sqlite3_reset(sh)
                strings.bind(sh, 1, site); strings.bind(sh, 2, visitor)
                sqlite3_bind_int64(sh, 3, loT); sqlite3_bind_int64(sh, 4, hiT)
                var cur: BatchSession?
                while try spanEvents.step() {
                    let type = strings.intern(column: 1, of: sh)
                    let kind: UInt8 = type == pageId ? 1 : type == purchaseId ? 2 : 0
                    let r = BatchRow(site: site, visitor: visitor, path: strings.intern(column: 2, of: sh),
                                     channel: strings.intern(column: 3, of: sh), ref: strings.intern(column: 4, of: sh),
                                     device: strings.intern(column: 5, of: sh), country: strings.intern(column: 6, of: sh),
                                     kind: kind, bot: spanEvents.int(8) != 0, ts: spanEvents.int(0),
                                     value: kind == 2 ? spanEvents.double(7) : 0, seq: 0)
                    let item = BatchSession(row: r)
                    if var s = cur, item.start - s.end <= gap { s.absorb(item); cur = s } else {
                        if let s = cur { try store(site, visitor, s, replacing: []) }
                        cur = item
                    }
                }
                sqlite3_reset(sh)
                if let s = cur { try store(site, visitor, s, replacing: []) }
            }
        }
        try writeDeltas(d, strings: strings, dayString: dayString)
    }

    /// Upserts the batch's rollup deltas, once per key.
    func writeDeltas(_ d: DerivedDeltas, strings: ByteInterner, dayString: (Int32) -> String) throws {
        let c = writer
        func bindDay(_ h: OpaquePointer, _ i: Int32, _ day: Int32) {
            _ = dayString(day).withCString { sqlite3_bind_text(h, i, $0, -1, SQLITE_TRANSIENT_PTR) }
        }
        let upSite = try c.statement("""
            INSERT INTO sites VALUES (?, ?, ?, ?)
            ON CONFLICT(site_id) DO UPDATE SET first_event_ms = min(first_event_ms, excluded.first_event_ms),
              last_event_ms = max(last_event_ms, excluded.last_event_ms), events = events + excluded.events
            """)
        for (k, s) in d.sites {
            let h = upSite.s
            sqlite3_reset(h)
            strings.bind(h, 1, k); sqlite3_bind_int64(h, 2, s.first); sqlite3_bind_int64(h, 3, s.last); sqlite3_bind_int64(h, 4, s.events)
            try upSite.step()
        }
        let upMinute = try c.statement("""
            INSERT INTO rollup_minute (site_id, minute_ms, events, pageviews, visitors, sessions, bounces, purchases, revenue, bot_events)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(site_id, minute_ms) DO UPDATE SET events = events + excluded.events, pageviews = pageviews + excluded.pageviews,
              visitors = visitors + excluded.visitors, sessions = sessions + excluded.sessions, bounces = bounces + excluded.bounces,
              purchases = purchases + excluded.purchases, revenue = revenue + excluded.revenue, bot_events = bot_events + excluded.bot_events
            """)
        for (k, m) in d.minute {
            let h = upMinute.s
            sqlite3_reset(h)
            strings.bind(h, 1, k.site); sqlite3_bind_int64(h, 2, k.ms)
            sqlite3_bind_int64(h, 3, m.events); sqlite3_bind_int64(h, 4, m.pageviews); sqlite3_bind_int64(h, 5, m.visitors)
            sqlite3_bind_int64(h, 6, m.sessions); sqlite3_bind_int64(h, 7, m.bounces); sqlite3_bind_int64(h, 8, m.purchases)
            sqlite3_bind_double(h, 9, m.revenue); sqlite3_bind_int64(h, 10, m.botEvents)
            try upMinute.step()
        }
        let upPage = try c.statement("""
            INSERT INTO rollup_page_hour (site_id, hour_ms, url_path, pageviews, visitors, entries, exits, bounces) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(site_id, hour_ms, url_path) DO UPDATE SET pageviews = pageviews + excluded.pageviews,
              visitors = visitors + excluded.visitors, entries = entries + excluded.entries, exits = exits + excluded.exits,
              bounces = bounces + excluded.bounces
            """)
        for (k, p) in d.page where p.pageviews != 0 || p.visitors != 0 || p.entries != 0 || p.exits != 0 || p.bounces != 0 {
            let h = upPage.s
            sqlite3_reset(h)
            strings.bind(h, 1, k.site); sqlite3_bind_int64(h, 2, k.hour); strings.bind(h, 3, k.path)
            sqlite3_bind_int64(h, 4, p.pageviews); sqlite3_bind_int64(h, 5, p.visitors); sqlite3_bind_int64(h, 6, p.entries)
            sqlite3_bind_int64(h, 7, p.exits); sqlite3_bind_int64(h, 8, p.bounces)
            try upPage.step()
        }
        // A page-hour row whose every count went back to zero is removed (as a recount would not have it).
        let delPage = try c.statement("""
            DELETE FROM rollup_page_hour WHERE site_id = ? AND hour_ms = ? AND url_path = ?
              AND pageviews = 0 AND visitors = 0 AND entries = 0 AND exits = 0 AND bounces = 0
            """)
        for k in d.pageDecremented {
            let h = delPage.s
            sqlite3_reset(h)
            strings.bind(h, 1, k.site); sqlite3_bind_int64(h, 2, k.hour); strings.bind(h, 3, k.path)
            try delPage.step()
        }
        let upChannel = try c.statement("""
            INSERT INTO rollup_channel_day VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(site_id, day, channel, ref_host) DO UPDATE SET sessions = sessions + excluded.sessions,
              bounces = bounces + excluded.bounces, pageviews = pageviews + excluded.pageviews,
              conversions = conversions + excluded.conversions, revenue = revenue + excluded.revenue
            """)
        for (k, v) in d.channel where v.sessions != 0 || v.bounces != 0 || v.pageviews != 0 || v.conversions != 0 || v.revenue != 0 {
            let h = upChannel.s
            sqlite3_reset(h)
            strings.bind(h, 1, k.site); bindDay(h, 2, k.day); strings.bind(h, 3, k.a); strings.bind(h, 4, k.b)
            sqlite3_bind_int64(h, 5, v.sessions); sqlite3_bind_int64(h, 6, v.bounces); sqlite3_bind_int64(h, 7, v.pageviews)
            sqlite3_bind_int64(h, 8, v.conversions); sqlite3_bind_double(h, 9, v.revenue)
            try upChannel.step()
        }
        let upGeo = try c.statement("""
            INSERT INTO rollup_geo_device_day (site_id, day, country, device, events, pageviews, sessions, bounces) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(site_id, day, country, device) DO UPDATE SET events = events + excluded.events,
              pageviews = pageviews + excluded.pageviews, sessions = sessions + excluded.sessions, bounces = bounces + excluded.bounces
            """)
        for (k, v) in d.geo where v.events != 0 || v.pageviews != 0 || v.sessions != 0 || v.bounces != 0 {
            let h = upGeo.s
            sqlite3_reset(h)
            strings.bind(h, 1, k.site); bindDay(h, 2, k.day); strings.bind(h, 3, k.a); strings.bind(h, 4, k.b)
            sqlite3_bind_int64(h, 5, v.events); sqlite3_bind_int64(h, 6, v.pageviews); sqlite3_bind_int64(h, 7, v.sessions)
            sqlite3_bind_int64(h, 8, v.bounces)
            try upGeo.step()
        }
        let upSiteDay = try c.statement("""
            INSERT INTO rollup_site_day VALUES (?, ?, ?) ON CONFLICT(site_id, day) DO UPDATE SET visitors = visitors + excluded.visitors
            """)
        for (k, n) in d.siteDay where n != 0 {
            let h = upSiteDay.s
            sqlite3_reset(h)
            strings.bind(h, 1, k.site); bindDay(h, 2, k.day); sqlite3_bind_int64(h, 3, n)
            try upSiteDay.step()
        }
    }

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
            for m in try listManifests(excluding: done) {
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
