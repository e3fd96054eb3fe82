import Foundation

/// Names of things in the lake (docs/LAKE.md is the contract; field order and spelling matter).
enum LakeLayout {
    /// "YYYY-MM-DD" and "HH" (UTC) of an epoch-ms instant.
    static func dateHour(_ ms: Int64) -> (String, String) {
        let days = Int(floor(Double(ms) / 86_400_000))
        let (y, m, d) = RFC3339.civilFromDays(days)
        let hour = Int((ms - Int64(days) * 86_400_000) / 3_600_000)
        func p2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let ys = String(y)
        return (String(repeating: "0", count: max(0, 4 - ys.count)) + ys + "-" + p2(m) + "-" + p2(d), p2(hour))
    }

    static func partitionPath(site: String, oldestArrivalMs: Int64) -> String {
        let (d, h) = dateHour(oldestArrivalMs)
        return "site=\(site)/dt=\(d)/hr=\(h)"
    }

    static func objectName(delivery: String, shardId: String, first: SequenceNumber, last: SequenceNumber, ext: String) -> String {
        "\(delivery)-\(shardId)-\(first)-\(last)\(ext)"
    }

    /// An object's name from the sequence ranges it holds, one per shard, lowest shard first: the
    /// first range, and `-shards-<n>` when the object holds records of n > 1 shards (all n ranges
    /// are in its manifest entry; a name of every range would pass the 255-byte file name limit
    /// at five shards).
    static func objectName(delivery: String, ranges: [SequenceRange], ext: String) -> String {
        guard let r = ranges.first else { return delivery + ext }
        let more = ranges.count == 1 ? "" : "-shards-\(ranges.count)"
        return objectName(delivery: delivery, shardId: ShardID.make(r.first.shardIndex), first: r.first, last: r.last, ext: more + ext)
    }

    /// `_manifests/<delivery>/dt=…/hr=…/<20-digit ms>-<shard>-<first>.json`, under the hour it was
    /// written in: a loader lists only the hours that may still change, not every manifest ever
    /// written. (Before 2026-11-26 manifests sat directly in `_manifests/<delivery>/`; loaders still
    /// read that layout.)
    static func manifestKey(delivery: String, nowMs: Int64, shardId: String, first: SequenceNumber) -> String {
        let (d, h) = dateHour(max(0, nowMs))
        return "_manifests/\(delivery)/dt=\(d)/hr=\(h)/" + manifestTime(nowMs) + "-\(shardId)-\(first).json"
    }

    /// The 20-digit epoch ms a manifest's name starts with: names sort by write time.
    static func manifestTime(_ ms: Int64) -> String {
        let t = String(max(0, ms))
        return String(repeating: "0", count: max(0, 20 - t.count)) + t
    }

    struct ObjectName: Equatable {
        var delivery: String
        /// The lowest shard's range (the only one unless `shardCount` > 1).
        var shardIndex: Int
        var first: SequenceNumber
        var last: SequenceNumber
        var shardCount = 1
    }

    /// Parses the last path component of an object or error key; nil for anything else.
    static func parseObjectName(_ key: String) -> ObjectName? {
        guard let base = key.split(separator: "/").last, let dot = base.range(of: ".ndjson") else { return nil }
        var parts = base[..<dot.lowerBound].split(separator: "-", omittingEmptySubsequences: false)
        var shardCount = 1
        if parts.count >= 7, parts[parts.count - 2] == "shards" {
            guard let n = Int(parts[parts.count - 1]), n > 1 else { return nil }
            shardCount = n
            parts.removeLast(2)
        }
        guard parts.count >= 5, parts[parts.count - 4] == "shardId",
              let idx = ShardID.index(of: "shardId-" + parts[parts.count - 3]),
              let f = SequenceNumber(String(parts[parts.count - 2])), let l = SequenceNumber(String(parts[parts.count - 1])),
              f.shardIndex == idx, l.shardIndex == idx else { return nil }
        return ObjectName(delivery: parts[0..<(parts.count - 4)].joined(separator: "-"), shardIndex: idx, first: f, last: l, shardCount: shardCount)
    }

    /// The value of the last `"seq":"…"` field of an enriched line: delivery writes its fields after
    /// the event's own, so an event's own "seq" comes before it.
    static func lastSequenceNumber(in line: ArraySlice<UInt8>) -> SequenceNumber? {
        let key = seqFieldKey
        var i = line.endIndex - key.count
        while i >= line.startIndex {
            if line[i] == 0x22 && line[i ..< i + key.count].elementsEqual(key) {
                let start = i + key.count
                guard let end = line[start...].firstIndex(of: 0x22) else { return nil }
                return SequenceNumber(String(decoding: line[start..<end], as: UTF8.self))
            }
            i -= 1
        }
        return nil
    }
    private static let seqFieldKey: [UInt8] = Array("\"seq\":\"".utf8)

