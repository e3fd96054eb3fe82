/// 64-bit hashing shared by the sketches and by whoever builds `LiveEvent`s.
///
/// Callers may hash identifiers with anything stable (this, FNV, xxHash); the sketches re-mix every
/// hash with `mix` so a weak caller hash still spreads over HyperLogLog registers and table slots.
public enum Hash64 {
    /// MurmurHash3's 64-bit finaliser: a bijection, so distinct inputs stay distinct.
    @inlinable @inline(__always)
    public static func mix(_ x: UInt64) -> UInt64 {
        var h = x
        h ^= h >> 33
        h &*= 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h &*= 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return h
    }

    /// Hash of a byte string: 8 bytes at a time, then `mix`. Stable across runs and machines
    /// (no per-process seed), so hashes can be computed by one stage and compared by another.
    @inlinable
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9e37_79b9_7f4a_7c15 ^ UInt64(bytes.count)
        var i = 0
        let n = bytes.count
        while i + 8 <= n {
            let w = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = (h ^ mix(w)) &* 0x9e37_79b9_7f4a_7c15
            i += 8
        }
        if i < n {
            var w: UInt64 = 0
            var shift: UInt64 = 0
            while i < n { w |= UInt64(bytes[i]) << shift; shift += 8; i += 1 }
            h = (h ^ mix(w)) &* 0x9e37_79b9_7f4a_7c15
        }
        return mix(h)
    }

    public static func hash(_ string: String) -> UInt64 {
        var s = string
        return s.withUTF8 { hash(UnsafeRawBufferPointer($0)) }
    }
}
