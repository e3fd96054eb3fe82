import Foundation

/// A session's human activity, stored with it in `sessions.marks`: the minutes that have a human
/// event and the (hour, path) pairs that have a human page view. The loader reads them with the
/// visitor's stored sessions (which it reads anyway), so distinct visitors per minute and per
/// page-hour stay exact without an index on `events` keyed by visitor: such an index takes each new
/// row at a random page, and reading a visitor's old events fetched random pages of `events`, a cost
/// that grew with the database.
///
/// Encoding (little-endian): a version byte (1); a UInt32 count of minutes, each an Int64 minute_ms;
/// a UInt32 count of pages, each an Int64 hour_ms, a UInt32 path length and the path's bytes.
/// Minutes and pages are distinct and sorted (pages by hour, then path bytes), so equal marks
/// encode equally. Buckets truncate like SQLite's `ts / 60000 * 60000`.
struct SessionMarks {
    struct Page: Hashable { var hour: Int64, path: Int32 }
    static let version: UInt8 = 1

    var minutes = Set<Int64>()
    var pages = Set<Page>()

    mutating func removeAll() {
        minutes.removeAll(keepingCapacity: true)
        pages.removeAll(keepingCapacity: true)
    }

    /// Adds a row's marks: none for a bot's row; a page mark for a page view (a NULL path as `empty`).
    mutating func add(_ r: BatchRow, empty: Int32) {
        guard !r.bot else { return }
        minutes.insert(r.ts / 60_000 * 60_000)
        if r.kind == 1 { pages.insert(Page(hour: r.ts / 3_600_000 * 3_600_000, path: r.path < 0 ? empty : r.path)) }
    }

    /// Adds the marks encoded in `b`, interning paths. Returns false (adding what it read so far)
    /// when `b` is not an encoding of this version.
    @discardableResult
    mutating func decode(_ b: UnsafeRawBufferPointer, strings: inout ByteInterner) -> Bool {
        var at = 0
        func u32() -> Int? {
            guard at + 4 <= b.count else { return nil }
            defer { at += 4 }
            return Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
        }
        func i64() -> Int64? {
            guard at + 8 <= b.count else { return nil }
            defer { at += 8 }
            return Int64(littleEndian: b.loadUnaligned(fromByteOffset: at, as: Int64.self))
        }
        guard b.count >= 1, b[0] == Self.version else { return false }
        at = 1
        guard let nm = u32() else { return false }
        for _ in 0..<nm { guard let m = i64() else { return false }; minutes.insert(m) }
        guard let np = u32() else { return false }
        for _ in 0..<np {
            guard let h = i64(), let n = u32(), at + n <= b.count, let base = b.baseAddress else { return false }
            let p = base.advanced(by: at).assumingMemoryBound(to: UInt8.self)
            pages.insert(Page(hour: h, path: n == 0 ? strings.intern("") : strings.intern(p, n)))
            at += n
        }
        return at == b.count
    }

    /// Encodes the marks into `out` (replacing its contents).
    func encode(into out: inout [UInt8], strings: ByteInterner) {
        out.removeAll(keepingCapacity: true)
        out.append(Self.version)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        put(UInt32(minutes.count))
        for m in minutes.sorted() { put(m) }
        put(UInt32(pages.count))
        let sorted = pages.sorted { a, b in
            if a.hour != b.hour { return a.hour < b.hour }
            return strings.withBytes(a.path) { x in strings.withBytes(b.path) { y in x.lexicographicallyPrecedes(y) } }
        }
        for p in sorted {
            put(p.hour)
            strings.withBytes(p.path) { b in
                put(UInt32(b.count))
                out.append(contentsOf: b)
            }
        }
    }
}
