import Foundation

/// HyperLogLog distinct counter (Flajolet et al. 2007) over 64-bit hashes.
///
/// `2^precision` one-byte registers; precision 14 is 16 KiB with a standard error of
/// 1.04 / sqrt(2^14) ≈ 0.81 %. Small cardinalities use linear counting; with 64-bit hashes no
/// large-range correction is needed. Sketches of equal precision merge by register-wise max, which
/// is how "active visitors in the last 5 minutes" is a union of five one-minute sketches.
public struct HyperLogLog: Sendable, Equatable {
    public let precision: Int
    public private(set) var registers: [UInt8]

    public init(precision: Int = 14) {
        precondition((4...18).contains(precision), "HyperLogLog precision must be 4...18")
        self.precision = precision
        registers = [UInt8](repeating: 0, count: 1 << precision)
    }

    public var registerCount: Int { 1 << precision }

    /// 1.04 / sqrt(m): the documented relative standard error of `estimate`.
    public var standardError: Double { 1.04 / Double(registerCount).squareRoot() }

    /// Adds a 64-bit hash; it is re-mixed, so caller hashes need not be well distributed.
    /// Returns true when a register changed (the estimate may have moved).
    @inline(__always) @discardableResult
    public mutating func add(hash: UInt64) -> Bool {
        addMixed(Hash64.mix(hash))
    }

    /// Adds a hash that is already uniformly mixed (skips `Hash64.mix`).
    @inline(__always) @discardableResult
    public mutating func addMixed(_ h: UInt64) -> Bool {
        let p = precision
        return registers.withUnsafeMutableBufferPointer { Self.add(h, precision: p, registers: $0.baseAddress!) }
    }

    /// The register update on raw storage, shared with the live aggregates' pointer-based sketches.
    @inline(__always)
    static func add(_ h: UInt64, precision: Int, registers: UnsafeMutablePointer<UInt8>) -> Bool {
        let p = UInt64(truncatingIfNeeded: precision)
        let index = Int(truncatingIfNeeded: h >> (64 &- p))
        // A guard bit stops the rank at 64 - p + 1 when the remaining bits are all zero.
        let rest = (h << p) | (1 << (p &- 1))
        let rank = UInt8(truncatingIfNeeded: rest.leadingZeroBitCount &+ 1)
        if rank > registers[index] { registers[index] = rank; return true }
        return false
    }

    public mutating func merge(_ other: HyperLogLog) {
        precondition(other.precision == precision, "merging HyperLogLogs of different precision")
        registers.withUnsafeMutableBufferPointer { a in
            other.registers.withUnsafeBufferPointer { b in
                for i in 0..<a.count { a[i] = Swift.max(a[i], b[i]) }
            }
        }
    }

    public mutating func reset() {
        registers.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    public var isEmpty: Bool { !registers.contains { $0 != 0 } }

    public func estimate() -> Double {
        registers.withUnsafeBufferPointer { Self.estimate(registers: $0) }
    }

    static func estimate(registers r: UnsafeBufferPointer<UInt8>) -> Double {
        let m = Double(r.count)
        // Histograms of register values, then one weighted sum. Four interleaved histograms
        // because neighbouring registers often hold the same value, and one histogram would make
        // each increment wait for the previous one; a chain of dependent floating-point adds
        // would be slower still.
        var histogram = [Int](repeating: 0, count: 4 * 64)
        histogram.withUnsafeMutableBufferPointer { h in
            let n = r.count & ~3
            var i = 0
            while i < n {
                h[Int(r[i] & 63)] &+= 1
                h[64 &+ Int(r[i &+ 1] & 63)] &+= 1
                h[128 &+ Int(r[i &+ 2] & 63)] &+= 1
                h[192 &+ Int(r[i &+ 3] & 63)] &+= 1
                i &+= 4
            }
            while i < r.count { h[Int(r[i] & 63)] &+= 1; i &+= 1 }
        }
        var sum = 0.0
        var zeros = 0
        for k in 0..<64 {
            let c = histogram[k] + histogram[64 + k] + histogram[128 + k] + histogram[192 + k]
            if k == 0 { zeros = c }
            if c > 0 { sum += Double(c) * inversePowers[k] }
        }
        let alpha: Double
        switch r.count {
        case 16: alpha = 0.673
        case 32: alpha = 0.697
        case 64: alpha = 0.709
        default: alpha = 0.7213 / (1 + 1.079 / m)
        }
        let raw = alpha * m * m / sum
        if raw <= 2.5 * m && zeros > 0 {
            return m * log(m / Double(zeros))
        }
        return raw
    }

    public var count: Int64 { Int64(estimate().rounded()) }

    /// 2^-k for every possible register value.
    private static let inversePowers: [Double] = (0..<66).map { pow(2.0, -Double($0)) }
}
