import CEddy
import Foundation

/// A point of the Kinesis hash-key space [0, 2^128 − 1], kept as two 64-bit halves so the code
/// does not depend on `UInt128` availability (macOS 15+) and stays cheap to compare.
public struct HashKey: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var hi: UInt64
    public var lo: UInt64

    public init(hi: UInt64, lo: UInt64) { self.hi = hi; self.lo = lo }
    public init(_ v: UInt64) { self.hi = 0; self.lo = v }

    public static let zero = HashKey(hi: 0, lo: 0)
    public static let max = HashKey(hi: .max, lo: .max)

    public static func < (a: HashKey, b: HashKey) -> Bool { a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo }

    /// MD5 of the partition key's bytes read as an unsigned 128-bit big-endian integer.
    public static func md5<B: ContiguousBytes>(of bytes: B) -> HashKey {
        bytes.withUnsafeBytes { md5(raw: $0) }
    }

    public static func md5(of string: String) -> HashKey {
        var s = string
        return s.withUTF8 { md5(raw: UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    public static func md5(raw: UnsafeRawBufferPointer) -> HashKey {
        var out: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &out) { dst in
            eddy_md5(raw.baseAddress, raw.count, dst.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return HashKey(hi: UInt64(bigEndian: out.0), lo: UInt64(bigEndian: out.1))
    }

    /// Hex of the 16 big-endian bytes (what `md5sum` prints).
    public var hex: String {
        func h(_ v: UInt64) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }
        return h(hi) + h(lo)
    }

    // MARK: arithmetic used by shard layout

    public func adding(_ v: UInt64) -> (HashKey, overflow: Bool) {
        let (l, c) = lo.addingReportingOverflow(v)
        if !c { return (HashKey(hi: hi, lo: l), false) }
        let (h, o) = hi.addingReportingOverflow(1)
        return (HashKey(hi: h, lo: l), o)
    }

    public func adding(_ b: HashKey) -> (HashKey, overflow: Bool) {
        let (l, c) = lo.addingReportingOverflow(b.lo)
        var (h, o) = hi.addingReportingOverflow(b.hi)
        if c { let (h2, o2) = h.addingReportingOverflow(1); h = h2; o = o || o2 }
        return (HashKey(hi: h, lo: l), o)
    }

    public func subtracting(_ v: UInt64) -> HashKey {
        let (l, b) = lo.subtractingReportingOverflow(v)
        return HashKey(hi: b ? hi &- 1 : hi, lo: l)
    }

    public func subtracting(_ b: HashKey) -> HashKey {
        let (l, borrow) = lo.subtractingReportingOverflow(b.lo)
        return HashKey(hi: hi &- b.hi &- (borrow ? 1 : 0), lo: l)
    }

    public func multiplied(by m: UInt64) -> (HashKey, overflow: Bool) {
        let (lh, ll) = lo.multipliedFullWidth(by: m)
        let (hh, hl) = hi.multipliedFullWidth(by: m)
        let (h, o) = hl.addingReportingOverflow(lh)
        return (HashKey(hi: h, lo: ll), o || hh != 0)
    }

    /// Quotient and remainder of a division by a 64-bit divisor (> 0).
    public func quotientAndRemainder(dividingBy d: UInt64) -> (HashKey, UInt64) {
        let qh = hi / d, rh = hi % d
        let (ql, rl) = d.dividingFullWidth((rh, lo))
        return (HashKey(hi: qh, lo: ql), rl)
    }

    /// floor((a + b) / 2) without overflow.
    public static func midpoint(_ a: HashKey, _ b: HashKey) -> HashKey {
        let (s, o) = a.adding(b)
        // shift the 129-bit sum right by one
        return HashKey(hi: (s.hi >> 1) | (o ? (1 << 63) : 0), lo: (s.lo >> 1) | (s.hi << 63))
    }

    // MARK: decimal (the ExplicitHashKey / StartingHashKey wire form)

    public var description: String {
        if hi == 0 { return String(lo) }
        var digits: [UInt8] = []
        var v = self
        while v != .zero {
            let (q, r) = v.quotientAndRemainder(dividingBy: 10_000_000_000_000_000_000)
            var chunk = String(r)
            if q != .zero { chunk = String(repeating: "0", count: 19 - chunk.count) + chunk }
            digits.insert(contentsOf: Array(chunk.utf8), at: 0)
            v = q
        }
        return String(decoding: digits, as: UTF8.self)
    }

    /// Parses `0|([1-9]\d{0,38})` within [0, 2^128 − 1]; nil otherwise.
    public init?(decimal s: String) {
        let u = Array(s.utf8)
        guard !u.isEmpty, u.count <= 39 else { return nil }
        if u.count > 1 && u[0] == UInt8(ascii: "0") { return nil }
        var v = HashKey.zero
        for c in u {
            guard c >= 48 && c <= 57 else { return nil }
            let (m, o1) = v.multiplied(by: 10)
            let (a, o2) = m.adding(UInt64(c - 48))
            if o1 || o2 { return nil }
            v = a
        }
        self = v
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let v = HashKey(decimal: s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a 128-bit decimal hash key: \(s)")
        }
        self = v
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// The even split of the hash space that CreateStream / UpdateShardCount use:
/// step = floor(2^128 / n); range i = [i·step, (i+1)·step − 1]; the last ends at 2^128 − 1.
public enum HashLayout {
    public static func step(shardCount n: Int) -> HashKey {
        precondition(n >= 1)
        let d = UInt64(n)
        if n == 1 { return .max } // 2^128 does not fit; range 0 is the whole space anyway
        let (q, r) = HashKey.max.quotientAndRemainder(dividingBy: d)
        // floor(2^128 / n) = floor((2^128 − 1) / n) + (1 if n divides 2^128 exactly)
        return r == d - 1 ? q.adding(1).0 : q
    }

    public static func evenRanges(count n: Int) -> [(start: HashKey, end: HashKey)] {
        guard n > 1 else { return [(.zero, .max)] }
        let s = step(shardCount: n)
        var out: [(HashKey, HashKey)] = []
        for i in 0..<n {
            let start = s.multiplied(by: UInt64(i)).0
            let end = i == n - 1 ? HashKey.max : s.multiplied(by: UInt64(i + 1)).0.subtracting(1)
            out.append((start, end))
        }
        return out
    }
}
