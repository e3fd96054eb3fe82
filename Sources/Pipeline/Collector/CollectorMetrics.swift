import Foundation
import Metrics

/// The collector's own counters: requests by route and status, records and bytes in, rejects by
/// code, ack latency. Served on /metrics and folded into `CollectorStats` for snapshots.
public final class CollectorMetrics: @unchecked Sendable {
    /// Ack latency histogram bounds, seconds.
    static let bounds: [Double] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

    private let lock = NSLock()
    private var requests: [String: [Int: Int64]] = [:]
    private var recordsIn: Int64 = 0
    private var bytesIn: Int64 = 0
    private var rejects: [String: Int64] = [:]
    private var ackBuckets = [Int64](repeating: 0, count: CollectorMetrics.bounds.count + 1)
    private var ackSum: Double = 0
    private var ackCount: Int64 = 0
    private var last: (t: Double, events: Int64, bytes: Int64, requests: Int64, rejects: Int64) = (Date().timeIntervalSince1970, 0, 0, 0, 0)
    private var rates: (events: Double, bytes: Double, requests: Double, rejects: Double) = (0, 0, 0, 0)

    public init() {}

    public func request(route: String, status: Int) {
        lock.lock(); requests[route, default: [:]][status, default: 0] += 1; lock.unlock()
    }

    public func accepted(records: Int, bytes: Int) {
        lock.lock(); recordsIn += Int64(records); bytesIn += Int64(bytes); lock.unlock()
    }

    public func rejected(code: String, count: Int = 1) {
        guard count > 0 else { return }
        lock.lock(); rejects[code, default: 0] += Int64(count); lock.unlock()
    }

    public func ackLatency(seconds: Double) {
        var i = 0
        while i < Self.bounds.count && seconds > Self.bounds[i] { i += 1 }
        lock.lock(); ackBuckets[i] += 1; ackSum += seconds; ackCount += 1; lock.unlock()
    }

    public var totals: (records: Int64, bytes: Int64, rejects: [String: Int64]) {
        lock.lock(); defer { lock.unlock() }
        return (recordsIn, bytesIn, rejects)
    }

    public func requestCount(route: String, status: Int) -> Int64 {
        lock.lock(); defer { lock.unlock() }
        return requests[route]?[status] ?? 0
    }

    /// Quantile from the histogram (upper bound of the bucket holding it), ms.
    private func quantileMs(_ q: Double) -> Double {
        guard ackCount > 0 else { return 0 }
        let target = Int64((Double(ackCount) * q).rounded(.up))
        var acc: Int64 = 0
        for (i, c) in ackBuckets.enumerated() {
            acc += c
            if acc >= target { return (i < Self.bounds.count ? Self.bounds[i] : Self.bounds.last! * 2) * 1000 }
        }
        return Self.bounds.last! * 1000
    }

    /// The collector part of a `NodeSnapshot`. Rates are over the time since the previous call.
    public func stats() -> CollectorStats {
        lock.lock(); defer { lock.unlock() }
        let now = Date().timeIntervalSince1970
        let reqTotal = requests.values.reduce(0) { $0 + $1.values.reduce(0, +) }
        let rejTotal = rejects.values.reduce(0, +)
        let dt = now - last.t
        if dt >= 0.5 {
            rates = (Double(recordsIn - last.events) / dt, Double(bytesIn - last.bytes) / dt,
                     Double(reqTotal - last.requests) / dt, Double(rejTotal - last.rejects) / dt)
            last = (now, recordsIn, bytesIn, reqTotal, rejTotal)
        }
        var lat = LatencySummary()
        lat.count = ackCount; lat.p50Ms = quantileMs(0.5); lat.p99Ms = quantileMs(0.99)
        return CollectorStats(eventsPerSec: rates.events, bytesPerSec: rates.bytes, requestsPerSec: rates.requests,
                              eventsTotal: recordsIn, bytesTotal: bytesIn, rejectsByCode: rejects,
                              rejectsPerSec: rates.rejects, ackLatency: lat)
    }

    /// Prometheus text exposition (0.0.4) of the collector's own series.
    public func prometheusText() -> String {
        lock.lock(); defer { lock.unlock() }
        var s = "# HELP eddy_collector_requests_total HTTP requests by route and status.\n# TYPE eddy_collector_requests_total counter\n"
        for route in requests.keys.sorted() {
            for status in requests[route]!.keys.sorted() {
                s += "eddy_collector_requests_total{route=\"\(route)\",status=\"\(status)\"} \(requests[route]![status]!)\n"
            }
        }
        s += "# HELP eddy_collector_records_in_total Records accepted and durable.\n# TYPE eddy_collector_records_in_total counter\neddy_collector_records_in_total \(recordsIn)\n"
        s += "# HELP eddy_collector_bytes_in_total Bytes of accepted records.\n# TYPE eddy_collector_bytes_in_total counter\neddy_collector_bytes_in_total \(bytesIn)\n"
        s += "# HELP eddy_collector_rejects_total Rejected records by code.\n# TYPE eddy_collector_rejects_total counter\n"
        for code in rejects.keys.sorted() { s += "eddy_collector_rejects_total{code=\"\(code)\"} \(rejects[code]!)\n" }
        s += "# HELP eddy_collector_ack_latency_seconds Request arrival to durable ack.\n# TYPE eddy_collector_ack_latency_seconds histogram\n"
        var acc: Int64 = 0
        for (i, b) in Self.bounds.enumerated() {
            acc += ackBuckets[i]
            s += "eddy_collector_ack_latency_seconds_bucket{le=\"\(b)\"} \(acc)\n"
        }
        acc += ackBuckets.last!
        s += "eddy_collector_ack_latency_seconds_bucket{le=\"+Inf\"} \(acc)\n"
        s += "eddy_collector_ack_latency_seconds_sum \(ackSum)\neddy_collector_ack_latency_seconds_count \(ackCount)\n"
        return s
    }
}
