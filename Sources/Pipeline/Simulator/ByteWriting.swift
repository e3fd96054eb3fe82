/// Writes JSON text straight into raw memory: the simulator builds each event in a scratch buffer
/// from precomputed fragments and appends it to the output once, instead of ~30 array appends.

/// Byte fragments laid out once in one allocation, addressed by (offset, length): reading one
/// costs no retain/release, unlike an array of arrays.
final class FragmentArena: @unchecked Sendable {
    private(set) var storage: [UInt8] = []
    private var frozen: UnsafeMutablePointer<UInt8>?

    struct Ref: Sendable { var offset: Int32; var count: Int32 }

    func add(_ s: String) -> Ref { add(Array(s.utf8)) }
    func add(_ b: [UInt8]) -> Ref {
        let r = Ref(offset: Int32(storage.count), count: Int32(b.count))
        storage.append(contentsOf: b)
        return r
    }

    /// Copies the fragments to stable memory; `base` is valid for the arena's lifetime.
    func freeze() {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, storage.count))
        storage.withUnsafeBufferPointer { b in if let s = b.baseAddress { p.initialize(from: s, count: b.count) } }
        frozen = p
    }
    var base: UnsafePointer<UInt8> { UnsafePointer(frozen!) }
    deinit { frozen?.deallocate() }
}

/// A write position in a buffer the caller made large enough (the simulator bounds an event's size).
struct ByteCursor {
    var p: UnsafeMutablePointer<UInt8>

    @inline(__always) mutating func put(_ b: UInt8) { p.pointee = b; p += 1 }

    @inline(__always) mutating func put(_ s: StaticString) {
        let n = s.utf8CodeUnitCount
        p.update(from: s.utf8Start, count: n)
        p += n
    }

    @inline(__always) mutating func put(_ r: FragmentArena.Ref, _ base: UnsafePointer<UInt8>) {
        let n = Int(r.count)
        p.update(from: base + Int(r.offset), count: n)
        p += n
    }

    @inline(__always) mutating func putInt(_ v: Int64) {
        if v < 0 { put(0x2D) }
        var x = v.magnitude
        var digits = 1
        var t = x
        while t >= 10 { t /= 10; digits += 1 }
        var q = p + digits
        p = q
        repeat {
            q -= 1
            q.pointee = UInt8(truncatingIfNeeded: x % 10) &+ 0x30
            x /= 10
        } while x > 0
    }

    /// Fixed-point with two decimals (prices).
    @inline(__always) mutating func putCents(_ cents: Int64) {
        putInt(cents / 100)
        put(0x2E)
        let c = Int(cents % 100)
        put(UInt8(c / 10) + 0x30)
        put(UInt8(c % 10) + 0x30)
    }

    /// Lower-case hex of the low `count` bytes of `bits`, high byte first.
    @inline(__always) mutating func putHex(_ bits: UInt64, bytes count: Int) {
        var k = count * 2 - 1
        var x = bits
        while k >= 0 {
            let d = UInt8(truncatingIfNeeded: x & 0xF)
            p[k] = d < 10 ? d &+ 0x30 : d &+ 0x57
            x >>= 4
            k -= 1
        }
        p += count * 2
    }

    /// A random (version 4) UUID in its 36-character text form.
    @inline(__always) mutating func putUUID(_ hi: UInt64, _ lo: UInt64) {
        let h = (hi & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000
        let l = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        putHex(h >> 32, bytes: 4); put(0x2D)
        putHex(h >> 16, bytes: 2); put(0x2D)
        putHex(h, bytes: 2); put(0x2D)
        putHex(l >> 48, bytes: 2); put(0x2D)
        putHex(l, bytes: 6)
    }
}
