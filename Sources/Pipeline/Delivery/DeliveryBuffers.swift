import Foundation

/// Records of one partition (site) from one shard waiting in a buffer: the future object.
/// A class, so the ingest loop appends in place after one lookup (no move out and back per record).
/// Its hot fields skip the runtime exclusivity check: one thread at a time touches a chunk (the
/// lock holder, or during a step the worker running its shard's lane while the lock holder waits).
final class ShardChunk {
    @exclusivity(unchecked) var lines = LineBuffer()
    var firstOffset: UInt64
    @exclusivity(unchecked) var lastOffset: UInt64
    @exclusivity(unchecked) var records = 0
    @exclusivity(unchecked) var oldestArrivalMs: Int64
    /// Arrival times of the records, run-length encoded (for the delivery latency of each record
    /// once the object is durable): the events of one collector request share their arrival
    /// time, so a run holds a request's records of this partition and shard. (One Int64 per record
    /// was 8 bytes more per event to grow, fault in and free per chunk.)
    @exclusivity(unchecked) private(set) var arrivals: [(ms: Int64, count: Int64)] = []
    init(firstOffset: UInt64, lastOffset: UInt64, oldestArrivalMs: Int64) {
        self.firstOffset = firstOffset; self.lastOffset = lastOffset; self.oldestArrivalMs = oldestArrivalMs
    }

    /// Memory the chunk holds: its arrays' capacity, not the bytes in them.
    var capacityBytes: Int { lines.capacity + arrivals.capacity * MemoryLayout<(ms: Int64, count: Int64)>.stride }

    @inline(__always) func add(offset: UInt64, arrivalMs: Int64) {
        lastOffset = offset; records += 1
        let n = arrivals.count
        if n > 0 && arrivals[n - 1].ms == arrivalMs { arrivals[n - 1].count += 1 } else { arrivals.append((arrivalMs, 1)) }
        if arrivalMs < oldestArrivalMs { oldestArrivalMs = arrivalMs }
    }

    func dropArrivals() { arrivals = [] }
}

/// A buffer per (delivery, partition). Its age counts from the first record buffered, like Firehose's.
final class PartitionBuffer {
    var site: String
    @exclusivity(unchecked) var chunks: [Int: ShardChunk] = [:]
    var firstBufferedAtMs: Int64
    init(site: String, firstBufferedAtMs: Int64) { self.site = site; self.firstBufferedAtMs = firstBufferedAtMs }

    // Totals over the chunks (at most one per shard), read by stats and the memory bound.
    var bytes: Int { chunks.values.reduce(0) { $0 + $1.lines.count } }
    var records: Int { chunks.values.reduce(0) { $0 + $1.records } }
    var oldestArrivalMs: Int64 { chunks.values.map(\.oldestArrivalMs).min() ?? 0 }
    /// The largest chunk, which is what the size hint bounds.
    var fillBytes: Int { chunks.values.reduce(0) { max($0, $1.lines.count) } }

    /// Memory the chunks hold: their arrays' capacity, not the bytes in them.
    var capacityBytes: Int {
        chunks.values.reduce(0) { $0 + $1.capacityBytes }
    }
}

/// Emptied chunk buffers kept for the next chunks (their capacity, not their bytes): a chunk
/// that starts with room neither regrows nor page-faults fresh memory per flush.
struct LinePool {
    private var buffers: [LineBuffer] = []
    /// Capacity kept (it counts against the delivery's memory budget).
    private(set) var bytes = 0

    mutating func take() -> LineBuffer {
        guard let b = buffers.popLast() else { return LineBuffer() }
        bytes -= b.capacity
        return b
    }

    /// Keeps `buffer`'s capacity (emptied) unless that passes `limit` bytes; false when not kept
    /// (the caller drops it, which frees its memory).
    mutating func give(_ buffer: LineBuffer, limit: Int) -> Bool {
        guard bytes + buffer.capacity <= limit && buffers.count < 4096 else { return false }
        buffer.removeAll()
        bytes += buffer.capacity
        buffers.append(buffer)
        return true
    }
}
