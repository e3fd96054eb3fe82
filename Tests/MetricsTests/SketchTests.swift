import XCTest
@testable import Metrics

/// Deterministic generator so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// Zipf(s) sampler over 1...n by inverse CDF (binary search on the cumulative weights).
struct Zipf {
    let cdf: [Double]
    init(n: Int, s: Double) {
        var acc = 0.0
        var c = [Double](); c.reserveCapacity(n)
        for k in 1...n { acc += 1 / pow(Double(k), s); c.append(acc) }
        cdf = c.map { $0 / acc }
    }
    func sample(_ rng: inout SplitMix64) -> Int {
        let u = Double(rng.next() >> 11) / Double(1 << 53)
        var lo = 0, hi = cdf.count - 1
        while lo < hi { let mid = (lo + hi) / 2; if cdf[mid] < u { lo = mid + 1 } else { hi = mid } }
        return lo + 1
    }
}

final class HyperLogLogTests: XCTestCase {
    func testEstimateOfOneMillionDistinctIdsIsWithinThreeStandardErrors() {
        var hll = HyperLogLog(precision: 14)
        // Sequential ids: the sketch must not rely on the caller's hash being random.
        for id in 1...1_000_000 as ClosedRange<UInt64> { hll.add(hash: id) }
        let estimate = hll.estimate()
        let relativeError = abs(estimate - 1_000_000) / 1_000_000
        XCTAssertEqual(hll.standardError, 1.04 / 128, accuracy: 1e-12)
        XCTAssertLessThan(relativeError, 3 * hll.standardError, "estimate \(estimate)")
    }

    func testSmallCardinalitiesAreNearlyExact() {
        var hll = HyperLogLog(precision: 14)
        XCTAssertEqual(hll.count, 0)
        for id in 0..<1000 as Range<UInt64> { hll.add(hash: id &* 7919) }
        XCTAssertEqual(Double(hll.count), 1000, accuracy: 10)
    }

    func testRepeatsDoNotCount() {
        var hll = HyperLogLog(precision: 12)
        for _ in 0..<50 { for id in 0..<500 as Range<UInt64> { hll.add(hash: id) } }
        XCTAssertEqual(Double(hll.count), 500, accuracy: 15)
    }

    func testMergeEstimatesTheUnion() {
        var a = HyperLogLog(precision: 14), b = HyperLogLog(precision: 14), both = HyperLogLog(precision: 14)
        for id in 0..<60_000 as Range<UInt64> { a.add(hash: id); both.add(hash: id) }
        for id in 40_000..<100_000 as Range<UInt64> { b.add(hash: id); both.add(hash: id) }
        a.merge(b)
        XCTAssertEqual(a, both, "union by register max equals the sketch of the union")
        XCTAssertEqual(a.estimate(), 100_000, accuracy: 100_000 * 3 * a.standardError)
    }
}

final class SpaceSavingTests: XCTestCase {
    func testFindsNineOfTheTrueTopTenOnZipfData() {
        var rng = SplitMix64(seed: 42)
        let zipf = Zipf(n: 50_000, s: 1.1)
        var exact: [Int: Int64] = [:]
        var ss = SpaceSaving(capacity: 128, nameBytes: 16)
        let n = 300_000
        for _ in 0..<n {
            let k = zipf.sample(&rng)
            exact[k, default: 0] += 1
            let name = "/p/\(k)"
            let bytes = Array(name.utf8)
            // Keys are hashes of the name, as the pipeline will send them.
            let key = bytes.withUnsafeBytes { Hash64.hash($0) }
            bytes.withUnsafeBytes { ss.add(key, name: $0) }
        }
        XCTAssertEqual(ss.total, Int64(n))
        let trueTop = Set(exact.sorted { $0.value > $1.value }.prefix(10).map { "/p/\($0.key)" })
        let reported = ss.top(10)
        let hits = reported.filter { trueTop.contains($0.name) }.count
        XCTAssertGreaterThanOrEqual(hits, 9, "recall \(hits)/10")
        for r in reported {
            let k = Int(r.name.dropFirst(3))!
            let truth = exact[k] ?? 0
            XCTAssertLessThanOrEqual(r.count - r.error, truth, "\(r.name) lower bound")
            XCTAssertGreaterThanOrEqual(r.count, truth, "\(r.name) upper bound")
            XCTAssertLessThanOrEqual(r.error, Int64(n) / 128, "error within total / capacity")
        }
    }

