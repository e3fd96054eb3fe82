import CSQLite
import Foundation

/// A thin wrapper over one SQLite connection: prepared statements, transactions as closures.
/// Raw CSQLite rather than GRDB: the bulk path binds spans of a decompressed buffer straight into
/// prepared statements (no per-value Swift objects), and the query runner needs the C hooks
/// (authorizer, progress handler, interrupt, virtual table) anyway. It also keeps build time down.

let SQLITE_TRANSIENT_PTR = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
let SQLITE_STATIC_PTR = unsafeBitCast(0, to: sqlite3_destructor_type.self)

/// An error from SQLite, carrying the result code, the message, the SQL and (when SQLite knows it)
/// the byte offset in the SQL where the problem was found.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public var code: Int32
    public var message: String
    public var sql: String?
    /// Byte offset in `sql` (UTF-8) of the error, when SQLite reports one.
    public var offset: Int?
    public init(code: Int32, message: String, sql: String? = nil, offset: Int? = nil) {
        self.code = code; self.message = message; self.sql = sql; self.offset = offset
    }
    public var description: String {
        var s = "SQLite error \(code): \(message)"
        if let offset, let sql { s += " (at offset \(offset): \(Self.context(sql, offset)))" }
        return s
    }
    /// A short excerpt of the SQL around the offset, marked with ⟶.
    static func context(_ sql: String, _ offset: Int) -> String {
        let b = Array(sql.utf8)
        let o = max(0, min(offset, b.count))
        let lo = max(0, o - 20), hi = min(b.count, o + 20)
        return String(decoding: b[lo..<o], as: UTF8.self) + "⟶" + String(decoding: b[o..<hi], as: UTF8.self)
    }
}

final class SQLiteConnection: @unchecked Sendable {
    let db: OpaquePointer
    let path: String
    private var cache: [String: OpaquePointer] = [:]

    init(path: String, readOnly: Bool = false) throws {
        var h: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &h, flags, nil)
        guard rc == SQLITE_OK, let h else {
            let msg = h.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let h { sqlite3_close_v2(h) }
            throw SQLiteError(code: rc, message: "\(msg): \(path)")
        }
        db = h
        self.path = path
        sqlite3_busy_timeout(db, 10_000)
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        for (_, s) in cache { sqlite3_finalize(s) }
        sqlite3_close_v2(db)
    }

    func error(_ rc: Int32, sql: String? = nil) -> SQLiteError {
        let off = sqlite3_error_offset(db)
        return SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(db)), sql: sql, offset: off >= 0 ? Int(off) : nil)
    }

    func exec(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(db))
            sqlite3_free(err)
            throw SQLiteError(code: rc, message: msg, sql: sql)
        }
    }

    /// A cached prepared statement, reset and with bindings cleared.
    func statement(_ sql: String) throws -> Statement {
        if let s = cache[sql] {
            sqlite3_reset(s); sqlite3_clear_bindings(s)
            return Statement(s, conn: self)
        }
        var s: OpaquePointer?
        let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &s, nil)
        guard rc == SQLITE_OK, let s else { throw error(rc, sql: sql) }
        cache[sql] = s
        return Statement(s, conn: self)
    }

    /// True inside BEGIN…COMMIT. SQLite ends a transaction by itself on some errors (SQLITE_FULL,
    /// IOERR, NOMEM); callers check this before ROLLBACK.
    var inTransaction: Bool { sqlite3_get_autocommit(db) == 0 }

    /// Runs `body` in a write transaction (BEGIN IMMEDIATE): a throw rolls back and rethrows.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try exec("BEGIN IMMEDIATE")
        do {
            let r = try body()
            try exec("COMMIT")
            return r
        } catch {
            try? exec("ROLLBACK")
            throw error
        }
    }

    func scalarInt(_ sql: String, _ args: [SQLValue] = []) throws -> Int64? {
        let s = try statement(sql)
        defer { sqlite3_reset(s.s) }
        for (i, a) in args.enumerated() { s.bind(i + 1, a) }
        guard try s.step() else { return nil }
        return s.isNull(0) ? nil : s.int(0)
    }

    /// Resets every cached statement: a statement left mid-step keeps a read transaction open,
    /// which pins an old snapshot (stale reads) and stops WAL checkpoints.
    func resetAll() {
        for (_, s) in cache { sqlite3_reset(s) }
    }

    var changes: Int { Int(sqlite3_changes(db)) }
}

