import Foundation

/// What `eddy check --lake` found. `problems` non-empty means the lake breaks its contract
/// (docs/LAKE.md): a reader would miss records, or count some twice.
public struct LakeCheckReport: Sendable {
    public var lines: [String] = []
    public var warnings: [String] = []
    public var problems: [String] = []
    public var manifests = 0
    public var objects = 0
    public var records: Int64 = 0
    public var bytes: Int64 = 0
    public var ok: Bool { problems.isEmpty }
}

/// Read-only verification of a lake against its manifests: every listed object exists, has the
/// manifest's size and record count, and holds only records of the sequence ranges its entry (or
/// its name) gives; no object is listed twice; no two objects of one site hold overlapping ranges
/// of one shard (that would be records delivered twice). Objects no manifest lists are warnings:
/// a flush in progress, or a crash between objects and manifest, which the delivery's next start
/// removes. Error objects are not checked (no manifest lists them).
public enum LakeChecker {
    /// A problem is reported at most this many times per kind; the rest are counted.
    static let maxReportedPerKind = 20

    public static func check(dataDirectory: String, progress: ((String) -> Void)? = nil) -> LakeCheckReport {
        var r = LakeCheckReport()
        let root = dataDirectory + "/lake"
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
            r.lines.append("no lake under \(root)")
            return r
        }
        let lake: LocalLake
        do { lake = try LocalLake(root: root) } catch { r.problems.append("lake: \(error)"); return r }
        var counts: [String: Int] = [:]
        func problem(_ kind: String, _ text: String) {
            counts[kind, default: 0] += 1
            if counts[kind]! <= maxReportedPerKind { r.problems.append(text) }
        }

        let manifestKeys: [String]
        do { manifestKeys = try lake.list(prefix: "_manifests").filter { $0.hasSuffix(".json") } } catch {
            r.problems.append("lake: cannot list _manifests: \(error)"); return r
        }
        struct Placed { var first: UInt64; var last: UInt64; var url: String }
        var listedBy: [String: String] = [:]
        // (delivery, site, shard) → the ranges of that shard in that site's objects.
        var placed: [String: [Placed]] = [:]
        var perDelivery: [String: (objects: Int, records: Int64)] = [:]
        for mkey in manifestKeys {
            r.manifests += 1
            let parts = mkey.split(separator: "/")
            let delivery = parts.count > 1 ? String(parts[1]) : "?"
            guard let bytes = try? lake.read(mkey), let entries = Manifest.decode(bytes) else {
                problem("manifest", "\(mkey): not a readable manifest"); continue
            }
            for e in entries {
                if let other = listedBy[e.url] { problem("twice", "\(e.url): listed by \(other) and \(mkey)"); continue }
                listedBy[e.url] = mkey
                guard let object = try? lake.read(e.url) else { problem("missing", "\(e.url) (listed by \(mkey)): missing"); continue }
                r.objects += 1; r.bytes += Int64(object.count)
                if r.objects % 1000 == 0 { progress?("\(r.objects) objects, \(r.records) records verified") }
                if e.contentLength > 0 && e.contentLength != object.count {
                    problem("size", "\(e.url): \(object.count) bytes, its manifest says \(e.contentLength)")
                }
                let raw: [UInt8]
                do { raw = try Compressor.decompress(object, key: e.url) } catch {
                    problem("decompress", "\(e.url): \(error)"); continue
                }
                let lines = raw.split(separator: 0x0A)
                r.records += Int64(lines.count)
                perDelivery[delivery, default: (0, 0)].objects += 1
                perDelivery[delivery, default: (0, 0)].records += Int64(lines.count)
                if e.records > 0 && e.records != lines.count {
                    problem("records", "\(e.url): \(lines.count) records, its manifest says \(e.records)")
                }
                guard let name = LakeLayout.parseObjectName(e.url), let site = LakeLayout.site(ofKey: e.url) else {
                    problem("name", "\(e.url): not an object name of the lake contract"); continue
                }
                let ranges = e.sequenceRanges(named: name)
                if ranges.count != name.shardCount || ranges.first?.first != name.first || ranges.first?.last != name.last {
                    problem("ranges", "\(e.url): its name and its manifest entry give different sequence ranges")
                }
                let outside = lines.count { line in
                    guard let seq = LakeLayout.lastSequenceNumber(in: line) else { return true }
                    return !ranges.contains { $0.first.shardIndex == seq.shardIndex && $0.first <= seq && seq <= $0.last }
                }
                if outside > 0 { problem("outside", "\(e.url): \(outside) record(s) without a \"seq\" in the object's ranges") }
                for g in ranges {
                    placed["\(delivery)\u{0}\(site)\u{0}\(g.first.shardIndex)", default: []]
                        .append(Placed(first: g.first.offset, last: g.last.offset, url: e.url))
                }
            }
        }
        // Chunks of one site and shard follow each other in the stream: their ranges never overlap.
        for (_, list) in placed where list.count > 1 {
            let sorted = list.sorted { $0.first < $1.first }
            for i in 1..<sorted.count where sorted[i].first <= sorted[i - 1].last {
                problem("overlap", "\(sorted[i - 1].url) and \(sorted[i].url) hold overlapping records of one shard (delivered twice)")
            }
        }
        for (kind, n) in counts.sorted(by: { $0.key < $1.key }) where n > maxReportedPerKind {
            r.problems.append("… and \(n - maxReportedPerKind) more of kind '\(kind)'")
        }
        // Objects no manifest lists.
        var unlisted: [String] = []
        if let all = try? lake.list(prefix: "") {
            for key in all where !key.hasPrefix("_manifests/") && !key.hasPrefix("errors/") && key.contains(".ndjson") && listedBy[key] == nil {
                unlisted.append(key)
            }
        }
        if !unlisted.isEmpty {
            r.warnings.append("\(unlisted.count) object(s) no manifest lists (a flush in progress, or a crash before its manifest: "
                              + "the delivery's next start removes them), e.g. \(unlisted[0])")
        }
        for (d, v) in perDelivery.sorted(by: { $0.key < $1.key }) {
            r.lines.append("delivery \(d): \(v.objects) object(s), \(v.records) record(s)")
        }
        r.lines.append("lake: \(r.manifests) manifest(s), \(r.objects) object(s), \(r.records) record(s), \(r.bytes) byte(s)")
        return r
    }
}
