import Foundation
import Metrics

/// A change of the shard map, for logs and the dashboard.
public enum ReshardEvent: Sendable, Equatable, CustomStringConvertible {
    case split(parent: String, children: [String])
    case merged(parents: [String], child: String)
    public var description: String {
        switch self {
        case .split(let p, let c): return "split \(p) into \(c.joined(separator: ", "))"
        case .merged(let p, let c): return "merged \(p.joined(separator: " + ")) into \(c)"
        }
    }
}

extension ShardedStream {
    /// SplitShard: the parent's range [s, e] becomes [s, key − 1] and [key, e]; s < key ≤ e.
    @discardableResult
    public func splitShard(_ shardId: String, newStartingHashKey key: HashKey) throws -> (ShardDescriptor, ShardDescriptor) {
        cond.lock(); defer { cond.unlock() }
        return try splitLocked(try indexLocked(shardId), at: key)
    }

    /// MergeShards: two OPEN shards with adjacent ranges become one.
    @discardableResult
    public func mergeShards(_ shardId: String, adjacentShardId: String) throws -> ShardDescriptor {
        cond.lock(); defer { cond.unlock() }
        return try mergeLocked(try indexLocked(shardId), try indexLocked(adjacentShardId))
    }

    /// UpdateShardCount with UNIFORM_SCALING: splits then merges until the open shards are the
    /// even split into `target` ranges. Kinesis allows between half and double the current count.
    public func updateShardCount(_ target: Int) throws {
        cond.lock(); defer { cond.unlock() }
        let current = shards.filter { $0.isOpen }.count
        guard target >= 1, target <= 2 * current, target * 2 >= current else {
            throw StreamError(.invalidArgument, "TargetShardCount \(target) must be between half and double the open shard count \(current)")
        }
        let ranges = HashLayout.evenRanges(count: target)
        // 1. Split every open shard at each target boundary strictly inside it.
        for r in ranges.dropFirst() {
            if let s = shards.first(where: { $0.isOpen && $0.desc.startingHashKey < r.start && r.start <= $0.desc.endingHashKey }) {
                try splitLocked(s.desc.index, at: r.start)
            }
        }
        // 2. Merge, left to right, the open shards that lie inside one target range.
        for r in ranges {
            while true {
                let inside = shards.filter { $0.isOpen && r.start <= $0.desc.startingHashKey && $0.desc.endingHashKey <= r.end }
                    .sorted { $0.desc.startingHashKey < $1.desc.startingHashKey }
                if inside.count < 2 { break }
                try mergeLocked(inside[0].desc.index, inside[1].desc.index)
            }
        }
    }

    func indexLocked(_ id: String) throws -> Int {
        guard let i = ShardID.index(of: id), i >= 0, i < shards.count else {
            throw StreamError(.resourceNotFound, "shard \(id) not found in stream \(config.name)")
        }
        return i
    }

    @discardableResult
    func splitLocked(_ idx: Int, at key: HashKey) throws -> (ShardDescriptor, ShardDescriptor) {
        let p = shards[idx]
        guard p.isOpen else { throw StreamError(.resourceInUse, "shard \(p.desc.shardId) is CLOSED; only OPEN shards can be split") }
        guard p.desc.startingHashKey < key, key <= p.desc.endingHashKey else {
            throw StreamError(.invalidArgument, "NewStartingHashKey \(key) must be above \(p.desc.startingHashKey) and at most \(p.desc.endingHashKey) (the range of \(p.desc.shardId))")
        }
        let now = clock.nowMs()
        let a = map.nextShardIndex, b = a + 1
        let da = ShardDescriptor(shardId: ShardID.make(a), index: a, startingHashKey: p.desc.startingHashKey,
                                 endingHashKey: key.subtracting(1), parentShardId: p.desc.shardId, adjacentParentShardId: nil,
                                 state: .open, createdAtMs: now, endingOffset: nil)
        let db = ShardDescriptor(shardId: ShardID.make(b), index: b, startingHashKey: key, endingHashKey: p.desc.endingHashKey,
                                 parentShardId: p.desc.shardId, adjacentParentShardId: nil, state: .open, createdAtMs: now, endingOffset: nil)
        try commitReshard(closing: [idx], creating: [da, db])
        splitsTotal += 1
        scaler.rest(a, ticks: config.autoScale?.cooldownTicks ?? 0)
        scaler.rest(b, ticks: config.autoScale?.cooldownTicks ?? 0)
        config.log(ReshardEvent.split(parent: p.desc.shardId, children: [da.shardId, db.shardId]).description)
        return (da, db)
    }

