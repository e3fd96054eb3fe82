import Foundation
import CZstd
import CZlib

/// Compresses whole objects. Keeps one zstd context per instance (one per delivery thread).
final class Compressor: @unchecked Sendable {
    let mode: LakeCompression
    private var cctx: OpaquePointer?
    /// Output scratch of the largest bound seen; each object's bytes are copied out at their size.
    /// (Returning the bound-sized array itself kept ~input-sized capacity per compressed object,
    /// ~11× its bytes, alive until the flush's writes were done: 135 MB at peak in the soak.)
    private var scratch: [UInt8] = []

    init(_ mode: LakeCompression) {
        self.mode = mode
        if case .zstd(let level) = mode, let c = ZSTD_createCCtx() {
            // Parameters set once; ZSTD_compress2 reuses them and the context's tables per object.
            _ = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level)
            _ = ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, 0)
            _ = ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0)
            cctx = c
        }
    }
    deinit { if let cctx { ZSTD_freeCCtx(cctx) } }

    /// Level 1 on an object of 64–256 KiB (measured when objects were per partition and shard; that
    /// range held 28 % of the bytes of the benchmark's quick lake): a 4,096-entry hash table and 7-byte minimum matches instead of zstd's choice for
    /// that size (16,384 entries, 6 bytes). On 141 MB of enriched clickstream lines cut in blocks
    /// (`zstd -b -B`, the same library), 128 KiB blocks compressed 9 % faster at a 0.8 % better
    /// ratio and 256 KiB blocks 17 % faster at a 1 % worse one; from 512 KiB on, and under 64 KiB,
    /// zstd's own parameters won, so they stay. Other levels are left to zstd.
    private func tuneForSize(_ cctx: OpaquePointer, _ n: Int) {
        guard case .zstd(let level) = mode, level == 1 else { return }
        let tuned = Self.tunedSizes.contains(n)
        guard tuned != isTuned else { return }
        // 0 restores the level's default for the source size.
        _ = ZSTD_CCtx_setParameter(cctx, ZSTD_c_hashLog, tuned ? 12 : 0)
        _ = ZSTD_CCtx_setParameter(cctx, ZSTD_c_minMatch, tuned ? 7 : 0)
        isTuned = tuned
    }
    /// Sizes above 64 KiB, up to 256 KiB.
    static let tunedSizes = ((64 << 10) + 1)...(256 << 10)
    private var isTuned = false

    /// Output scratch of a streamed (several-part) object, at most.
    static let maxStreamScratch = 1 << 20

    func compress(_ input: [UInt8]) throws -> [UInt8] {
        try input.withUnsafeBytes { try compress($0) }
    }

    func compress(_ input: UnsafeRawBufferPointer) throws -> [UInt8] {
        switch mode {
        case .none: return Array(input)
        case .zstd:
            guard let cctx else { throw LakeError(.io, key: "", "zstd: no compression context (out of memory)") }
            let bound = ZSTD_compressBound(input.count)
            if scratch.count < bound { scratch = [UInt8](repeating: 0, count: bound) }
            tuneForSize(cctx, input.count)
            let n = scratch.withUnsafeMutableBytes { o in ZSTD_compress2(cctx, o.baseAddress, bound, input.baseAddress, input.count) }
            if ZSTD_isError(n) != 0 { throw LakeError(.io, key: "", "zstd: \(String(cString: ZSTD_getErrorName(n)))") }
            return Array(scratch[0..<n])
        case .gzip(let level):
            return try Self.gzip(input, level: level)
        }
    }

    /// One object made of several parts (a partition's chunks from several shards), compressed as
    /// if they were one buffer: one zstd frame (its content size in the header) or one gzip member,
    /// without copying the parts together first.
    func compress(parts: [UnsafeRawBufferPointer]) throws -> [UInt8] {
        if parts.count <= 1 { return try compress(parts.first ?? UnsafeRawBufferPointer(start: nil, count: 0)) }
        let total = parts.reduce(0) { $0 + $1.count }
        switch mode {
        case .none:
            var out: [UInt8] = []
            out.reserveCapacity(total)
            for p in parts { out.append(contentsOf: p) }
            return out
        case .zstd:
            guard let cctx else { throw LakeError(.io, key: "", "zstd: no compression context (out of memory)") }
            // A stream with its size pledged: zstd picks the parameters it would for one buffer of
            // `total` bytes and writes the content size into the frame header.
            _ = ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only)
            tuneForSize(cctx, total)
            _ = ZSTD_CCtx_setPledgedSrcSize(cctx, UInt64(total))
            // The output goes through at most `maxStreamScratch` of scratch: a partition of many
            // shards can hold several times the size hint, and a bound-sized scratch (all of it
            // written, so resident) would stay with the compressor.
            let room = min(ZSTD_compressBound(total) + 1024, Self.maxStreamScratch)
            if scratch.count < room { scratch = [UInt8](repeating: 0, count: room) }
            // Output that passes the scratch goes to `spilled` each time the scratch fills.
            var spilled: [UInt8] = []
            let tail: Int = try scratch.withUnsafeMutableBytes { o in
                var out = ZSTD_outBuffer(dst: o.baseAddress, size: room, pos: 0)
                for (k, p) in parts.enumerated() {
                    let last = k == parts.count - 1
                    var input = ZSTD_inBuffer(src: p.baseAddress, size: p.count, pos: 0)
                    while true {
                        let r = ZSTD_compressStream2(cctx, &out, &input, last ? ZSTD_e_end : ZSTD_e_continue)
                        if ZSTD_isError(r) != 0 { throw LakeError(.io, key: "", "zstd: \(String(cString: ZSTD_getErrorName(r)))") }
                        if last ? r == 0 : input.pos == input.size { break }
                        if out.pos == out.size {
                            spilled.append(contentsOf: UnsafeRawBufferPointer(rebasing: o[0..<out.pos]))
                            out.pos = 0
                        }
                    }
                }
                return out.pos
            }
            // Exact size, as single-buffer objects are: a flush holds every object until it is written.
            if spilled.isEmpty { return Array(scratch[0..<tail]) }
            spilled.append(contentsOf: scratch[0..<tail])
            return spilled.capacity > spilled.count + 4096 ? spilled.withUnsafeBufferPointer { Array($0) } : spilled
        case .gzip(let level):
            return try Self.gzip(parts, level: level)
        }
    }

    static func gzip(_ input: UnsafeRawBufferPointer, level: Int32) throws -> [UInt8] {
        try gzip([input], level: level)
    }

    /// One gzip member of the parts, in order.
    static func gzip(_ parts: [UnsafeRawBufferPointer], level: Int32) throws -> [UInt8] {
        var s = z_stream()
        guard deflateInit2_(&s, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw LakeError(.io, key: "", "gzip: deflateInit2 failed")
        }
        defer { deflateEnd(&s) }
        let total = parts.reduce(0) { $0 + $1.count }
        // deflateBound covers one deflate call; each further part may add a block header.
        let bound = Int(deflateBound(&s, uLong(total))) + 32 + 64 * parts.count
        var out = [UInt8](repeating: 0, count: bound)
        var produced = 0
        let rc: Int32 = out.withUnsafeMutableBytes { o in
            s.next_out = o.baseAddress?.assumingMemoryBound(to: Bytef.self)
            s.avail_out = uInt(o.count)
            var r = Z_OK
            for (k, p) in parts.enumerated() {
                s.next_in = UnsafeMutablePointer(mutating: p.baseAddress?.assumingMemoryBound(to: Bytef.self))
                s.avail_in = uInt(p.count)
                r = deflate(&s, k == parts.count - 1 ? Z_FINISH : Z_NO_FLUSH)
                if r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR { break }
                if s.avail_in != 0 { r = Z_BUF_ERROR; break }   // out of room: never within the bound
            }
            produced = o.count - Int(s.avail_out)
            return r
        }
        guard rc == Z_STREAM_END else { throw LakeError(.io, key: "", "gzip: deflate returned \(rc)") }
        return Array(out[0..<produced])   // exact size: the bound-sized buffer is freed here
    }

    /// Decompression, for tests and tools reading the lake back.
    static func decompress(_ data: [UInt8], key: String) throws -> [UInt8] {
        if key.hasSuffix(".zst") {
            let size = data.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
            guard size != ZSTD_CONTENTSIZE_ERROR, size != ZSTD_CONTENTSIZE_UNKNOWN else { throw LakeError(.io, key: key, "not a zstd frame") }
            var out = [UInt8](repeating: 0, count: Int(size))
            let n = out.withUnsafeMutableBytes { o in data.withUnsafeBytes { i in ZSTD_decompress(o.baseAddress, o.count, i.baseAddress, i.count) } }
            if ZSTD_isError(n) != 0 { throw LakeError(.io, key: key, "zstd: \(String(cString: ZSTD_getErrorName(n)))") }
            return out
        }
        if key.hasSuffix(".gz") {
            var s = z_stream()
            guard inflateInit2_(&s, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw LakeError(.io, key: key, "inflateInit2") }
            defer { inflateEnd(&s) }
            var out: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            try data.withUnsafeBytes { i in
                s.next_in = UnsafeMutablePointer(mutating: i.baseAddress?.assumingMemoryBound(to: Bytef.self))
                s.avail_in = uInt(i.count)
                while true {
                    let rc: Int32 = chunk.withUnsafeMutableBytes { c in
                        s.next_out = c.baseAddress?.assumingMemoryBound(to: Bytef.self); s.avail_out = uInt(c.count)
                        return inflate(&s, Z_NO_FLUSH)
                    }
                    out.append(contentsOf: chunk[0..<(chunk.count - Int(s.avail_out))])
                    if rc == Z_STREAM_END { return }
                    if rc != Z_OK { throw LakeError(.io, key: key, "inflate returned \(rc)") }
                }
            }
            return out
        }
        return data
    }
}
