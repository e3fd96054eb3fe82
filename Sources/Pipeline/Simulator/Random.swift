/// Deterministic random numbers for the simulator and tests: the same seed gives the same traffic.

/// SplitMix64: seeds other generators and serves tests.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    @inline(__always) public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256**: fast, good quality; the simulator's per-event generator.
public struct Xoshiro256: RandomNumberGenerator, Sendable {
    var s0, s1, s2, s3: UInt64
    public init(seed: UInt64) {
        var sm = SplitMix64(seed: seed)
        s0 = sm.next(); s1 = sm.next(); s2 = sm.next(); s3 = sm.next()
    }
    @inline(__always) public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }
    @inline(__always) func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, n).
    @inline(__always) public mutating func below(_ n: Int) -> Int {
        Int(truncatingIfNeeded: ((next() >> 32) &* UInt64(n)) >> 32)
    }
    /// Uniform in [0, 1).
    @inline(__always) public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
    @inline(__always) public mutating func chance(_ p: Double) -> Bool { unit() < p }
}

/// Walker's alias method: O(1) sampling from a fixed discrete distribution.
public struct AliasTable: Sendable {
    var prob: [Double]
    var alias: [Int32]

    public init(weights: [Double]) {
        let n = weights.count
        let total = weights.reduce(0, +)
        prob = Array(repeating: 1, count: max(n, 1))
        alias = Array(repeating: 0, count: max(n, 1))
        guard n > 0, total > 0 else { return }
        var scaled = weights.map { $0 * Double(n) / total }
        var small: [Int] = [], large: [Int] = []
        for (i, w) in scaled.enumerated() { if w < 1 { small.append(i) } else { large.append(i) } }
        while let s = small.popLast(), let l = large.last {
            prob[s] = scaled[s]
            alias[s] = Int32(l)
            scaled[l] -= 1 - scaled[s]
            if scaled[l] < 1 { large.removeLast(); small.append(l) }
        }
        for i in large { prob[i] = 1 }
        for i in small { prob[i] = 1 }
    }

    @inline(__always) public func sample(_ rng: inout Xoshiro256) -> Int {
        let i = rng.below(prob.count)
        return rng.unit() < prob[i] ? i : Int(alias[i])
    }
}
