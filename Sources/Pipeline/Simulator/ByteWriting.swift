/// Small helpers to write JSON text straight into a byte array: the simulator and the collector's
/// record stamping build output from precomputed fragments, never through String interpolation.
extension Array where Element == UInt8 {
    @inline(__always) mutating func appendASCII(_ s: StaticString) {
        append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    /// Decimal digits of a non-negative or negative integer.
    @inline(__always) mutating func appendInt(_ v: Int64) {
        var x = v.magnitude
        if v < 0 { append(0x2D) }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { tmp in
            var i = 20
            repeat {
                i -= 1
                tmp[i] = UInt8(truncatingIfNeeded: x % 10) &+ 0x30
                x /= 10
            } while x > 0
            append(contentsOf: UnsafeBufferPointer(rebasing: tmp[i..<20]))
        }
    }

    /// Fixed-point with two decimals (prices).
    @inline(__always) mutating func appendCents(_ cents: Int64) {
        appendInt(cents / 100)
        append(0x2E)
        let c = Int(cents % 100)
        append(UInt8(c / 10) + 0x30)
        append(UInt8(c % 10) + 0x30)
    }

    /// Lower-case hex of `count` bytes taken from `bits` (up to 8), high byte first.
    @inline(__always) mutating func appendHex(_ bits: UInt64, bytes count: Int) {
        for k in stride(from: count - 1, through: 0, by: -1) {
            let b = Int((bits >> UInt64(k * 8)) & 0xFF)
            append(hexDigits[b >> 4])
            append(hexDigits[b & 0xF])
        }
    }

    /// A random (version 4) UUID in its 36-character text form.
    @inline(__always) mutating func appendUUID(_ hi: UInt64, _ lo: UInt64) {
        let h = (hi & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000
        let l = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        appendHex(h >> 32, bytes: 4); append(0x2D)
        appendHex(h >> 16, bytes: 2); append(0x2D)
        appendHex(h, bytes: 2); append(0x2D)
        appendHex(l >> 48, bytes: 2); append(0x2D)
        appendHex(l, bytes: 6)
    }
}

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
