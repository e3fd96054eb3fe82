import CSQLite
import Foundation

/// `lake_events`: an eponymous SQLite virtual table over the lake objects (the Athena / Spectrum
/// analogue). Columns are those of `events` (same names and order) plus `dt`, `hr` (partition
/// values from the path) and `object` (the object's path under the lake root).
///
/// xBestIndex takes =, <, <=, >, >= constraints on site_id, dt and hr; xFilter uses them to skip
/// whole partition directories before any file is opened, so bytes scanned shows the pruning.
/// Constraints are never marked omitted: SQLite re-checks every row, so a pruning bug can only
/// cost bytes, never wrong answers.
///
/// Written in Swift against the C callbacks: the vtab and cursor are C structs allocated with room
/// for one pointer after them, which holds the retained Swift object.
final class LakeScanContext: @unchecked Sendable {
    let lakeRoot: String
    private let lock = NSLock()
    private var _bytes: Int64 = 0
    private var _objects = 0
    private var _used = false
    init(lakeRoot: String) { self.lakeRoot = lakeRoot }
    func add(bytes: Int64, objects: Int) {
        lock.lock(); _bytes += bytes; _objects += objects; lock.unlock()
    }
    func markUsed() { lock.lock(); _used = true; lock.unlock() }
    func reset() { lock.lock(); _bytes = 0; _objects = 0; _used = false; lock.unlock() }
    var snapshot: (bytes: Int64, objects: Int, used: Bool) { lock.lock(); defer { lock.unlock() }; return (_bytes, _objects, _used) }
}

enum LakeTable {
    static let extraColumns = ["visitor", "dt", "hr", "object"]
    static let visitorCol = EventColumn.count, dtCol = EventColumn.count + 1, hrCol = EventColumn.count + 2, objectCol = EventColumn.count + 3
    static var schema: String {
        "CREATE TABLE x(" + (EventColumn.allCases.map { "\($0.name) \($0.sqlType)" } + ["visitor TEXT", "dt TEXT", "hr TEXT", "object TEXT"]).joined(separator: ", ") + ")"
    }

    /// One object in the lake with its partition values.
    struct Object { var path: String; var rel: String; var site: String; var dt: String; var hr: String }

    struct Constraint { var column: Int; var op: Int32; var value: String }

    static func matches(_ v: String, _ cs: [Constraint], column: Int) -> Bool {
        for c in cs where c.column == column {
            switch c.op {
            case Int32(SQLITE_INDEX_CONSTRAINT_EQ): if v != c.value { return false }
            case Int32(SQLITE_INDEX_CONSTRAINT_GT): if !(v > c.value) { return false }
            case Int32(SQLITE_INDEX_CONSTRAINT_GE): if !(v >= c.value) { return false }
            case Int32(SQLITE_INDEX_CONSTRAINT_LT): if !(v < c.value) { return false }
            case Int32(SQLITE_INDEX_CONSTRAINT_LE): if !(v <= c.value) { return false }
            default: break
            }
        }
        return true
    }

    /// Lists the objects whose partitions satisfy the constraints, in path order.
    static func objects(lakeRoot: String, constraints cs: [Constraint]) -> [Object] {
        let fm = FileManager.default
        func dirs(_ p: String) -> [String] { ((try? fm.contentsOfDirectory(atPath: p)) ?? []).sorted() }
        var out: [Object] = []
        for prefix in dirs(lakeRoot) where !prefix.hasPrefix("_") && prefix != "errors" && !prefix.hasPrefix(".") {
            let pdir = lakeRoot + "/" + prefix
            for sd in dirs(pdir) where sd.hasPrefix("site=") {
                let site = String(sd.dropFirst(5))
                guard matches(site, cs, column: EventColumn.siteId.rawValue) else { continue }
                for dd in dirs(pdir + "/" + sd) where dd.hasPrefix("dt=") {
                    let dt = String(dd.dropFirst(3))
                    guard matches(dt, cs, column: dtCol) else { continue }
                    for hd in dirs(pdir + "/" + sd + "/" + dd) where hd.hasPrefix("hr=") {
                        let hr = String(hd.dropFirst(3))
                        guard matches(hr, cs, column: hrCol) else { continue }
                        let hdir = pdir + "/" + sd + "/" + dd + "/" + hd
                        for f in dirs(hdir) where f.hasSuffix(".ndjson") || f.hasSuffix(".ndjson.zst") || f.hasSuffix(".ndjson.gz") {
                            out.append(Object(path: hdir + "/" + f, rel: "\(prefix)/\(sd)/\(dd)/\(hd)/\(f)", site: site, dt: dt, hr: hr))
                        }
                    }
                }
            }
        }
        return out
    }

