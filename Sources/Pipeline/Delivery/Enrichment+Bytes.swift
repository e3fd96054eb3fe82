import Foundation
import CEddy
#if canImport(Glibc)
import Glibc
#endif

/// Byte helpers the enrichment stage uses instead of Foundation strings on the hot path.
enum Bytes {
    @inline(__always) static func lower(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5A ? c | 0x20 : c }
    @inline(__always) static func upper(_ c: UInt8) -> UInt8 { c >= 0x61 && c <= 0x7A ? c - 32 : c }

    /// Index of `needle` in `hay` (exact bytes), or nil.
    static func find(_ hay: UnsafeRawBufferPointer, _ needle: [UInt8], from: Int = 0) -> Int? {
        guard needle.count > 0, hay.count - from >= needle.count, let base = hay.baseAddress else { return nil }
        let n = needle.count
        let first = needle[0]
        let p = base.assumingMemoryBound(to: UInt8.self)
        return needle.withUnsafeBytes { nb -> Int? in
            var i = from
            let last = hay.count - n
            while i <= last {
                if p[i] == first && memcmp(p + i, nb.baseAddress!, n) == 0 { return i }
                i += 1
            }
            return nil
        }
    }

    static func equalsLower(_ a: UnsafeRawBufferPointer, _ lowerLiteral: String) -> Bool {
        let b = lowerLiteral.utf8
        guard a.count == b.count else { return false }
        var i = 0
        for c in b { if lower(a[i]) != c { return false }; i += 1 }
        return true
    }

    static func isValidUTF8(_ b: [UInt8]) -> Bool { b.withUnsafeBytes { isValidUTF8($0) } }

    static func isValidUTF8(_ b: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let n = b.count
        while i < n {
            let c = b[i]
            if c < 0x80 { i += 1; continue }
            let len: Int
            if c & 0xE0 == 0xC0 && c >= 0xC2 { len = 2 } else if c & 0xF0 == 0xE0 { len = 3 } else if c & 0xF8 == 0xF0 && c <= 0xF4 { len = 4 } else { return false }
            if i + len > n { return false }
            for k in 1..<len where b[i + k] & 0xC0 != 0x80 { return false }
            i += len
        }
        return true
    }

    /// `%XX` and `+` decoded (query-string values). Returns the raw bytes if the result is not UTF-8.
    static func percentDecode(_ s: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        percentDecode(s, into: &out)
        return out
    }

    /// The same, appended to `out` (no allocation when `out` has room).
    static func percentDecode(_ s: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        let start = out.count
        var i = 0
        @inline(__always) func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: return nil
            }
        }
        var changed = false
        while i < s.count {
            let c = s[i]
            if c == 0x2B { out.append(0x20); changed = true; i += 1; continue }
            if c == 0x25, i + 2 < s.count, let h = hex(s[i + 1]), let l = hex(s[i + 2]) {
                out.append(h << 4 | l); changed = true; i += 3; continue
            }
            out.append(c); i += 1
        }
        if changed && !out.withUnsafeBytes({ isValidUTF8(UnsafeRawBufferPointer(rebasing: $0[start...])) }) {
            out.removeSubrange(start...)
            out.append(contentsOf: s)
        }
    }
}

/// Where JSON bytes are appended: a `[UInt8]`, or a delivery chunk's `LineBuffer`.
protocol ByteSink {
    mutating func put(_ b: UInt8)
    mutating func put(_ p: UnsafeRawBufferPointer)
    /// Room for `n` more bytes (geometric growth is the sink's business).
    mutating func reserveMore(_ n: Int)
}

extension Array: ByteSink where Element == UInt8 {
    @inline(__always) mutating func put(_ b: UInt8) { append(b) }
    @inline(__always) mutating func put(_ p: UnsafeRawBufferPointer) { append(contentsOf: p) }
    /// Array.reserveCapacity allocates exactly what is asked, so asking per line re-copied a
    /// growing buffer every few records: grow geometrically instead.
    mutating func reserveMore(_ n: Int) {
        let need = count + n
        if capacity < need { reserveCapacity(Swift.max(need, capacity * 2)) }
    }
}

/// Growable bytes in one block, for delivery chunks: appends write through a pointer. Small
/// buffers are malloc'd; from 64 KiB on they live in `LineMemory` blocks, which are reused across
/// flushes instead of being faulted in anew (growth copies into the next block size).
final class LineBuffer: ByteSink {
    private(set) var base: UnsafeMutablePointer<UInt8>?
    private(set) var count = 0
    private(set) var capacity = 0
    /// Whether `base` is a `LineMemory` block (of `capacity` bytes) rather than malloc's.
    private var pooled = false
    private let memory: LineMemory