    @discardableResult
    func mergeLocked(_ i: Int, _ j: Int) throws -> ShardDescriptor {
        let x = shards[i], y = shards[j]
        guard i != j else { throw StreamError(.invalidArgument, "cannot merge \(x.desc.shardId) with itself") }
        guard x.isOpen, y.isOpen else {
            throw StreamError(.resourceInUse, "both shards must be OPEN to merge (\(x.desc.shardId) is \(x.desc.state.rawValue), \(y.desc.shardId) is \(y.desc.state.rawValue))")
        }
        let (lo, hi) = x.desc.startingHashKey < y.desc.startingHashKey ? (x, y) : (y, x)
        let (next, ovf) = lo.desc.endingHashKey.adding(1)
        guard !ovf, next == hi.desc.startingHashKey else {
            throw StreamError(.invalidArgument, "shards \(x.desc.shardId) and \(y.desc.shardId) are not adjacent: their hash ranges do not touch")
        }
        let c = map.nextShardIndex
        let d = ShardDescriptor(shardId: ShardID.make(c), index: c, startingHashKey: lo.desc.startingHashKey,
                                endingHashKey: hi.desc.endingHashKey, parentShardId: x.desc.shardId,
                                adjacentParentShardId: y.desc.shardId, state: .open, createdAtMs: clock.nowMs(), endingOffset: nil)
        try commitReshard(closing: [i, j], creating: [d])
        mergesTotal += 1
        scaler.rest(c, ticks: config.autoScale?.cooldownTicks ?? 0)
        config.log(ReshardEvent.merged(parents: [x.desc.shardId, y.desc.shardId], child: d.shardId).description)
        return d
    }

    /// Under the lock: make the parents' logs durable, create the children's directories and
    /// first segments, then replace shards.json. A crash before the rename leaves the old map
    /// (and empty child directories that a later reshard reuses); after it, the new one.
    private func commitReshard(closing: [Int], creating: [ShardDescriptor]) throws {
        for idx in closing {
            if let f = shards[idx].segments.last?.file { try FileIO.fdatasyncOrThrow(f.fd, path: f.path) }
        }
        var newMap = map
        for idx in closing {
            guard let k = newMap.shards.firstIndex(where: { $0.index == idx }) else { continue }
            newMap.shards[k].state = .closed
            newMap.shards[k].endingOffset = shards[idx].nextOffset
        }
        newMap.shards.append(contentsOf: creating)
        newMap.nextShardIndex += creating.count
        var newShards: [Shard] = []
        for d in creating {
            let s = Shard(desc: d, dir: root + "/" + d.shardId)
            try FileIO.makeDirectory(s.dir)
            for name in FileIO.listDirectory(s.dir) where name.hasSuffix(".log") { unlink(s.dir + "/" + name) }
            try createSegment(s, base: 0)
            newShards.append(s)
        }
        try FileIO.fsyncDirectory(root)
        try FileIO.atomicReplace(root + "/shards.json", with: try newMap.encoded())
        // Published: apply in memory.
        map = newMap
        for idx in closing {
            let s = shards[idx]
            s.durableOffset = s.nextOffset
            s.durableArrivalMs = s.lastArrivalMs
            s.desc.state = .closed
            s.desc.endingOffset = s.nextOffset
        }
        shards.append(contentsOf: newShards)
        rebuildRouting()
        // Appends waiting on a closed parent's bytes were covered by the fsync above.
        cond.broadcast()
    }

    // MARK: tick: rates, hot flags, auto-scaling

    /// Call about once a second: updates per-shard write rates and hot flags and, in on-demand
    /// mode, splits hot shards and merges cold neighbours. Returns the changes made.
    @discardableResult
    public func tick() throws -> [ReshardEvent] {
        cond.lock(); defer { cond.unlock() }
        let now = clock.nowMs()
        let elapsed = now - lastTickMs
        guard elapsed > 0 else { return [] }
        lastTickMs = now
        for s in shards {
            let dr = s.recordsTotal &- s.tickRecords, db = s.bytesTotal &- s.tickBytes
            s.tickRecords = s.recordsTotal; s.tickBytes = s.bytesTotal
            s.recordsPerSec = Double(dr) * 1000 / Double(elapsed)
            s.bytesPerSec = Double(db) * 1000 / Double(elapsed)
            let split = config.autoScale?.splitBytesPerSec ?? 500_000
            let splitR = config.autoScale?.splitRecordsPerSec ?? .infinity
            s.hot = s.isOpen && (s.bytesPerSec > split || s.recordsPerSec > splitR)
        }
        var samples: [Int: [HashKey]] = [:]
        for s in shards where !s.keySample.isEmpty { samples[s.desc.index] = s.keySample; s.keySample.removeAll(keepingCapacity: true) }
        guard let asc = config.autoScale else { return [] }
        let open = shards.filter { $0.isOpen }.sorted { $0.desc.startingHashKey < $1.desc.startingHashKey }
            .map { AutoScaler.Load(index: $0.desc.index, start: $0.desc.startingHashKey, end: $0.desc.endingHashKey,
                                   bytesPerSec: $0.bytesPerSec, recordsPerSec: $0.recordsPerSec) }
        var events: [ReshardEvent] = []
        for a in scaler.decide(open: open, config: asc) {
            switch a {
            case .split(let i):
                let s = shards[i]
                let mid = splitPoint(s, sample: samples[i] ?? [])
                let (x, y) = try splitLocked(i, at: mid)
                events.append(.split(parent: s.desc.shardId, children: [x.shardId, y.shardId]))
            case .merge(let i, let j):
                let c = try mergeLocked(i, j)
                events.append(.merged(parents: [ShardID.make(i), ShardID.make(j)], child: c.shardId))
            }
        }
        return events
    }

