import Foundation

/// Kinesis shard iterator types.
public enum ShardIteratorType: Sendable, Equatable {
    case trimHorizon
    case latest
    case atSequenceNumber(SequenceNumber)
    case afterSequenceNumber(SequenceNumber)
    /// Epoch milliseconds: the first record that arrived at or after it.
    case atTimestamp(Int64)
}

/// A position in one shard, handed to GetRecords. `token` is its opaque wire form.
public struct ShardIterator: Sendable, Hashable {
    public var streamName: String
    public var shardIndex: Int
    public var offset: UInt64
    public var issuedAtMs: Int64

    public static let lifetimeMs: Int64 = 5 * 60 * 1000

    public var shardId: String { ShardID.make(shardIndex) }

    public var token: String {
        Data("eddy1|\(streamName)|\(shardIndex)|\(offset)|\(issuedAtMs)".utf8).base64EncodedString()
    }

    public init(streamName: String, shardIndex: Int, offset: UInt64, issuedAtMs: Int64) {
        self.streamName = streamName; self.shardIndex = shardIndex; self.offset = offset; self.issuedAtMs = issuedAtMs
    }

    public init(token: String) throws {
        let bad = StreamError(.invalidArgument, "invalid ShardIterator: it was not issued by this stream")
        guard token.utf8.count <= 512, let d = Data(base64Encoded: token) else { throw bad }
        let parts = String(decoding: d, as: UTF8.self).split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "eddy1", let i = Int(parts[2]), let o = UInt64(parts[3]), let t = Int64(parts[4]) else { throw bad }
        self.init(streamName: String(parts[1]), shardIndex: i, offset: o, issuedAtMs: t)
    }
}

/// A GetRecords answer.
public struct GetRecordsResult: Sendable {
    public var batch: ReadBatch
    /// nil once a CLOSED shard has been read to its end.
    public var nextIterator: ShardIterator?
    public var millisBehindLatest: Int64
    /// Set only at the end of a CLOSED shard: the shards that continue its keys.
    public var childShards: [ShardDescriptor]?
}

extension ShardedStream {
    /// Reads up to `maxRecords` records / `maxBytes` bytes of data (at least one record when any is
    /// available) from `offset` on. Offsets below the trim horizon start at it and are counted in
    /// `skippedByRetention`. Only durable records are visible.
    public func read(shardId: String, from offset: UInt64, maxRecords: Int = 10_000, maxBytes: Int = 10 << 20) throws -> ReadBatch {
        try read(shardIndex: try shardIndex(shardId), from: offset, maxRecords: maxRecords, maxBytes: maxBytes)
    }

