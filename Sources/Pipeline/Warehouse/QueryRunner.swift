import CSQLite
import Foundation
import Synchronization

/// The result of one query: typed values, with a display limit.
public struct SQLQueryResult: Sendable, Codable, Equatable {
    public var columns: [String]
    public var rows: [[SQLValue]]
    /// True when more rows existed than the row limit allowed to keep.
    public var truncated: Bool
    public var elapsedMs: Double
    /// Compressed bytes read from lake objects (nil when the query did not touch `lake_events`).
    public var bytesScanned: Int64?
    /// Athena-style price of that scan in USD ($5/TB, rounded up to the MB, 10 MB minimum).
    public var priceUSD: Double?
    public var objectsScanned: Int?

    public init(columns: [String], rows: [[SQLValue]], truncated: Bool = false, elapsedMs: Double, bytesScanned: Int64? = nil,
                priceUSD: Double? = nil, objectsScanned: Int? = nil) {
        self.columns = columns; self.rows = rows; self.truncated = truncated; self.elapsedMs = elapsedMs
        self.bytesScanned = bytesScanned; self.priceUSD = priceUSD; self.objectsScanned = objectsScanned
    }

    /// Rows as display strings (NULL as "NULL").
    public var stringRows: [[String]] { rows.map { $0.map(\.description) } }
}

/// Why a query was refused or failed. `offset` is a byte offset into the SQL when SQLite gives one.
public struct QueryError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable { case syntax, refused, timeLimit, cancelled, runtime }
    public var kind: Kind
    public var message: String
    public var offset: Int?
    public var sql: String
    public var description: String {
        var s = message
        if let offset {
            let pre = sql.utf8.prefix(offset)
            let line = pre.filter { $0 == 0x0A }.count + 1
            let col = (pre.split(separator: 0x0A, omittingEmptySubsequences: false).last?.count ?? 0) + 1
            s += " (line \(line), column \(col): \(SQLiteError.context(sql, offset)))"
        }
        return s
    }
}

/// Runs read-only SQL on the warehouse: its own connection with `PRAGMA query_only`, an authorizer
/// that denies every write, ATTACH/DETACH, pragma changes and dangerous functions, and statements
/// that are not read-only are refused before they run. A progress handler enforces the time limit;
/// `cancel()` interrupts from any thread. `lake_events` is registered on the connection.
public final class QueryRunner: @unchecked Sendable {
    let conn: SQLiteConnection
    let lake: LakeScanContext
    public let timeLimit: TimeInterval
    private let runLock = NSLock()
    private let state = ProgressState()

    final class ProgressState: @unchecked Sendable {
        let cancelled = Atomic<Bool>(false)
        let timedOut = Atomic<Bool>(false)
        let deadlineNs = Atomic<UInt64>(UInt64.max)
    }

    public init(databasePath: String, lakeRoot: String, timeLimit: TimeInterval = 10) throws {
        conn = try SQLiteConnection(path: databasePath)
        self.timeLimit = timeLimit
        lake = LakeScanContext(lakeRoot: lakeRoot)
        try conn.exec("PRAGMA query_only = 1")
        sqlite3_limit(conn.db, SQLITE_LIMIT_ATTACHED, 0)
        sqlite3_enable_load_extension(conn.db, 0)
        try LakeTable.register(on: conn.db, ctx: lake)
        // Connect the eponymous table now: its xConnect declares a schema, which the authorizer
        // (installed next) would refuse as a CREATE TABLE.
        try conn.exec("SELECT 1 FROM lake_events WHERE 0")
        sqlite3_set_authorizer(conn.db, { _, action, a1, _, _, _ in
            QueryRunner.authorize(action, a1.map { String(cString: $0) })
        }, nil)
        let st = Unmanaged.passUnretained(state).toOpaque()
        sqlite3_progress_handler(conn.db, 1000, { p in
            let s = Unmanaged<ProgressState>.fromOpaque(p!).takeUnretainedValue()
            if s.cancelled.load(ordering: .relaxed) { return 1 }
            if DispatchTime.now().uptimeNanoseconds > s.deadlineNs.load(ordering: .relaxed) {
                s.timedOut.store(true, ordering: .relaxed)
                return 1
            }
            return 0
        }, st)
    }

