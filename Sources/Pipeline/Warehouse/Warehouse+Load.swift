import CSQLite
import Foundation

/// The loader: manifests grouped into transactions, the bulk INSERT path and the per-row bindings.
extension Warehouse {
    // MARK: Loading

    /// Rows after which `loadPending` commits and opens the next transaction. Several manifests
    /// share a transaction: fewer commits write each dirty index page
    /// to the WAL fewer times; readers see new rows at each commit.
    static let rowsPerTransaction = 250_000

    /// Loads every object of every manifest not yet completed, in name order, each object exactly
    /// once (ledger row in the same transaction as its events, sessions and rollups). Manifests are
    /// grouped into transactions of about `rowsPerTransaction` rows. A manifest that fails rolls its
    /// whole group back; the group is loaded again with that manifest in a transaction of its own,
    /// so the others commit and only it is reported (and retried on the next pass).
    ///
    /// Not savepoints: a savepoint makes SQLite copy every page that existed before it into a
    /// statement journal the first time the manifest modifies it. On a large database a manifest
    /// modifies tens of thousands of index pages; with temp_store=MEMORY that journal was heap (a
    /// 5k/s soak: SQLite at ~200 MB against a 64 MiB cache), and in a file it is as many writes.
    /// Failures are rare; paying for them with a reload costs nothing the rest of the time.
    public func loadPending() throws -> LoadReport {
        lock.lock(); defer { writer.resetAll(); lock.unlock() }
        var report = LoadReport()
        var pending = LoadReport() // counted once committed
        var inTransaction = false
        var group: [String] = []            // manifests in the open transaction
        var committed = Set<String>()       // manifests completed by this call
        var alone = Set<String>()           // failed in a group: load in a transaction of their own
        var failed = Set<String>()          // failed alone: reported, retried on the next pass
        func commit() throws {
            guard inTransaction else { return }
            try writer.exec("COMMIT")
            inTransaction = false
            report.add(pending)
            pending = LoadReport()
            committed.formUnion(group)
            group = []
        }
        func rollback() throws {
            writer.resetAll()
            if writer.inTransaction { try writer.exec("ROLLBACK") }
            inTransaction = false
            pending = LoadReport()
            group = []
        }
        let manifests = try listManifests()
        do {
            passes: while true {
                for m in manifests {
                    let key = m.delivery + "/" + m.name
                    if committed.contains(key) || failed.contains(key) { continue }
                    // A node shutting down does not wait for a backlog: what is committed stays, the
                    // rest loads on the next start (it waited for every pending manifest, minutes
                    // after a node that had fallen behind was told to stop).
                    if stopRequested { break passes }
                    var ok = true
                    var batch: [(url: String, path: String)] = []
                    var local = LoadReport()
                    for e in m.entries {
                        if try isLoaded(e.url) { local.objectsAlreadyLoaded += 1; continue }
                        let path = localPath(e.url)
                        if !FileManager.default.fileExists(atPath: path) {
                            if e.mandatory {
                                local.errors.append("manifest \(m.delivery)/\(m.name): mandatory object missing: \(e.url)")
                                ok = false
                                break
                            }
                            continue
                        }
                        batch.append((e.url, path))
                    }
                    let isolated = alone.contains(key)
                    if isolated { try commit() }
                    if !inTransaction { try writer.exec("BEGIN IMMEDIATE"); inTransaction = true }
                    do {
                        // The objects before a missing one still load (they are complete and durable).
                        if !batch.isEmpty { try loadObjects(batch, manifest: m, report: &local) }
                        if ok {
                            try writer.statement("INSERT OR IGNORE INTO loaded_manifests VALUES (?, ?, ?, ?)")
                                .run(.text(m.delivery), .text(m.name), .integer(Int64(m.entries.count)), .integer(now()))
                            local.manifestsCompleted += 1
                        }
                        writer.resetAll()
                        pending.add(local)
                        group.append(key)
                    } catch {
                        writer.resetAll()
                        guard writer.inTransaction else {
                            // SQLite rolled the whole transaction back itself (a full disk does): the
                            // manifests grouped with this one are undone too, ledger rows included, so
                            // they load again on the next pass. Stop here; the disk needs attention.
                            report.errors.append("manifest \(m.delivery)/\(m.name): \(error)")
                            inTransaction = false
                            pending = LoadReport()
                            break passes
                        }
                        let grouped = !group.isEmpty
                        try rollback()
                        if isolated || !grouped {
                            report.errors.append("manifest \(m.delivery)/\(m.name): \(error)")
                            failed.insert(key)
                            continue
                        }
                        // Its group is undone with it: load the group again, this one alone.
                        alone.insert(key)
                        continue passes
                    }
                    if isolated || pending.rowsInserted + pending.duplicateRows >= Self.rowsPerTransaction { try commit() }
                }
                break
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

    static let insertSQL = "INSERT OR IGNORE INTO events (" + EventColumn.names.joined(separator: ", ") + ", visitor) VALUES ("
        + Array(repeating: "?", count: EventColumn.count + 1).joined(separator: ", ") + ")"

    /// The listed objects of one manifest, inside the caller's transaction: their rows,
    /// the sessions and rollups they change, and their ledger rows commit together or not at all.
    ///
    /// Rows are inserted through one prepared statement with spans of the decompressed object bound
    /// in place; each inserted row is also kept as a `BatchRow` (strings interned), from which the
    /// sessions and rollups of the whole batch are computed in memory and upserted once per key.
    func loadObjects(_ items: [(url: String, path: String)], manifest: Manifest, report: inout LoadReport) throws {
        let c = writer
        var local = LoadReport()
        do {
            let ins = try c.statement(Self.insertSQL)
            var p = ParsedLine()
            let fault = faultInjection
            let cutoff = now() - Int64(config.rawRetentionDays) * 86_400_000
            let tInsert = DispatchTime.now().uptimeNanoseconds
            var strings = ByteInterner()
            var rows: [BatchRow] = []
            var newestOfBatch: Int64?
            // Sized from the manifest's record counts (it used to reserve 5,000 rows per object: a
            // manifest of 320 small objects reserved ~90 MB it never touched).
            let listed = manifest.entries.reduce(Int64(0)) { $0 + max(0, $1.records ?? 0) }
            rows.reserveCapacity(Int(min(listed, 1_000_000)))
            // Decompression and the JSON scan run on a second thread, a few blocks ahead of the inserts.
            let pipe = LinePipeline(paths: items.map { $0.path }, parse: true)
            pipe.start()
            defer { pipe.finish() }
            for (k, (url, _)) in items.enumerated() {
                // Checked again inside the write transaction: another loader may have won the race.
                let skip = try isLoaded(url)
                var records = 0, inserted = 0, duplicates = 0, expired = 0
                var newestTs: Int64?, newestArrival: Int64?
                var bytesRead: Int64 = 0
                while true {
                    guard let b = pipe.next() else { throw LakeReadError(path: url, message: "reader stopped early") }
                    defer { pipe.recycle(b) }
                    guard b.object == k else { throw LakeReadError(path: url, message: "lake reader out of order") }
                    if skip { if b.objectEnd { break } else { continue } }
                    let line = b.buffer
                    var lineNumber = 0
                    do {
                        for r in 0..<b.rows {
                            lineNumber = b.lineNumber[r]
                            b.load(row: r, into: &p)
                            records += 1
                            guard p.kinds[EventColumn.eventId.rawValue] == .string else {
                                throw LakeReadError(path: url, message: "event_id missing", line: lineNumber)
                            }
                            guard let ts = Self.tsValue(p, line) else {
                                throw LakeReadError(path: url, message: "bad ts", line: lineNumber)
                            }
                            // Rows already older than the raw retention are not kept (retention would delete them).
                            if ts < cutoff { expired += 1; continue }
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
                        }
                    } catch let e as LakeReadError {
                        throw e
                    } catch {
                        throw LakeReadError(path: url, message: "\(error)", line: lineNumber)
                    }
                    if let e = b.error {
                        if let e = e as? LakeReadError { throw e }
                        if let e = e as? LakeLineError { throw LakeReadError(path: url, message: e.message, line: e.line) }
                        throw LakeReadError(path: url, message: "\(e)")
                    }
                    if b.objectEnd { bytesRead = b.compressedBytesRead; break }
                }
                if skip { local.objectsAlreadyLoaded += 1; continue }
                try c.statement("INSERT INTO loaded_objects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)").run(
                    .text(url), .text(manifest.delivery), .text(manifest.name), .integer(Int64(records)),
                    .integer(Int64(inserted)), .integer(bytesRead),
                    newestTs.map { .integer($0) } ?? .null, newestArrival.map { .integer($0) } ?? .null, .integer(now()))
                local.objectsLoaded += 1
                if let t = newestTs { newestOfBatch = max(newestOfBatch ?? t, t) }
                local.rowsInserted += inserted
                local.duplicateRows += duplicates
                local.expiredRows += expired
            }
            if local.objectsLoaded > 0 {
                try c.statement("UPDATE load_totals SET rows_inserted = rows_inserted + ?1, newest_ts = max(coalesce(newest_ts, ?2), coalesce(?2, newest_ts))")
                    .run(.integer(Int64(local.rowsInserted)), newestOfBatch.map { .integer($0) } ?? .null)
            }
            let tDerived = DispatchTime.now().uptimeNanoseconds
            if !rows.isEmpty { try maintainDerived(rows: &rows, strings: &strings) }
            local.insertMs = Double(tDerived - tInsert) / 1e6
            local.derivedMs = Double(DispatchTime.now().uptimeNanoseconds - tDerived) / 1e6
        }
        // Counted only once the caller's transaction commits.
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
}
