/// A ring of fixed-width time buckets: "how many in each of the last N seconds (or minutes)".
///
/// The ring holds `buckets` complete buckets plus the current, partial one. Time only moves
/// forward: adding at a later bucket zeroes the buckets skipped over (a gap longer than the whole
/// window zeroes the ring once, not once per missed bucket); adding at a bucket that has already
/// left the ring is dropped and counted in `dropped`. Pure state: the caller passes the time.
public struct WindowedCounter: Sendable, Equatable {
    public let bucketMs: Int64
    /// Complete buckets kept for `history`.
    public let buckets: Int
    private var counts: [Int64]
    /// Absolute index (ms / bucketMs) of the current, partial bucket; -1 before the first add.
    public private(set) var headBucket: Int64 = -1
    public private(set) var total: Int64 = 0
    /// Adds that arrived after their bucket had left the ring.
    public private(set) var dropped: Int64 = 0

    public init(bucketMs: Int64, buckets: Int) {
        precondition(bucketMs > 0 && buckets > 0)
        self.bucketMs = bucketMs
        self.buckets = buckets
        counts = Array(repeating: 0, count: buckets + 1)
    }

    /// 1-second buckets for 10 minutes.
    public static func perSecond(minutes: Int = 10) -> WindowedCounter { WindowedCounter(bucketMs: 1000, buckets: minutes * 60) }
    /// 1-minute buckets for 24 hours.
    public static func perMinute(hours: Int = 24) -> WindowedCounter { WindowedCounter(bucketMs: 60_000, buckets: hours * 60) }

    @inlinable @inline(__always)
    static func bucket(_ ms: Int64, _ width: Int64) -> Int64 { ms >= 0 ? ms / width : (ms - width + 1) / width }

    @inline(__always)
    static func slot(_ b: Int64, _ ring: Int64) -> Int { let r = b % ring; return Int(r < 0 ? r + ring : r) }

    @inline(__always)
    public mutating func add(_ n: Int64 = 1, atMs ms: Int64) {
        let b = Self.bucket(ms, bucketMs)
        if b > headBucket { advance(toBucket: b) }
        let ring = Int64(counts.count)
        total &+= n
        if b <= headBucket - ring { dropped &+= n; return }
        counts[Self.slot(b, ring)] &+= n
    }

    /// Moves the head to the bucket containing `ms`, zeroing what rolled out. No-op for the past.
    public mutating func advance(toMs ms: Int64) {
        let b = Self.bucket(ms, bucketMs)
        if b > headBucket { advance(toBucket: b) }
    }

    private mutating func advance(toBucket b: Int64) {
        let ring = Int64(counts.count)
        if headBucket < 0 || b - headBucket >= ring {
            for i in counts.indices { counts[i] = 0 }
        } else {
            var x = headBucket + 1
            while x <= b { counts[Self.slot(x, ring)] = 0; x += 1 }
        }
        headBucket = b
    }

    /// Count in the bucket `ago` buckets before the current one (0 = current, partial).
    public func count(bucketsAgo ago: Int) -> Int64 {
        guard headBucket >= 0, ago >= 0, ago < counts.count else { return 0 }
        let ring = Int64(counts.count)
        return counts[Self.slot(headBucket - Int64(ago), ring)]
    }

    /// Sum of the last `n` complete buckets (the current partial bucket excluded).
    public func sumOfComplete(last n: Int) -> Int64 {
        var s: Int64 = 0
        for ago in 1...max(1, min(n, buckets)) { s &+= count(bucketsAgo: ago) }
        return s
    }

    /// Per-second rate over the last `n` complete buckets.
    public func rate(overLast n: Int) -> Double {
        let k = max(1, min(n, buckets))
        return Double(sumOfComplete(last: k)) / (Double(k) * Double(bucketMs) / 1000)
    }

    /// Per-second rate over the last `n` complete buckets before `nowMs`'s bucket. For node-level
    /// figures (shard write rate, collector requests/s): `add` as things happen, read with this.
    public mutating func rate(overLast n: Int, nowMs: Int64) -> Double {
        advance(toMs: nowMs)
        return rate(overLast: n)
    }

    /// The `buckets` complete buckets before `nowMs`'s bucket, oldest first. Advances to `nowMs`.
    public mutating func history(nowMs: Int64) -> [Double] {
        advance(toMs: nowMs)
        var out = [Double](repeating: 0, count: buckets)
        for i in 0..<buckets { out[i] = Double(count(bucketsAgo: buckets - i)) }
        return out
    }
}