    /// `reusing`: an earlier batch whose arrays (emptied, capacity kept) this one reads into.
    func read(shardIndex idx: Int, from offset: UInt64, maxRecords: Int, maxBytes: Int, reusing old: consuming ReadBatch? = nil) throws -> ReadBatch {
        cond.lock()
        let s = shards[idx]
        let visibleEnd = s.durableOffset
        let trim = s.trimHorizon
        var batch = ReadBatch(shardIndex: idx, nextOffset: offset)
        var start = offset
        if start < trim { batch.skippedByRetention = trim - start; start = trim }
        batch.nextOffset = start
        guard start < visibleEnd, maxRecords > 0 else { cond.unlock(); return batch }
        // Segment holding `start`: the last one whose base ≤ start.
        var lo = 0, hi = s.segments.count - 1
        while lo < hi { let mid = (lo + hi + 1) / 2; if s.segments[mid].baseOffset <= start { lo = mid } else { hi = mid - 1 } }
        var segs: [(file: SegmentFile, size: Int64, startPos: Int64, avgFrame: Int)] = []
        for j in lo..<s.segments.count {
            let g = s.segments[j]
            var pos: Int64 = 0
            if j == lo {
                var a = 0, b = g.index.count - 1, found = -1
                while a <= b { let m = (a + b) / 2; if g.index[m].offset <= start { found = m; a = m + 1 } else { b = m - 1 } }
                if found >= 0 { pos = g.index[found].position }
            }
            let n = g.nextOffset - g.baseOffset
            segs.append((g.file, g.size, pos, n > 0 ? Int(g.size / Int64(n)) + 1 : 512))
            if g.nextOffset >= visibleEnd { break }
        }
        cond.unlock()

        var cur = start
        var bytes: [UInt8] = []
        var records: [ReadBatch.Record] = []
        if var o = consume old { swap(&bytes, &o.bytes); swap(&records, &o.records) }   // moved, so unique: emptied in place
        bytes.removeAll(keepingCapacity: true)
        records.removeAll(keepingCapacity: true)
        var dataBytes = 0
        records.reserveCapacity(min(maxRecords, 4096))
        let chunk = 64 << 10
        outer: for seg in segs {
            // A sealed segment is opened for this read only; gone means retention just took it
            // (the next read starts past the trim horizon).
            guard let file = try seg.file.forReading() else { break }
            let g = (file: file, size: seg.size, startPos: seg.startPos, avgFrame: seg.avgFrame)
            var pos = g.startPos
            // One pread sized to what the limits will likely take (frames average `avgFrame`
            // bytes here), so a typical read is a single syscall into the batch's own buffer.
            let left = UInt64(max(0, maxRecords - records.count))
            let byRecords = left > UInt64(Int.max / 2) / UInt64(g.avgFrame) ? Int.max / 2 : Int(left) * g.avgFrame
            let byBytes = maxBytes >= Int.max / 4 ? Int.max / 2 : (maxBytes - dataBytes) + (maxBytes - dataBytes) / 8
            var want = max(chunk, min(byRecords + (16 << 10), byBytes + (16 << 10), 32 << 20))
            while pos < g.size && cur < visibleEnd && records.count < maxRecords {
                let base = bytes.count
                let n = min(Int64(want), g.size - pos)
                let got = try FileIO.pread(g.file.fd, into: &bytes, count: Int(n), at: pos, path: g.file.path)
                if got == 0 { break }
                var p = base
                var consumedTo = base
                var stop = false
                var needMore = 0
                try bytes.withUnsafeBytes { raw in
                    while p < raw.count {
                        switch Frame.parse(raw, at: p, verify: true) {
                        case .frame(let f):
                            if f.offset < cur { p += f.frameSize; consumedTo = p; continue }
                            if f.offset != cur {
                                throw StreamError(.corrupt, "shard \(ShardID.make(idx)) expected offset \(cur) but found \(f.offset)", path: g.file.path)
                            }
                            if cur >= visibleEnd { stop = true; return }
                            if !records.isEmpty && dataBytes + f.dataCount + f.keyCount > maxBytes { stop = true; return }
                            records.append(ReadBatch.Record(offset: f.offset, arrivalMs: f.arrivalMs, keyStart: f.keyStart,
                                                                  keyCount: f.keyCount, dataStart: f.dataStart, dataCount: f.dataCount))
                            dataBytes += f.dataCount + f.keyCount
                            cur += 1
                            p += f.frameSize
                            consumedTo = p
                            if records.count >= maxRecords || cur >= visibleEnd { stop = true; return }
                        case .incomplete(let needed):
                            needMore = needed
                            return
                        case .bad(let why):
                            throw StreamError(.corrupt, "shard \(ShardID.make(idx)) offset \(cur): \(why)", path: g.file.path)
                        }
                    }
                }
                // Drop bytes past the last frame we kept; re-read a split frame next round.
                pos += Int64(consumedTo - base)
                bytes.removeLast(bytes.count - consumedTo)
                if stop { break outer }
                if needMore > 0 {
                    if pos + Int64(needMore) > g.size { break } // frame past the durable size: end of segment
                    want = max(want, needMore)
                }
            }
        }
        batch.bytes = bytes; batch.records = records; batch.dataBytes = dataBytes
        batch.nextOffset = cur
        return batch
    }