    /// Where to split a hot shard: the median of the hash keys it was written with lately, so
    /// the children share the load; the middle of its range when the sample holds one key only
    /// (one hot key cannot be spread by any split; Kinesis splits in the middle too).
    func splitPoint(_ s: Shard, sample: [HashKey]) -> HashKey {
        let lo = s.desc.startingHashKey, hi = s.desc.endingHashKey
        let middle = HashKey.midpoint(lo, hi).adding(1).0
        let sorted = sample.sorted()
        guard let first = sorted.first, let last = sorted.last, first != last else { return middle }
        var m = sorted[sorted.count / 2]
        if m == first { m = sorted.first { $0 > first } ?? middle } // keep the lowest key on the left
        return (lo < m && m <= hi) ? m : middle
    }

    // MARK: stats

    /// Per-shard figures for the snapshot (rates as of the last `tick`).
    public func shardStats() -> [ShardStats] {
        cond.lock(); defer { cond.unlock() }
        return shards.map { s in
            ShardStats(shardId: s.desc.shardId, state: s.desc.state.rawValue, startingHashKey: s.desc.startingHashKey.description,
                       endingHashKey: s.desc.endingHashKey.description, parentShardId: s.desc.parentShardId,
                       adjacentParentShardId: s.desc.adjacentParentShardId, recordsPerSec: s.recordsPerSec,
                       bytesPerSec: s.bytesPerSec, records: Int64(s.durableOffset - min(s.trimHorizon, s.durableOffset)),
                       sizeBytes: s.sizeBytes, throttles: s.throttles, hot: s.hot)
        }
    }

    /// Stream-wide counters the snapshot types do not carry per shard.
    public var reshardCounts: (splits: Int64, merges: Int64) {
        cond.lock(); defer { cond.unlock() }
        return (splitsTotal, mergesTotal)
    }

    /// Lag of every consumer application on every shard it still has to read:
    /// recordsBehind = durable end − next offset to read;
    /// millisBehindLatest = arrival of the newest durable record − arrival of the last record read
    /// (of the next unread one when it has read nothing yet), 0 when caught up;
    /// iteratorAgeMs = now − that same arrival time, 0 when caught up.
    public func consumerStats() -> [ConsumerStats] {
        let now = clock.nowMs()
        struct Row { var app: String; var idx: Int; var pos: UInt64; var end: UInt64; var tip: Int64; var last: Int64?; var ckpt: String? }
        var rows: [Row] = []
        cond.lock()
        for app in consumers.keys.sorted() {
            guard let st = consumers[app] else { continue }
            for s in shards {
                let idx = s.desc.index
                if finishedLocked(st, idx) { continue }
                rows.append(Row(app: app, idx: idx, pos: positionLocked(st, idx), end: s.durableOffset, tip: s.durableArrivalMs,
                                last: st.lastReadArrival[idx], ckpt: st.checkpointSeq[idx]))
            }
        }
        cond.unlock()
        return rows.map { r in
            let behind = r.end > r.pos ? Int64(r.end - r.pos) : 0
            var ms: Int64 = 0, age: Int64 = 0
            if behind > 0 {
                let ref = r.last ?? ((try? arrivalMs(shardIndex: r.idx, offset: r.pos)) ?? nil) ?? r.tip
                ms = max(0, r.tip - ref)
                age = max(0, now - ref)
            }
            return ConsumerStats(app: r.app, shardId: ShardID.make(r.idx), recordsBehind: behind, millisBehindLatest: ms,
                                 iteratorAgeMs: age, checkpoint: r.ckpt)
        }
    }
}
