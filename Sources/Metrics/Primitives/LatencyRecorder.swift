import Histogram

/// Latency in milliseconds over a sliding interval, summarised as p50/p99/max.
///
/// Two HDR histograms (1 ms … 1 hour, 2 significant digits): values go into `current`; every
/// `intervalMs` the current one becomes `previous`. A summary merges both, so it always covers
/// between one and two intervals of recent samples rather than everything since start.
public struct LatencyRecorder: Sendable {
    public static let highestTrackableMs: UInt64 = 3_600_000
    public let intervalMs: Int64
    private var current: Histogram<UInt64>
    private var previous: Histogram<UInt64>
    private var currentStartMs: Int64 = Int64.min
    /// Samples since start, including those rotated out.
    public private(set) var totalCount: Int64 = 0

    public init(intervalMs: Int64 = 10_000) {
        self.intervalMs = intervalMs
        current = Histogram(highestTrackableValue: Self.highestTrackableMs, numberOfSignificantValueDigits: .two)
        previous = current
    }

    /// Rotates the histograms if `nowMs` is past the current interval. Call once per batch.
    public mutating func roll(nowMs: Int64) {
        if currentStartMs == Int64.min { currentStartMs = nowMs; return }
        guard nowMs - currentStartMs >= intervalMs else { return }
        if nowMs - currentStartMs >= 2 * intervalMs {
            previous.reset()
        } else {
            swap(&previous, &current)
        }
        current.reset()
        currentStartMs = nowMs
    }

    @inline(__always)
    public mutating func record(ms: Int64, count: Int64 = 1) {
        let v = UInt64(clamping: ms)
        _ = current.record(Swift.min(v, Self.highestTrackableMs), count: UInt64(clamping: count))
        totalCount &+= count
    }

    public func summary() -> LatencySummary {
        var merged = previous
        merged.add(current)
        let n = merged.totalCount
        guard n > 0 else { return LatencySummary() }
        return LatencySummary(count: Int64(n), p50Ms: Double(merged.valueAtPercentile(50)),
                              p99Ms: Double(merged.valueAtPercentile(99)), maxMs: Double(merged.max))
    }
}