struct Statement {
    let s: OpaquePointer
    let conn: SQLiteConnection
    init(_ s: OpaquePointer, conn: SQLiteConnection) { self.s = s; self.conn = conn }

    @inline(__always) func bind(_ i: Int, _ v: Int64) { sqlite3_bind_int64(s, Int32(i), v) }
    @inline(__always) func bind(_ i: Int, _ v: Double) { sqlite3_bind_double(s, Int32(i), v) }
    @inline(__always) func bind(_ i: Int, _ v: String) { sqlite3_bind_text(s, Int32(i), v, -1, SQLITE_TRANSIENT_PTR) }
    @inline(__always) func bindNull(_ i: Int) { sqlite3_bind_null(s, Int32(i)) }
    func bind(_ i: Int, _ v: String?) { if let v { bind(i, v) } else { bindNull(i) } }
    func bind(_ i: Int, _ v: SQLValue) {
        switch v {
        case .null: bindNull(i)
        case .integer(let x): bind(i, x)
        case .real(let x): bind(i, x)
        case .text(let x): bind(i, x)
        case .blob(let b): _ = b.withUnsafeBytes { sqlite3_bind_blob(s, Int32(i), $0.baseAddress, Int32($0.count), SQLITE_TRANSIENT_PTR) }
        }
    }

    /// Steps once: true when a row is available, false when done.
    @discardableResult
    func step() throws -> Bool {
        let rc = sqlite3_step(s)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw conn.error(rc, sql: String(cString: sqlite3_sql(s)))
    }
    func run(_ args: SQLValue...) throws {
        sqlite3_reset(s)
        for (i, a) in args.enumerated() { bind(i + 1, a) }
        try step()
    }
    @inline(__always) func int(_ c: Int) -> Int64 { sqlite3_column_int64(s, Int32(c)) }
    @inline(__always) func double(_ c: Int) -> Double { sqlite3_column_double(s, Int32(c)) }
    @inline(__always) func isNull(_ c: Int) -> Bool { sqlite3_column_type(s, Int32(c)) == SQLITE_NULL }
    func text(_ c: Int) -> String? {
        guard let p = sqlite3_column_text(s, Int32(c)) else { return nil }
        return String(cString: p)
    }
    func value(_ c: Int) -> SQLValue {
        switch sqlite3_column_type(s, Int32(c)) {
        case SQLITE_INTEGER: return .integer(int(c))
        case SQLITE_FLOAT: return .real(double(c))
        case SQLITE_TEXT: return .text(text(c) ?? "")
        case SQLITE_BLOB:
            let n = Int(sqlite3_column_bytes(s, Int32(c)))
            guard n > 0, let p = sqlite3_column_blob(s, Int32(c)) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: p, count: n)))
        default: return .null
        }
    }
}

/// One SQL value as SQLite stores it.
public enum SQLValue: Sendable, Equatable, Codable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    /// The value as text for display: NULL as "NULL", reals in shortest round-trip form.
    public var description: String {
        switch self {
        case .null: return "NULL"
        case .integer(let x): return String(x)
        case .real(let x): return x == x.rounded() && abs(x) < 1e15 ? String(format: "%.1f", x) : String(x)
        case .text(let s): return s
        case .blob(let b): return "x'" + b.map { String(format: "%02x", $0) }.joined() + "'"
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .integer(let x): try c.encode(x)
        case .real(let x): try c.encode(x)
        case .text(let s): try c.encode(s)
        case .blob: try c.encode(description)
        }
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null } else if let i = try? c.decode(Int64.self) { self = .integer(i) }
        else if let d = try? c.decode(Double.self) { self = .real(d) } else { self = .text(try c.decode(String.self)) }
    }
}