    /// The `site=` value of a key, nil when it has none.
    static func site(ofKey key: String) -> String? {
        for c in key.split(separator: "/") where c.hasPrefix("site=") { return String(c.dropFirst(5)) }
        return nil
    }
}

/// Firehose's error-output types used as `errors/<type>/`.
public enum DeliveryErrorType: String, Sendable, CaseIterable {
    case processingFailed = "processing-failed"
    case formatConversionFailed = "format-conversion-failed"
    case partitionLimitExceeded = "partition-limit-exceeded"
}

/// One line of an error object, in Firehose's failure-record shape.
struct FailureRecord {
    var attemptsMade: Int
    var arrivalMs: Int64
    var errorCode: String
    var errorMessage: String
    var endingMs: Int64
    var raw: ArraySlice<UInt8>

    func append(to out: inout [UInt8]) {
        out.appendLiteral("{\"attemptsMade\":"); out.appendDecimal(Int64(attemptsMade))
        out.appendLiteral(",\"arrivalTimestamp\":"); out.appendDecimal(arrivalMs)
        out.appendLiteral(",\"errorCode\":"); out.appendJSONString(errorCode)
        out.appendLiteral(",\"errorMessage\":"); out.appendJSONString(errorMessage)
        out.appendLiteral(",\"attemptEndingTimestamp\":"); out.appendDecimal(endingMs)
        out.appendLiteral(",\"rawData\":\""); out.append(contentsOf: Data(raw).base64EncodedData()); out.appendLiteral("\"}\n")
    }
}

/// The records of one shard in an object: first and last sequence number.
struct SequenceRange: Equatable {
    var first: SequenceNumber
    var last: SequenceNumber
}

/// A Redshift COPY manifest entry. `meta` also carries the records and, for recovery, the sequence
/// ranges the object holds (one per shard).
struct ManifestEntry {
    var url: String
    var contentLength: Int
    var records: Int
    var ranges: [SequenceRange] = []

    /// Every shard's range of the object: the entry's, or for a manifest written before entries
    /// carried them (every object then held one shard), the range of its name.
    func sequenceRanges(named name: LakeLayout.ObjectName) -> [SequenceRange] {
        ranges.isEmpty ? [SequenceRange(first: name.first, last: name.last)] : ranges
    }
}

enum Manifest {
    static func encode(_ entries: [ManifestEntry]) -> [UInt8] {
        var o: [UInt8] = []
        o.appendLiteral("{\"entries\":[")
        for (i, e) in entries.enumerated() {
            if i > 0 { o.append(0x2C) }
            o.appendLiteral("{\"url\":"); o.appendJSONString(e.url)
            o.appendLiteral(",\"mandatory\":true,\"meta\":{\"content_length\":"); o.appendDecimal(Int64(e.contentLength))
            o.appendLiteral(",\"records\":"); o.appendDecimal(Int64(e.records))
            if !e.ranges.isEmpty {
                o.appendLiteral(",\"sequence_ranges\":[")
                for (k, r) in e.ranges.enumerated() {
                    if k > 0 { o.append(0x2C) }
                    o.appendLiteral("[\""); o.append(contentsOf: r.first.description.utf8)
                    o.appendLiteral("\",\""); o.append(contentsOf: r.last.description.utf8); o.appendLiteral("\"]")
                }
                o.append(0x5D)
            }
            o.appendLiteral("}}")
        }
        o.appendLiteral("]}\n")
        return o
    }

    static func decode(_ bytes: [UInt8]) -> [ManifestEntry]? {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let entries = obj["entries"] as? [[String: Any]] else { return nil }
        return entries.compactMap { e in
            guard let url = e["url"] as? String else { return nil }
            let meta = e["meta"] as? [String: Any]
            let ranges = ((meta?["sequence_ranges"] as? [[String]]) ?? []).compactMap { r -> SequenceRange? in
                guard r.count == 2, let f = SequenceNumber(r[0]), let l = SequenceNumber(r[1]) else { return nil }
                return SequenceRange(first: f, last: l)
            }
            return ManifestEntry(url: url, contentLength: (meta?["content_length"] as? Int) ?? 0, records: (meta?["records"] as? Int) ?? 0,
                                 ranges: ranges)
        }
    }
}
