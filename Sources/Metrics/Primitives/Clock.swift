import Foundation

/// Where live aggregates read "now", in epoch milliseconds. Injected so tests can roll windows
/// forward deterministically; the aggregates read it once per batch and once per snapshot, never
/// per event.
public protocol MetricsClock: Sendable {
    func nowMs() -> Int64
}

/// Wall clock (`CLOCK_REALTIME`), the default outside tests.
public struct SystemClock: MetricsClock {
    public init() {}
    public func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// A clock that only moves when told to. For tests and replays.
public final class ManualClock: MetricsClock, @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64
    public init(_ startMs: Int64 = 0) { value = startMs }
    public func nowMs() -> Int64 { lock.lock(); defer { lock.unlock() }; return value }
    public func set(_ ms: Int64) { lock.lock(); value = ms; lock.unlock() }
    public func advance(by ms: Int64) { lock.lock(); value += ms; lock.unlock() }
}