    /// Offset of the first record that arrived at or after `timestampMs` (the visible end if none).
    public func offset(shardId: String, atTimestamp ts: Int64) throws -> UInt64 {
        let idx = try shardIndex(shardId)
        cond.lock()
        let s = shards[idx]
        let end = s.durableOffset
        var from: UInt64? = nil
        for g in s.segments where !g.isEmpty && g.lastArrivalMs >= ts {
            from = g.baseOffset
            for e in g.index where e.arrivalMs < ts { from = e.offset }
            break
        }
        cond.unlock()
        guard var o = from else { return end }
        while o < end {
            let b = try read(shardIndex: idx, from: o, maxRecords: 1000, maxBytes: 16 << 20)
            if b.records.isEmpty { break }
            if let r = b.records.first(where: { $0.arrivalMs >= ts }) { return r.offset }
            o = b.nextOffset
        }
        return o
    }

    /// GetShardIterator.
    public func shardIterator(shardId: String, type: ShardIteratorType) throws -> ShardIterator {
        let idx = try shardIndex(shardId)
        let now = clock.nowMs()
        let (trim, end) = try bounds(shardId: shardId)
        let offset: UInt64
        switch type {
        case .trimHorizon: offset = trim
        case .latest: offset = end
        case .atSequenceNumber(let q), .afterSequenceNumber(let q):
            guard q.shardIndex == idx else {
                throw StreamError(.invalidArgument, "sequence number \(q) belongs to \(ShardID.make(q.shardIndex)), not \(shardId)")
            }
            guard q.offset < UInt64.max else { throw StreamError(.invalidArgument, "sequence number \(q) is out of range") }
            if case .afterSequenceNumber = type { offset = q.offset + 1 } else { offset = q.offset }
        case .atTimestamp(let ts):
            offset = try self.offset(shardId: shardId, atTimestamp: ts)
        }
        return ShardIterator(streamName: config.name, shardIndex: idx, offset: offset, issuedAtMs: now)
    }

    /// GetRecords: a batch from the iterator's position, the next iterator (nil past the end of a
    /// CLOSED shard, with its children then listed), and how far behind the tip the reader is.
    public func getRecords(_ it: ShardIterator, limit: Int = 10_000, maxBytes: Int = 10 << 20) throws -> GetRecordsResult {
        let now = clock.nowMs()
        guard it.streamName == config.name else {
            throw StreamError(.invalidArgument, "iterator is for stream \(it.streamName), not \(config.name)")
        }
        guard it.issuedAtMs >= now - ShardIterator.lifetimeMs else {
            throw StreamError(.expiredIterator, "Iterator expired: it was issued \((now &- it.issuedAtMs) / 1000) s ago; iterators live 300 s. Get a new one with GetShardIterator.")
        }
        guard limit >= 1 && limit <= 10_000 else { throw StreamError(.invalidArgument, "Limit \(limit) must be 1…10000") }
        guard it.shardIndex >= 0 && it.shardIndex < shardCountIncludingClosed else {
            throw StreamError(.resourceNotFound, "shard \(it.shardId) not found in stream \(config.name)")
        }
        let batch = try read(shardIndex: it.shardIndex, from: it.offset, maxRecords: limit, maxBytes: maxBytes)
        cond.lock()
        let s = shards[it.shardIndex]
        let end = s.durableOffset
        let closedEnd = !s.isOpen && batch.nextOffset >= s.nextOffset
        let tip = s.durableArrivalMs
        let children = closedEnd ? shards.filter { $0.desc.parents.contains(s.desc.shardId) }.map { $0.desc } : nil
        cond.unlock()
        var behind: Int64 = 0
        if batch.nextOffset < end {
            if let last = batch.records.last { behind = max(0, tip - last.arrivalMs) }
            else if let a = try arrivalMs(shardIndex: it.shardIndex, offset: batch.nextOffset) { behind = max(0, tip - a) }
        }
        return GetRecordsResult(batch: batch,
                                nextIterator: closedEnd ? nil : ShardIterator(streamName: config.name, shardIndex: it.shardIndex,
                                                                              offset: batch.nextOffset, issuedAtMs: now),
                                millisBehindLatest: behind, childShards: children)
    }

    var shardCountIncludingClosed: Int { cond.lock(); defer { cond.unlock() }; return shards.count }

    func arrivalMs(shardIndex: Int, offset: UInt64) throws -> Int64? {
        let b = try read(shardIndex: shardIndex, from: offset, maxRecords: 1, maxBytes: 1)
        return b.records.first?.arrivalMs
    }
}
