/// Sequence numbers: decimal strings `<shardIndex + 1><offset as 20 digits>`.
///
/// The leading part is never 0, so the string matches Kinesis' `0|([1-9]\d{0,128})`; within a
/// shard every number has the same length, so numeric order, string order and offset order agree.
/// Example: shard 3, offset 42 → "400000000000000000042".
public struct SequenceNumber: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var shardIndex: Int
    public var offset: UInt64

    public init(shardIndex: Int, offset: UInt64) { self.shardIndex = shardIndex; self.offset = offset }

    public static func < (a: SequenceNumber, b: SequenceNumber) -> Bool {
        a.shardIndex != b.shardIndex ? a.shardIndex < b.shardIndex : a.offset < b.offset
    }

    public var description: String {
        let o = String(offset)
        return String(shardIndex + 1) + String(repeating: "0", count: 20 - o.count) + o
    }

    /// Parses a string made by `description`; nil for anything else.
    public init?(_ s: String) {
        let u = Array(s.utf8)
        guard u.count >= 21, u.count <= 40, u[0] != UInt8(ascii: "0") else { return nil }
        var idx: UInt64 = 0
        for c in u[..<(u.count - 20)] {
            guard c >= 48 && c <= 57 else { return nil }
            let (m, o1) = idx.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(c - 48))
            if o1 || o2 || a > UInt64(Int32.max) { return nil }
            idx = a
        }
        var off: UInt64 = 0
        for c in u[(u.count - 20)...] {
            guard c >= 48 && c <= 57 else { return nil }
            let (m, o1) = off.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(c - 48))
            if o1 || o2 { return nil }
            off = a
        }
        self.shardIndex = Int(idx) - 1
        self.offset = off
    }
}

/// `shardId-` + 12-digit zero-padded index.
public enum ShardID {
    public static func make(_ index: Int) -> String {
        let s = String(index)
        return "shardId-" + String(repeating: "0", count: max(0, 12 - s.count)) + s
    }
    public static func index(of id: String) -> Int? {
        guard id.hasPrefix("shardId-") else { return nil }
        let digits = id.dropFirst(8)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }
}