    func testCountsAreExactWhileKeysFit() {
        var ss = SpaceSaving(capacity: 8, nameBytes: 4)
        let names = ["a", "bb", "ccc", "dddd-cut"]
        for (i, name) in names.enumerated() {
            for _ in 0...i { Array(name.utf8).withUnsafeBytes { ss.add(UInt64(i + 1), name: $0) } }
        }
        let top = ss.top(10)
        XCTAssertEqual(top.map(\.name), ["dddd", "ccc", "bb", "a"], "names cut to nameBytes")
        XCTAssertEqual(top.map(\.count), [4, 3, 2, 1])
        XCTAssertEqual(top.map(\.error), [0, 0, 0, 0])
    }

    func testEvictionInheritsTheMinimumAsError() {
        var ss = SpaceSaving(capacity: 2, nameBytes: 4)
        let none = UnsafeRawBufferPointer(start: nil, count: 0)
        for _ in 0..<5 { ss.add(1, name: none) }
        for _ in 0..<3 { ss.add(2, name: none) }
        ss.add(3, name: none)  // takes key 2's counter: count 4, error 3
        XCTAssertEqual(ss.estimate(3).count, 4)
        XCTAssertEqual(ss.estimate(3).error, 3)
        XCTAssertEqual(ss.estimate(2).count, 0)
        // The index must still find every key after deletions shifted the probe chains.
        for k in 10..<200 as Range<UInt64> { ss.add(k, name: none); XCTAssertGreaterThan(ss.estimate(k).count, 0) }
        XCTAssertEqual(ss.trackedCount, 2)
    }
}

final class WindowedCounterTests: XCTestCase {
    func testBucketsRollForwardAndHistoryIsOldestFirst() {
        var w = WindowedCounter(bucketMs: 1000, buckets: 5)
        let t0: Int64 = 1_700_000_000_000
        w.add(atMs: t0)
        w.add(2, atMs: t0 + 1500)
        w.add(3, atMs: t0 + 2999)
        XCTAssertEqual(w.count(bucketsAgo: 0), 3)
        XCTAssertEqual(w.history(nowMs: t0 + 3000), [0, 0, 1, 2, 3])
        XCTAssertEqual(w.rate(overLast: 2), 2.5)
        XCTAssertEqual(w.history(nowMs: t0 + 5000), [1, 2, 3, 0, 0])
        XCTAssertEqual(w.history(nowMs: t0 + 8000), [0, 0, 0, 0, 0], "everything rolled out")
        XCTAssertEqual(w.total, 6)
    }

    func testRateReadAtALaterTimeSeesTheQuietSeconds() {
        var w = WindowedCounter.perSecond(minutes: 1)
        let t0: Int64 = 1_700_000_000_000
        for s in 0..<10 { w.add(100, atMs: t0 + Int64(s) * 1000) }
        XCTAssertEqual(w.rate(overLast: 5, nowMs: t0 + 10_000), 100)
        XCTAssertEqual(w.rate(overLast: 5, nowMs: t0 + 12_000), 60, "two of the five seconds were quiet")
        XCTAssertEqual(w.rate(overLast: 5, nowMs: t0 + 60_000), 0)
    }

    func testGapLongerThanTheWindowClearsEverything() {
        var w = WindowedCounter.perSecond()
        let t0: Int64 = 1_700_000_000_000
        for s in 0..<600 { w.add(Int64(s + 1), atMs: t0 + Int64(s) * 1000) }
        w.advance(toMs: t0 + 600_000)
        XCTAssertEqual(w.sumOfComplete(last: 600), Int64(600 * 601 / 2))
        w.add(atMs: t0 + 3 * 3_600_000)
        XCTAssertEqual(w.sumOfComplete(last: 600), 0)
        XCTAssertEqual(w.count(bucketsAgo: 0), 1)
    }

    func testAddsOlderThanTheRingAreDroppedNotMisfiled() {
        var w = WindowedCounter(bucketMs: 60_000, buckets: 3)
        let t0: Int64 = 1_700_000_000_000 / 60_000 * 60_000
        w.add(atMs: t0 + 10 * 60_000)
        w.add(5, atMs: t0)  // ten minutes late, ring holds four
        XCTAssertEqual(w.dropped, 5)
        XCTAssertEqual(w.history(nowMs: t0 + 11 * 60_000), [0, 0, 1])
        w.add(7, atMs: t0 + 8 * 60_000)  // late but still inside the ring
        XCTAssertEqual(w.history(nowMs: t0 + 11 * 60_000), [7, 0, 1])
    }
}
