/// Which event field becomes the partition key: the first of `fields` present as a top-level
/// string (or number) in the event's JSON. Default: session_id, else user_id, else site_id, so a
/// session's events stay in order on one shard.
///
/// A byte scan, not a JSON parse: it looks for `"field"` followed by `:`. It does not know about
/// nesting, so a nested object with the same key name could match first; the collector, which
/// parses events anyway, may pass keys it extracted itself instead.
public struct PartitionKeyRule: Sendable, Equatable {
    public var fields: [String]
    public init(fields: [String] = ["session_id", "user_id", "site_id"]) { self.fields = fields }

    /// The key bytes' range inside `json`, or nil when no field is present.
    public func keyRange(in json: UnsafeRawBufferPointer) -> Range<Int>? {
        for f in fields {
            if let r = Self.find(field: f, in: json) { return r }
        }
        return nil
    }

    public func key(in json: String) -> String? {
        var s = json
        return s.withUTF8 { u in
            let raw = UnsafeRawBufferPointer(u)
            return keyRange(in: raw).map { String(decoding: UnsafeRawBufferPointer(rebasing: raw[$0]), as: UTF8.self) }
        }
    }

    static func find(field: String, in raw: UnsafeRawBufferPointer) -> Range<Int>? {
        let needle = Array(("\"" + field + "\"").utf8)
        let n = raw.count, m = needle.count
        guard m <= n else { return nil }
        var i = 0
        while i + m <= n {
            guard raw[i] == needle[0] else { i += 1; continue }
            var match = true
            for j in 1..<m where raw[i + j] != needle[j] { match = false; break }
            if !match { i += 1; continue }
            var p = i + m
            while p < n, raw[p] == 0x20 || raw[p] == 0x09 || raw[p] == 0x0A || raw[p] == 0x0D { p += 1 }
            guard p < n, raw[p] == UInt8(ascii: ":") else { i += 1; continue }
            p += 1
            while p < n, raw[p] == 0x20 || raw[p] == 0x09 || raw[p] == 0x0A || raw[p] == 0x0D { p += 1 }
            guard p < n else { return nil }
            if raw[p] == UInt8(ascii: "\"") {
                let start = p + 1
                var q = start
                while q < n, raw[q] != UInt8(ascii: "\"") { q += raw[q] == UInt8(ascii: "\\") ? 2 : 1 }
                guard q <= n, q > start, q - start <= Frame.maxKeyBytes else { i = p; continue }
                return start..<min(q, n)
            }
            // A number (or true/false): up to the next delimiter.
            let start = p
            var q = p
            while q < n, raw[q] != UInt8(ascii: ","), raw[q] != UInt8(ascii: "}"), raw[q] != 0x20 { q += 1 }
            if q > start, raw[start] != UInt8(ascii: "n") { return start..<q } // skip null
            i = p
        }
        return nil
    }
}