    init(memory: LineMemory = .shared) { self.memory = memory }
    deinit { releaseStorage() }

    private func releaseStorage() {
        guard let b = base else { return }
        if pooled { memory.give(UnsafeMutableRawPointer(b), size: capacity) } else { free(b) }
        base = nil; capacity = 0; pooled = false
    }

    @inline(__always) func reserveMore(_ n: Int) { if count + n > capacity { grow(count + n) } }

    @inline(never) private func grow(_ need: Int) {
        let size = Swift.max(need, capacity * 2, 1024)
        // Out of memory is not recoverable here (a Swift array traps the same way).
        if size < LineMemory.minBlock {
            guard let p = realloc(base, size) else { preconditionFailure("out of memory growing a delivery buffer to \(size) bytes") }
            base = p.assumingMemoryBound(to: UInt8.self)
            capacity = size
            return
        }
        let block = LineMemory.blockSize(for: size)
        guard let p = memory.take(block) else { preconditionFailure("out of memory growing a delivery buffer to \(block) bytes") }
        if count > 0, let b = base { p.copyMemory(from: b, byteCount: count) }
        releaseStorage()
        base = p.assumingMemoryBound(to: UInt8.self)
        capacity = block
        pooled = true
    }

    @inline(__always) func put(_ b: UInt8) {
        if count == capacity { grow(count + 1) }
        base.unsafelyUnwrapped[count] = b
        count += 1
    }

    @inline(__always) func put(_ p: UnsafeRawBufferPointer) {
        let n = p.count
        guard n > 0, let src = p.baseAddress else { return }
        if count + n > capacity { grow(count + n) }
        UnsafeMutableRawPointer(base.unsafelyUnwrapped + count).copyMemory(from: src, byteCount: n)
        count += n
    }

    /// Empties the buffer and keeps its memory.
    func removeAll() { count = 0 }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}

/// Appending JSON to a byte sink.
extension ByteSink {
    @inline(__always) mutating func put(_ a: [UInt8]) { a.withUnsafeBytes { put($0) } }

    @inline(__always) mutating func appendLiteral(_ s: StaticString) {
        s.withUTF8Buffer { put(UnsafeRawBufferPointer($0)) }
    }

    /// A JSON string (with quotes) of raw bytes, escaping what JSON requires.
    mutating func appendJSONString(_ b: UnsafeRawBufferPointer) {
        put(0x22)
        var needs = false
        if let p = b.baseAddress { needs = eddy_json_needs_escape(p.assumingMemoryBound(to: UInt8.self), b.count) != 0 }
        if !needs { put(b) } else {
            for c in b {
                switch c {
                case 0x22: put(0x5C); put(0x22)
                case 0x5C: put(0x5C); put(0x5C)
                case 0x0A: put(0x5C); put(0x6E)
                case 0x0D: put(0x5C); put(0x72)
                case 0x09: put(0x5C); put(0x74)
                case 0..<0x20:
                    appendLiteral("\\u00")
                    let h: [UInt8] = Array("0123456789abcdef".utf8)
                    put(h[Int(c >> 4)]); put(h[Int(c & 15)])
                default: put(c)
                }
            }
        }
        put(0x22)
    }

    mutating func appendJSONString(_ b: [UInt8]) { b.withUnsafeBytes { appendJSONString($0) } }
    mutating func appendJSONString(_ s: String) { var s = s; s.withUTF8 { appendJSONString(UnsafeRawBufferPointer($0)) } }

    /// Decimal digits written back to front into a stack buffer, appended with one copy.
    mutating func appendDecimal(_ v: Int64) {
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)   // 24 bytes ≥ 20 digits and a sign
        Swift.withUnsafeMutableBytes(of: &tmp) { t in
            var x = v.magnitude
            var i = t.count
            repeat { i -= 1; t[i] = UInt8(48 + x % 10); x /= 10 } while x > 0
            if v < 0 { i -= 1; t[i] = 0x2D }
            put(UnsafeRawBufferPointer(rebasing: t[i...]))
        }
    }

    /// 16 lower-case hex digits, appended with one copy.
    mutating func appendHex16(_ v: UInt64) {
        var tmp: (UInt64, UInt64) = (0, 0)
        let h: StaticString = "0123456789abcdef"
        h.withUTF8Buffer { d in
            Swift.withUnsafeMutableBytes(of: &tmp) { t in
                for k in 0..<16 { t[k] = d[Int((v >> UInt64(60 - 4 * k)) & 15)] }
                put(UnsafeRawBufferPointer(t))
            }
        }
    }
}
