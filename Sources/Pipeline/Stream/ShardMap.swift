import Foundation

/// One shard as shards.json records it (and as ListShards / DescribeStream report it).
public struct ShardDescriptor: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable { case open = "OPEN", closed = "CLOSED" }
    public var shardId: String
    public var index: Int
    public var startingHashKey: HashKey
    public var endingHashKey: HashKey
    public var parentShardId: String?
    public var adjacentParentShardId: String?
    public var state: State
    public var createdAtMs: Int64
    /// Exclusive end offset once CLOSED: records [0, endingOffset) are the whole shard.
    public var endingOffset: UInt64?

    public var startingSequenceNumber: SequenceNumber { SequenceNumber(shardIndex: index, offset: 0) }
    /// Kinesis' EndingSequenceNumber: the last record's number (offset 0's when the shard stayed empty).
    public var endingSequenceNumber: SequenceNumber? {
        endingOffset.map { SequenceNumber(shardIndex: index, offset: $0 == 0 ? 0 : $0 - 1) }
    }
    public var parents: [String] { [parentShardId, adjacentParentShardId].compactMap { $0 } }

    public func contains(_ k: HashKey) -> Bool { startingHashKey <= k && k <= endingHashKey }
}

/// The shard map file: `stream/<stream>/shards.json`, replaced atomically on every change.
public struct ShardMap: Sendable, Codable, Equatable {
    public var streamName: String
    public var formatVersion: Int = 1
    public var nextShardIndex: Int
    public var shards: [ShardDescriptor]

    public static func create(name: String, shardCount: Int, nowMs: Int64) -> ShardMap {
        let ranges = HashLayout.evenRanges(count: shardCount)
        let shards = ranges.enumerated().map { i, r in
            ShardDescriptor(shardId: ShardID.make(i), index: i, startingHashKey: r.start, endingHashKey: r.end,
                            parentShardId: nil, adjacentParentShardId: nil, state: .open, createdAtMs: nowMs,
                            endingOffset: nil)
        }
        return ShardMap(streamName: name, nextShardIndex: shardCount, shards: shards)
    }

    public var openShards: [ShardDescriptor] {
        shards.filter { $0.state == .open }.sorted { $0.startingHashKey < $1.startingHashKey }
    }

    public func shard(id: String) -> ShardDescriptor? { shards.first { $0.shardId == id } }

    /// Every inconsistency, collected (not just the first): used at open and by `eddy check`.
    public func problems() -> [String] {
        var out: [String] = []
        var ids = Set<String>()
        for s in shards {
            if !ids.insert(s.shardId).inserted { out.append("shard id \(s.shardId) appears twice") }
            if ShardID.make(s.index) != s.shardId { out.append("\(s.shardId): index \(s.index) does not match its id") }
            if s.startingHashKey > s.endingHashKey { out.append("\(s.shardId): starting hash key above ending hash key") }
            if s.state == .closed && s.endingOffset == nil { out.append("\(s.shardId): CLOSED without an ending sequence number") }
            if s.state == .open && s.endingOffset != nil { out.append("\(s.shardId): OPEN but has an ending sequence number") }
            if s.index >= nextShardIndex { out.append("\(s.shardId): index not below nextShardIndex \(nextShardIndex)") }
        }
        for s in shards {
            for p in s.parents {
                guard let ps = shard(id: p) else { out.append("\(s.shardId): parent \(p) is not in the map"); continue }
                if ps.state != .closed { out.append("\(s.shardId): parent \(p) is not CLOSED") }
                if ps.index >= s.index { out.append("\(s.shardId): parent \(p) has a higher index") }
            }
        }
        let open = openShards
        if open.isEmpty { out.append("no OPEN shard: writes have nowhere to go") }
        else {
            if open[0].startingHashKey != .zero { out.append("open shards do not start at hash key 0") }
            if open[open.count - 1].endingHashKey != .max { out.append("open shards do not end at 2^128-1") }
            for i in 1..<max(1, open.count) {
                let (next, overflow) = open[i - 1].endingHashKey.adding(1)
                if overflow || next != open[i].startingHashKey {
                    out.append("open shards \(open[i - 1].shardId) and \(open[i].shardId) leave a gap or overlap")
                }
            }
        }
        return out
    }

    func encoded() throws -> [UInt8] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        do { return Array(try enc.encode(self)) } catch {
            throw StreamError(.io, "cannot encode shard map: \(error)")
        }
    }

    static func load(path: String) throws -> ShardMap {
        let bytes = try FileIO.readWholeFile(path)
        do { return try JSONDecoder().decode(ShardMap.self, from: Data(bytes)) } catch {
            throw StreamError(.corrupt, "shard map is not valid: \(error)", path: path)
        }
    }
}