    final class Cursor {
        let ctx: LakeScanContext
        var objects: [Object] = []
        var index = -1
        /// Objects are decompressed and split into lines on a second thread, a few blocks ahead.
        var pipe: LinePipeline?
        /// The block holding the current line, the line's range in it, its row and line number.
        var reader: LineBlock?
        var line: Range<Int>?
        var row = 0
        var lineNumber = 0
        var parsed = ParsedLine()
        var rowid: Int64 = 0
        var lastCounted: Int64 = 0
        var eof = false
        var error: String?
        init(ctx: LakeScanContext) { self.ctx = ctx }
        deinit { stop() }

        /// Starts reading `objects` from the first one.
        func start(_ objects: [Object]) throws {
            stop()
            self.objects = objects
            index = -1; eof = false; rowid = 0; lastCounted = 0
            let p = LinePipeline(paths: objects.map { $0.path }, parse: false, depth: 3)
            p.start()
            pipe = p
            try advance()
        }

        /// Stops the reader thread (bytes scanned were counted as blocks were taken).
        func stop() {
            reader = nil; line = nil
            pipe?.finish()
            pipe = nil
        }

        /// Advances to the next parsable line, taking blocks as needed.
        func advance() throws {
            while true {
                if let b = reader {
                    row += 1
                    if row < b.rows {
                        let l = b.lineStart[row]..<b.lineEnd[row]
                        lineNumber = b.lineNumber[row]
                        do {
                            // Only the brace: columns are parsed when SQLite asks for them (see ensure).
                            try b.withLine(l) { try LakeLineParser.begin($0, into: &parsed) }
                        } catch let e as LakeLineParser.Bad {
                            throw LakeReadError(path: objects[index].rel, message: e.message, line: lineNumber)
                        }
                        line = l
                        rowid += 1
                        return
                    }
                    let failure = b.error
                    reader = nil; line = nil
                    pipe?.recycle(b)
                    if let failure {
                        if let e = failure as? LakeReadError { throw e }
                        throw LakeReadError(path: objects[index].rel, message: "\(failure)")
                    }
                }
                guard let p = pipe, let nb = p.next() else { eof = true; stop(); return }
                if nb.object != index {
                    index = nb.object; lastCounted = 0
                    ctx.add(bytes: 0, objects: 1)
                }
                ctx.add(bytes: nb.compressedBytesRead - lastCounted, objects: 0)
                lastCounted = nb.compressedBytesRead
                reader = nb; row = -1
            }
        }

        /// Parses the current line up to column `col` (once seen, or to the end of the line).
        @inline(__always) func ensure(_ r: LineBlock, _ l: Range<Int>, _ col: Int) throws {
            if parsed.finished || parsed.has(col) { return }
            do {
                try r.withLine(l) { try LakeLineParser.parseMore($0, into: &parsed, until: col) }
            } catch let e as LakeLineParser.Bad {
                throw LakeReadError(path: objects[index].rel, message: e.message, line: lineNumber)
            }
        }

