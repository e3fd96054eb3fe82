import Foundation

/// What `eddy check` found. `problems` non-empty means the data directory is not healthy.
public struct StreamCheckReport: Sendable {
    public var lines: [String] = []
    public var warnings: [String] = []
    public var problems: [String] = []
    public var framesVerified: UInt64 = 0
    public var bytesVerified: Int64 = 0
    public var ok: Bool { problems.isEmpty }
}

/// Read-only verification of a data directory: every frame's CRC and offset, segment naming and
/// continuity, shard-map consistency, closed shards' ending offsets, checkpoint ranges. It never
/// repairs anything (opening the stream does that, and reports it).
public enum StreamChecker {
    public static func check(dataDirectory: String) -> StreamCheckReport {
        var r = StreamCheckReport()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dataDirectory, isDirectory: &isDir), isDir.boolValue else {
            r.problems.append("data directory \(dataDirectory) does not exist")
            return r
        }
        let streamsRoot = dataDirectory + "/stream"
        let names = FileIO.listDirectory(streamsRoot).sorted()
        if names.isEmpty { r.lines.append("no streams under \(streamsRoot)") }
        var shardEnds: [String: (trim: UInt64, end: UInt64, closed: Bool)] = [:]
        for name in names {
            let root = streamsRoot + "/" + name
            let mapPath = root + "/shards.json"
            r.lines.append("stream \(name)")
            let map: ShardMap
            do { map = try ShardMap.load(path: mapPath) } catch {
                r.problems.append("\(name): \(error)")
                continue
            }
            for p in map.problems() { r.problems.append("\(name)/shards.json: \(p)") }
            if map.streamName != name { r.problems.append("\(name)/shards.json names stream \(map.streamName)") }
            let known = Set(map.shards.map { $0.shardId })
            for entry in FileIO.listDirectory(root).sorted() where entry != "shards.json" && !known.contains(entry) {
                r.warnings.append("\(name)/\(entry) is not in the shard map (left by an interrupted reshard?)")
            }
            for d in map.shards.sorted(by: { $0.index < $1.index }) {
                let (trim, end) = checkShard(d, dir: root + "/" + d.shardId, label: "\(name)/\(d.shardId)", into: &r)
                shardEnds[d.shardId] = (trim, end, d.state == .closed)
            }
        }
        let consumersRoot = dataDirectory + "/consumers"
        for app in FileIO.listDirectory(consumersRoot).sorted() {
            for f in FileIO.listDirectory(consumersRoot + "/" + app).sorted() {
                let path = consumersRoot + "/" + app + "/" + f
                if f.hasSuffix(".tmp") { r.warnings.append("\(path): leftover temporary checkpoint (ignored)"); continue }
                guard f.hasSuffix(".ckpt") else { continue }
                let c: CheckpointFile
                do { c = try JSONDecoder().decode(CheckpointFile.self, from: Data(try FileIO.readWholeFile(path))) } catch {
                    r.problems.append("\(path): checkpoint unreadable: \(error)"); continue
                }
                guard let e = shardEnds[c.shardId], c.shardId + ".ckpt" == f else {
                    r.problems.append("\(path): names shard \(c.shardId), which no stream has"); continue
                }
                if c.nextOffset > e.end {
                    r.problems.append("\(path): checkpoint at offset \(c.nextOffset) is past the shard's last record (\(e.end))")
                } else if c.nextOffset < e.trim {
                    r.warnings.append("\(path): checkpoint at offset \(c.nextOffset) is below the trim horizon \(e.trim): \(e.trim - c.nextOffset) record(s) were removed before \(app) read them")
                }
                r.lines.append("consumer \(app) \(c.shardId): next offset \(c.nextOffset) of \(e.end) (\(e.end - min(e.end, c.nextOffset)) behind) checkpoint \(c.checkpoint)")
            }
        }
        return r
    }

    private static func checkShard(_ d: ShardDescriptor, dir: String, label: String, into r: inout StreamCheckReport) -> (UInt64, UInt64) {
        var bases: [UInt64] = []
        for f in FileIO.listDirectory(dir).sorted() {
            if f.hasSuffix(".log"), f.count == 24, let b = UInt64(f.prefix(20)) { bases.append(b) }
            else if f.hasSuffix(".idx"), f.count == 24 { continue } // index cache, checked against its segment below
            else { r.warnings.append("\(label)/\(f): not a segment file") }
        }
        bases.sort()
        if bases.isEmpty && d.state == .open { r.problems.append("\(label): OPEN shard has no segment file") }
        var expected: UInt64? = nil
        var records: UInt64 = 0
        var bytes: Int64 = 0
        for b in bases {
            let path = dir + "/" + ShardedStream.segmentName(b)
            if let e = expected, e != b {
                r.problems.append("\(label): segment \(ShardedStream.segmentName(b)) starts at \(b) but the previous one ends at \(e) (missing segment)")
            }
            let data: [UInt8]
            do { data = try FileIO.readWholeFile(path) } catch { r.problems.append("\(error)"); continue }
            let sc = SegmentScanner.scan(data, baseOffset: b, verify: true, indexInterval: 1 << 30)
            r.framesVerified += sc.records
            r.bytesVerified += sc.validBytes
            records += sc.records
            bytes += sc.fileBytes
            if let p = sc.problem {
                let torn = p.hasPrefix("torn")
                r.problems.append("\(path): \(torn ? "torn tail" : "corrupt frame") — \(p); \(sc.droppedBytes) byte(s), \(sc.trailingFrames) frame(s) after the last good frame at offset \(b + sc.records) (opening the stream truncates them)")
            }
            if FileIO.exists(SegmentIndexFile.path(forSegment: path)), sc.problem == nil {
                if let cached = SegmentIndexFile.read(segmentPath: path, baseOffset: b, fileSize: sc.fileBytes) {
                    if cached.records != sc.records || cached.lastArrivalMs != sc.lastArrivalMs {
                        r.problems.append("\(SegmentIndexFile.path(forSegment: path)): says \(cached.records) records, the segment holds \(sc.records)")
                    }
                } else if b != bases.last {
                    r.warnings.append("\(SegmentIndexFile.path(forSegment: path)): stale or torn index cache (rebuilt at next open)")
                }
            }
            expected = b + sc.records
        }
        let trim = bases.first ?? (d.endingOffset ?? 0)
        let end = expected ?? (d.endingOffset ?? 0)
        if let e = d.endingOffset, !bases.isEmpty, end != e {
            r.problems.append("\(label): CLOSED at offset \(e) but its log holds records up to \(end)")
        }
        r.lines.append("  \(d.shardId) \(d.state.rawValue) \(bases.count) segment(s) \(records) record(s) [\(trim), \(end)) \(bytes) bytes")
        return (trim, end)
    }
}