    static let readPragmas: Set<String> = [
        "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "table_list", "function_list",
        "compile_options", "foreign_key_list", "collation_list", "module_list", "pragma_list",
    ]
    static let deniedFunctions: Set<String> = ["load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "zipfile"]

    /// The authorizer: reads and selects pass; everything that writes, attaches, changes a pragma or
    /// reaches outside the database is denied.
    static func authorize(_ action: Int32, _ a1: String?) -> Int32 {
        switch action {
        case SQLITE_SELECT, SQLITE_READ, SQLITE_RECURSIVE: return SQLITE_OK
        case SQLITE_FUNCTION:
            return deniedFunctions.contains((a1 ?? "").lowercased()) ? SQLITE_DENY : SQLITE_OK
        case SQLITE_PRAGMA:
            // a1 is the pragma name; a read-only pragma has no argument (a2 nil), but the callback
            // signature's a2 is not passed here, so only the catalogue pragmas (which never write) pass.
            return readPragmas.contains((a1 ?? "").lowercased()) ? SQLITE_OK : SQLITE_DENY
        default: return SQLITE_DENY
        }
    }

    /// Interrupts the running query (from any thread or Task). It ends with `QueryError.Kind.cancelled`.
    public func cancel() {
        state.cancelled.store(true, ordering: .relaxed)
        sqlite3_interrupt(conn.db)
    }

    /// Runs one statement. `explain` returns the EXPLAIN QUERY PLAN instead; `rowLimit` caps the rows
    /// kept (the rest are counted as `truncated`); `timeLimit` overrides the default.
    public func run(_ sql: String, explain: Bool = false, rowLimit: Int = 10_000, timeLimit: TimeInterval? = nil) throws -> SQLQueryResult {
        runLock.lock(); defer { runLock.unlock() }
        let prefix = explain ? "EXPLAIN QUERY PLAN " : ""
        let full = prefix + sql
        let start = DispatchTime.now().uptimeNanoseconds
        state.cancelled.store(false, ordering: .relaxed)
        state.timedOut.store(false, ordering: .relaxed)
        state.deadlineNs.store(start + UInt64((timeLimit ?? self.timeLimit) * 1e9), ordering: .relaxed)
        defer { state.deadlineNs.store(UInt64.max, ordering: .relaxed) }
        lake.reset()

        func fail(_ rc: Int32, _ kind: QueryError.Kind? = nil) -> QueryError {
            let off = sqlite3_error_offset(conn.db)
            var msg = String(cString: sqlite3_errmsg(conn.db))
            var k = kind ?? .runtime
            if state.timedOut.load(ordering: .relaxed) {
                k = .timeLimit; msg = "query exceeded the time limit of \(Self.seconds(timeLimit ?? self.timeLimit)) and was stopped"
            } else if state.cancelled.load(ordering: .relaxed) || rc == SQLITE_INTERRUPT {
                k = .cancelled; msg = "query cancelled"
            } else if rc & 0xFF == SQLITE_AUTH || msg.contains("not authorized") || msg.contains("attempt to write") || msg.contains("query_only") {
                k = .refused; msg = "refused: the query runner is read-only (\(msg))"
            }
            return QueryError(kind: k, message: msg, offset: off >= 0 ? max(0, Int(off) - prefix.utf8.count) : nil, sql: sql)
        }

        var stmt: OpaquePointer?
        var tail: UnsafePointer<CChar>?
        let rc: Int32 = full.withCString { p in
            let r = sqlite3_prepare_v2(conn.db, p, -1, &stmt, &tail)
            // Anything but whitespace and comments after the first statement is refused.
            if r == SQLITE_OK, let t = tail, t.pointee != 0 {
                var next: OpaquePointer?
                let r2 = sqlite3_prepare_v2(conn.db, t, -1, &next, nil)
                if next != nil || r2 != SQLITE_OK { sqlite3_finalize(next); return -2 }
            }
            return r
        }
        if rc == -2 {
            sqlite3_finalize(stmt)
            throw QueryError(kind: .refused, message: "refused: one statement per query", offset: nil, sql: sql)
        }
        guard rc == SQLITE_OK else { throw fail(rc, .syntax) }
        guard let stmt else { throw QueryError(kind: .syntax, message: "empty query", offset: nil, sql: sql) }
        defer { sqlite3_finalize(stmt) }
        if sqlite3_stmt_readonly(stmt) == 0 {
            throw QueryError(kind: .refused, message: "refused: the query runner is read-only (statement would write)", offset: nil, sql: sql)
        }
        let n = Int(sqlite3_column_count(stmt))
        let columns = (0..<n).map { String(cString: sqlite3_column_name(stmt, Int32($0))) }
        var rows: [[SQLValue]] = []
        var truncated = false
        let s = Statement(stmt, conn: conn)
        while true {
            let r = sqlite3_step(stmt)
            if r == SQLITE_DONE { break }
            guard r == SQLITE_ROW else { throw fail(r) }
            if rows.count >= rowLimit { truncated = true; break }
            rows.append((0..<n).map { s.value($0) })
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        let scan = lake.snapshot
        return SQLQueryResult(columns: columns, rows: rows, truncated: truncated, elapsedMs: elapsed,
                              bytesScanned: scan.used ? scan.bytes : nil,
                              priceUSD: scan.used ? LakeTable.price(bytes: scan.bytes) : nil,
                              objectsScanned: scan.used ? scan.objects : nil)
    }

    static func seconds(_ t: TimeInterval) -> String { t == t.rounded() ? "\(Int(t)) s" : String(format: "%.1f s", t) }
}

extension Warehouse {
    /// Convenience for one-off queries: a fresh runner per call.
    public func query(_ sql: String, explain: Bool = false, rowLimit: Int = 10_000) throws -> SQLQueryResult {
        try queryRunner().run(sql, explain: explain, rowLimit: rowLimit)
    }
}

/// Formats the Athena-style line printed after a lake query.
public func formatScan(bytes: Int64, price: Double) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"]
    var v = Double(bytes), u = 0
    while v >= 1024, u < units.count - 1 { v /= 1024; u += 1 }
    let size = u == 0 ? "\(bytes) B" : String(format: "%.2f %@", v, units[u])
    return "bytes scanned \(size) · $\(String(format: "%.8f", price))"
}