        func column(_ sctx: OpaquePointer?, _ i: Int) {
            guard let r = reader, let l = line else { sqlite3_result_null(sctx); return }
            do {
                if i < EventColumn.count {
                    try ensure(r, l, i)
                } else if i == LakeTable.visitorCol {
                    for v in visitorPrecedence {
                        try ensure(r, l, v.rawValue)
                        if parsed.kinds[v.rawValue] == .string && parsed.ends[v.rawValue] > parsed.starts[v.rawValue] { break }
                    }
                }
            } catch {
                sqlite3_result_error(sctx, "\(error)", -1)
                return
            }
            if i >= EventColumn.count {
                let o = objects[index]
                let s: String
                switch i {
                case LakeTable.dtCol: s = o.dt
                case LakeTable.hrCol: s = o.hr
                case LakeTable.objectCol: s = o.rel
                default:
                    let col = visitorPrecedence.first { parsed.kinds[$0.rawValue] == .string && parsed.ends[$0.rawValue] > parsed.starts[$0.rawValue] } ?? .eventId
                    resultSpan(sctx, r, l, col.rawValue)
                    return
                }
                sqlite3_result_text(sctx, s, -1, SQLITE_TRANSIENT_PTR)
                return
            }
            let col = EventColumn(rawValue: i)!
            switch parsed.kinds[i] {
            case .absent, .null: sqlite3_result_null(sctx)
            case .bool: sqlite3_result_int64(sctx, parsed.boolValue[i] ? 1 : 0)
            case .number:
                r.withLine(l) { b in
                    switch col.kind {
                    case .integer, .bool: sqlite3_result_int64(sctx, LakeLineParser.int(b, parsed.starts[i], parsed.ends[i]) ?? 0)
                    case .real: sqlite3_result_double(sctx, LakeLineParser.double(b, parsed.starts[i], parsed.ends[i]) ?? 0)
                    default: resultSpan(sctx, r, l, i)
                    }
                }
            case .string:
                if col == .ts {
                    let v = r.withLine(l) { Warehouse.tsValue(parsed, $0) }
                    if let v { sqlite3_result_int64(sctx, v) } else { sqlite3_result_null(sctx) }
                } else if col.kind == .integer || col.kind == .real {
                    // A number sent as a string: give it the column's affinity like the events table does.
                    r.withLine(l) { b in
                        if let d = LakeLineParser.double(b, parsed.starts[i], parsed.ends[i]), parsed.ends[i] > parsed.starts[i] {
                            if col.kind == .integer, d == d.rounded() { sqlite3_result_int64(sctx, Int64(d)) } else { sqlite3_result_double(sctx, d) }
                        } else { resultSpan(sctx, r, l, i) }
                    }
                } else { resultSpan(sctx, r, l, i) }
            case .raw: resultSpan(sctx, r, l, i)
            }
        }

        func resultSpan(_ sctx: OpaquePointer?, _ r: LineBlock, _ l: Range<Int>, _ i: Int) {
            let st = parsed.starts[i], n = parsed.ends[i] - st
            if parsed.decoded[i] {
                parsed.scratch.withUnsafeBufferPointer { b in
                    sqlite3_result_text(sctx, UnsafeRawPointer(b.baseAddress! + st).assumingMemoryBound(to: CChar.self), Int32(n), SQLITE_TRANSIENT_PTR)
                }
            } else {
                r.withLine(l) { b in
                    sqlite3_result_text(sctx, UnsafeRawPointer(b.baseAddress! + st).assumingMemoryBound(to: CChar.self), Int32(n), SQLITE_TRANSIENT_PTR)
                }
            }
        }
    }

    // MARK: C glue

    static let vtabSize = MemoryLayout<sqlite3_vtab>.stride
    static let cursorSize = MemoryLayout<sqlite3_vtab_cursor>.stride

