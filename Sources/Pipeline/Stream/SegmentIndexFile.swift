import CEddy
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `<20-digit base>.idx` beside a SEALED segment: what a scan of it would find, so opening a
/// stream reads a few KB per sealed segment instead of every frame. A cache, never the truth:
/// written without fsync when the segment rolls, ignored (and the segment scanned) when absent,
/// torn, or not matching the segment's size. `eddy check` still verifies every frame.
///
/// Layout (little-endian; field order is part of the format):
/// `magic "EDX1" | baseOffset u64 | records u64 | size i64 | firstArrivalMs i64 | lastArrivalMs i64 |
///  entries u32 | entries × (offset u64, position i64, arrivalMs i64) | crc32c u32 of all before it`
enum SegmentIndexFile {
    static let magic: UInt32 = 0x3158_4445 // "EDX1"

    static func path(forSegment p: String) -> String { String(p.dropLast(4)) + ".idx" }

    static func write(_ g: Segment) {
        var out: [UInt8] = []
        out.reserveCapacity(48 + g.index.count * 24)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        put(magic); put(g.baseOffset); put(g.nextOffset - g.baseOffset); put(g.size)
        put(g.firstArrivalMs); put(g.lastArrivalMs); put(UInt32(g.index.count))
        for e in g.index { put(e.offset); put(e.position); put(e.arrivalMs) }
        let crc = out.withUnsafeBytes { eddy_crc32c(0, $0.baseAddress, $0.count) }
        put(crc)
        let p = path(forSegment: g.file.path)
        let fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { return }
        defer { close(fd) }
        _ = try? out.withUnsafeBytes { try FileIO.pwriteAll(fd, $0, at: 0, path: p) }
    }

    /// The scan result stored for `segmentPath`, or nil when it cannot be trusted.
    static func read(segmentPath: String, baseOffset: UInt64, fileSize: Int64) -> SegmentScan? {
        guard let b = try? FileIO.readWholeFile(path(forSegment: segmentPath)), b.count >= 48 else { return nil }
        return b.withUnsafeBytes { raw -> SegmentScan? in
            func get<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T { T(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: T.self)) }
            let stored = get(raw.count - 4, UInt32.self)
            guard eddy_crc32c(0, raw.baseAddress, raw.count - 4) == stored, get(0, UInt32.self) == magic,
                  get(4, UInt64.self) == baseOffset, get(20, Int64.self) == fileSize else { return nil }
            let n = Int(get(44, UInt32.self))
            guard raw.count == 48 + n * 24 + 4 else { return nil }
            var s = SegmentScan()
            s.records = get(12, UInt64.self)
            s.validBytes = fileSize
            s.fileBytes = fileSize
            s.firstArrivalMs = get(28, Int64.self)
            s.lastArrivalMs = get(36, Int64.self)
            s.index.reserveCapacity(n)
            for i in 0..<n {
                let at = 48 + i * 24
                s.index.append(IndexEntry(offset: get(at, UInt64.self), position: get(at + 8, Int64.self), arrivalMs: get(at + 16, Int64.self)))
            }
            return s
        }
    }
}
