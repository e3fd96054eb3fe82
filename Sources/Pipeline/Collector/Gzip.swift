import CZlib

/// gzip (and zlib) request bodies, inflated with a hard cap so a small bomb cannot become a big
/// allocation: past `maxOutput` bytes the body is refused as too large.
public enum Gzip {
    public enum Failure: Error, Equatable { case tooLarge, corrupt(String) }

    public static func inflate(_ input: [UInt8], maxOutput: Int) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        // 15 + 32: accept gzip or zlib headers automatically.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .corrupt("zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: min(maxOutput + 1, max(4096, input.count * 6)))
        var produced = 0
        var status: Int32 = Z_OK
        var copy = input
        try copy.withUnsafeMutableBufferPointer { (inp: inout UnsafeMutableBufferPointer<UInt8>) throws(Failure) in
            stream.next_in = inp.baseAddress
            stream.avail_in = UInt32(inp.count)
            while true {
                if produced == out.count {
                    if out.count > maxOutput { throw .tooLarge }
                    out.append(contentsOf: repeatElement(0, count: min(out.count, maxOutput + 1 - out.count)))
                }
                status = out.withUnsafeMutableBufferPointer { o in
                    stream.next_out = o.baseAddress! + produced
                    stream.avail_out = UInt32(o.count - produced)
                    let r = CZlib.inflate(&stream, Z_NO_FLUSH)
                    produced = o.count - Int(stream.avail_out)
                    return r
                }
                if status == Z_STREAM_END { break }
                if status == Z_BUF_ERROR && stream.avail_in == 0 { throw .corrupt("gzip body is truncated") }
                if status != Z_OK && status != Z_BUF_ERROR { throw .corrupt("gzip body is corrupt (zlib \(status))") }
            }
        }
        if produced > maxOutput { throw .tooLarge }
        out.removeSubrange(produced...)
        return out
    }

    /// gzip-compresses (for tests and loadgen).
    public static func compress(_ input: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                      ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        defer { deflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 32)
        var copy = input
        copy.withUnsafeMutableBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { o in
                stream.next_in = inp.baseAddress; stream.avail_in = UInt32(inp.count)
                stream.next_out = o.baseAddress; stream.avail_out = UInt32(o.count)
                _ = deflate(&stream, Z_FINISH)
            }
        }
        out.removeSubrange(Int(stream.total_out)...)
        return out
    }
}