    static func context(_ vtab: UnsafeMutablePointer<sqlite3_vtab>) -> LakeScanContext {
        let slot = (UnsafeMutableRawPointer(vtab) + vtabSize).load(as: UnsafeMutableRawPointer.self)
        return Unmanaged<LakeScanContext>.fromOpaque(slot).takeUnretainedValue()
    }
    static func cursor(_ c: UnsafeMutablePointer<sqlite3_vtab_cursor>?) -> Cursor {
        let slot = (UnsafeMutableRawPointer(c!) + cursorSize).load(as: UnsafeMutableRawPointer.self)
        return Unmanaged<Cursor>.fromOpaque(slot).takeUnretainedValue()
    }

    static func setError(_ vtab: UnsafeMutablePointer<sqlite3_vtab>?, _ msg: String) {
        guard let vtab else { return }
        if let old = vtab.pointee.zErrMsg { sqlite3_free(old) }
        let bytes = Array(msg.utf8CString)
        let p = sqlite3_malloc(Int32(bytes.count))!.assumingMemoryBound(to: CChar.self)
        bytes.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: bytes.count) }
        vtab.pointee.zErrMsg = p
    }

    nonisolated(unsafe) static let module: UnsafeMutablePointer<sqlite3_module> = {
        let m = UnsafeMutablePointer<sqlite3_module>.allocate(capacity: 1)
        m.initialize(to: sqlite3_module())
        m.pointee.iVersion = 0
        m.pointee.xCreate = nil // eponymous-only: usable without CREATE VIRTUAL TABLE
        m.pointee.xConnect = { db, aux, _, _, ppVtab, _ in
            let rc = sqlite3_declare_vtab(db, LakeTable.schema)
            if rc != SQLITE_OK { return rc }
            let raw = sqlite3_malloc(Int32(vtabSize + 8))!
            memset(raw, 0, vtabSize + 8)
            let ctx = Unmanaged<LakeScanContext>.fromOpaque(aux!).retain()
            (raw + vtabSize).storeBytes(of: ctx.toOpaque(), as: UnsafeMutableRawPointer.self)
            ppVtab!.pointee = raw.assumingMemoryBound(to: sqlite3_vtab.self)
            return SQLITE_OK
        }
        m.pointee.xDisconnect = { vtab in
            let slot = (UnsafeMutableRawPointer(vtab!) + vtabSize).load(as: UnsafeMutableRawPointer.self)
            Unmanaged<LakeScanContext>.fromOpaque(slot).release()
            sqlite3_free(vtab)
            return SQLITE_OK
        }
        m.pointee.xDestroy = m.pointee.xDisconnect
        m.pointee.xBestIndex = { _, info in
            guard let info else { return SQLITE_ERROR }
            let n = Int(info.pointee.nConstraint)
            var spec: [UInt8] = []
            var argv: Int32 = 0
            var cost = 1e9
            for k in 0..<n {
                let c = info.pointee.aConstraint[k]
                guard c.usable != 0 else { continue }
                let col = Int(c.iColumn)
                guard col == EventColumn.siteId.rawValue || col == dtCol || col == hrCol else { continue }
                let op = Int32(c.op)
                guard [SQLITE_INDEX_CONSTRAINT_EQ, SQLITE_INDEX_CONSTRAINT_GT, SQLITE_INDEX_CONSTRAINT_GE,
                       SQLITE_INDEX_CONSTRAINT_LT, SQLITE_INDEX_CONSTRAINT_LE].map({ Int32($0) }).contains(op) else { continue }
                argv += 1
                info.pointee.aConstraintUsage[k].argvIndex = argv
                info.pointee.aConstraintUsage[k].omit = 0
                spec += Array("\(col):\(op),".utf8)
                cost /= op == Int32(SQLITE_INDEX_CONSTRAINT_EQ) ? 20 : 3
            }
            info.pointee.estimatedCost = cost
            info.pointee.estimatedRows = Int64(cost)
            if !spec.isEmpty {
                let p = sqlite3_malloc(Int32(spec.count + 1))!.assumingMemoryBound(to: CChar.self)
                spec.withUnsafeBytes { memcpy(p, $0.baseAddress!, spec.count) }
                p[spec.count] = 0
                info.pointee.idxStr = p
                info.pointee.needToFreeIdxStr = 1
            }
            return SQLITE_OK
        }
        m.pointee.xOpen = { vtab, ppCursor in
            let ctx = LakeTable.context(vtab!)
            ctx.markUsed()
            let raw = sqlite3_malloc(Int32(cursorSize + 8))!
            memset(raw, 0, cursorSize + 8)
            let cur = Unmanaged.passRetained(Cursor(ctx: ctx))
            (raw + cursorSize).storeBytes(of: cur.toOpaque(), as: UnsafeMutableRawPointer.self)
            ppCursor!.pointee = raw.assumingMemoryBound(to: sqlite3_vtab_cursor.self)
            return SQLITE_OK
        }
        m.pointee.xClose = { c in
            let cur = LakeTable.cursor(c)
            cur.stop()
            let slot = (UnsafeMutableRawPointer(c!) + cursorSize).load(as: UnsafeMutableRawPointer.self)
            Unmanaged<Cursor>.fromOpaque(slot).release()
            sqlite3_free(c)
            return SQLITE_OK
        }
        m.pointee.xFilter = { c, _, idxStr, argc, argv in
            let cur = LakeTable.cursor(c)
            cur.stop()
            var cs: [Constraint] = []
            if let idxStr {
                let parts = String(cString: idxStr).split(separator: ",")
                for (k, p) in parts.enumerated() where k < Int(argc) {
                    let f = p.split(separator: ":")
                    guard f.count == 2, let col = Int(f[0]), let op = Int32(f[1]) else { continue }
                    guard let v = argv?[k], let t = sqlite3_value_text(v) else {
                        // Comparing with NULL matches nothing.
                        cur.objects = []; cur.index = 0; cur.eof = true
                        return SQLITE_OK
                    }
                    var s = String(cString: t)
                    if col == LakeTable.hrCol, s.count == 1 { s = "0" + s } // hr = 9 means hr=09
                    cs.append(Constraint(column: col, op: op, value: s))
                }
            }
            do { try cur.start(LakeTable.objects(lakeRoot: cur.ctx.lakeRoot, constraints: cs)) } catch {
                LakeTable.setError(c?.pointee.pVtab, "\(error)")
                return SQLITE_ERROR
            }
            return SQLITE_OK
        }
        m.pointee.xNext = { c in
            let cur = LakeTable.cursor(c)
            do { try cur.advance() } catch {
                LakeTable.setError(c?.pointee.pVtab, "\(error)")
                return SQLITE_ERROR
            }
            return SQLITE_OK
        }
        m.pointee.xEof = { c in LakeTable.cursor(c).eof ? 1 : 0 }
        m.pointee.xColumn = { c, sctx, i in
            LakeTable.cursor(c).column(sctx, Int(i))
            return SQLITE_OK
        }
        m.pointee.xRowid = { c, out in
            out!.pointee = LakeTable.cursor(c).rowid
            return SQLITE_OK
        }
        return m
    }()

    /// Registers `lake_events` on a connection; bytes scanned accumulate in `ctx`.
    static func register(on db: OpaquePointer, ctx: LakeScanContext) throws {
        let aux = Unmanaged.passRetained(ctx).toOpaque()
        let rc = sqlite3_create_module_v2(db, "lake_events", module, aux) { p in
            if let p { Unmanaged<LakeScanContext>.fromOpaque(p).release() }
        }
        if rc != SQLITE_OK { throw SQLiteError(code: rc, message: "cannot register lake_events") }
    }

    /// Athena's price for a scan: $5 per TB (2^40 bytes), rounded up to the MB (2^20), 10 MB minimum.
    public static func price(bytes: Int64) -> Double {
        let mb = max(10, (bytes + (1 << 20) - 1) >> 20)
        return Double(mb) * 5.0 / Double(1 << 20)
    }
}
