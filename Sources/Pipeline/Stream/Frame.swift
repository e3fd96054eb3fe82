import CEddy

/// On-disk record frame. FIELD ORDER AND WIDTHS ARE PART OF THE FORMAT: changing them makes
/// existing data directories unreadable. All integers little-endian.
///
/// ```
/// offset size field
///   0     4   length     u32  bytes after the 8-byte prefix = 18 + keyLen + dataLen
///   4     4   crc32c     u32  CRC-32C (Castagnoli) of bytes [8, 8 + length)
///   8     8   offset     u64  record offset within the shard (0, 1, 2, …)
///  16     8   arrivalMs  i64  arrival time, ms since the Unix epoch (non-decreasing per shard)
///  24     2   keyLen     u16  partition key length, 1…256
///  26  keyLen key        UTF-8 partition key
///   …  dataLen data      the record's payload (≤ 1 MiB)
/// ```
/// A segment file is frames back to back, nothing else; its name is the offset of its first
/// frame as 20 digits. A frame whose length runs past the end of the file, or whose CRC or
/// offset does not match, marks the end of the valid log (recovery truncates there).
enum Frame {
    static let prefixSize = 8
    static let headerSize = 26
    static let fixedAfterPrefix = 18
    static let maxKeyBytes = 256
    static let maxDataBytes = 1 << 20

    @inline(__always)
    static func size(keyCount: Int, dataCount: Int) -> Int { headerSize + keyCount + dataCount }

    /// Appends one frame to `buf`.
    @inline(__always)
    static func encode(into buf: inout [UInt8], offset: UInt64, arrivalMs: Int64,
                       key: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer) {
        let start = buf.count
        let length = UInt32(fixedAfterPrefix + key.count + data.count)
        var header: (UInt32, UInt32, UInt64, Int64, UInt16) = (length.littleEndian, 0, offset.littleEndian,
                                                                arrivalMs.littleEndian, UInt16(key.count).littleEndian)
        // The tuple has padding after the u16; copy only the 26 meaningful bytes.
        withUnsafeBytes(of: &header) { h in buf.append(contentsOf: UnsafeRawBufferPointer(rebasing: h[0..<headerSize])) }
        buf.append(contentsOf: key)
        buf.append(contentsOf: data)
        buf.withUnsafeMutableBytes { raw in
            let crc = eddy_crc32c(0, raw.baseAddress! + start + prefixSize, Int(length))
            raw.storeBytes(of: crc.littleEndian, toByteOffset: start + 4, as: UInt32.self)
        }
    }

    struct Parsed {
        var frameSize: Int
        var offset: UInt64
        var arrivalMs: Int64
        var keyStart: Int
        var keyCount: Int
        var dataStart: Int
        var dataCount: Int
    }

    enum ParseOutcome {
        case frame(Parsed)
        /// Not enough bytes for the whole frame (a torn tail if this is the end of the file).
        case incomplete(needed: Int)
        case bad(String)
    }

    /// Parses the frame at `pos` of `raw`. `verify` checks the CRC (recovery and `eddy check`);
    /// readers of data already verified at open skip it for speed only when told to.
    @inline(__always)
    static func parse(_ raw: UnsafeRawBufferPointer, at pos: Int, verify: Bool) -> ParseOutcome {
        let avail = raw.count - pos
        if avail < headerSize { return .incomplete(needed: headerSize) }
        let length = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: pos, as: UInt32.self)))
        if length < fixedAfterPrefix || length > fixedAfterPrefix + maxKeyBytes + maxDataBytes {
            return .bad("frame length \(length) out of range")
        }
        let total = prefixSize + length
        if avail < total { return .incomplete(needed: total) }
        let keyCount = Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: pos + 24, as: UInt16.self)))
        if keyCount > maxKeyBytes || keyCount > length - fixedAfterPrefix {
            return .bad("partition key length \(keyCount) out of range")
        }
        if verify {
            let stored = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: pos + 4, as: UInt32.self))
            let crc = eddy_crc32c(0, raw.baseAddress! + pos + prefixSize, length)
            if crc != stored { return .bad("CRC mismatch (stored \(stored), computed \(crc))") }
        }
        let off = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: pos + 8, as: UInt64.self))
        let arr = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: pos + 16, as: Int64.self))
        return .frame(Parsed(frameSize: total, offset: off, arrivalMs: arr, keyStart: pos + headerSize,
                             keyCount: keyCount, dataStart: pos + headerSize + keyCount,
                             dataCount: length - fixedAfterPrefix - keyCount))
    }
}

/// A sparse index entry: the frame at file position `position` holds record `offset`.
struct IndexEntry: Sendable {
    var offset: UInt64
    var position: Int64
    var arrivalMs: Int64
}

/// What a full scan of one segment file found.
struct SegmentScan {
    var validBytes: Int64 = 0
    var records: UInt64 = 0
    var firstArrivalMs: Int64 = 0
    var lastArrivalMs: Int64 = 0
    var index: [IndexEntry] = []
    /// Set when the scan stopped before the end of the file.
    var problem: String?
    var fileBytes: Int64 = 0
    /// Frames (whole or partial) after the valid prefix, walked by their length fields.
    var trailingFrames: UInt64 = 0

    var droppedBytes: Int64 { fileBytes - validBytes }
}

enum SegmentScanner {
    /// Scans `bytes` as a segment starting at `baseOffset`, stopping at the first bad frame.
    static func scan(_ bytes: [UInt8], baseOffset: UInt64, verify: Bool, indexInterval: Int) -> SegmentScan {
        var s = SegmentScan()
        s.fileBytes = Int64(bytes.count)
        bytes.withUnsafeBytes { raw in
            var pos = 0
            var expected = baseOffset
            var lastIndexed = -indexInterval
            var lastArrival = Int64.min
            while pos < raw.count {
                switch Frame.parse(raw, at: pos, verify: verify) {
                case .frame(let f):
                    if f.offset != expected {
                        s.problem = "frame at byte \(pos) holds offset \(f.offset), expected \(expected)"
                        break
                    }
                    if f.arrivalMs < lastArrival {
                        s.problem = "frame at byte \(pos) goes back in time (\(f.arrivalMs) < \(lastArrival))"
                        break
                    }
                    if s.records == 0 { s.firstArrivalMs = f.arrivalMs }
                    s.lastArrivalMs = f.arrivalMs
                    lastArrival = f.arrivalMs
                    if pos - lastIndexed >= indexInterval {
                        s.index.append(IndexEntry(offset: f.offset, position: Int64(pos), arrivalMs: f.arrivalMs))
                        lastIndexed = pos
                    }
                    s.records += 1
                    expected += 1
                    pos += f.frameSize
                    s.validBytes = Int64(pos)
                    continue
                case .incomplete(let needed):
                    s.problem = "torn frame at byte \(pos): \(raw.count - pos) of \(needed) bytes present"
                case .bad(let why):
                    s.problem = "bad frame at byte \(pos): \(why)"
                }
                break
            }
            if s.problem != nil {
                // Count what we drop: walk length fields while they stay plausible.
                var p = Int(s.validBytes)
                while p < raw.count {
                    s.trailingFrames += 1
                    guard raw.count - p >= 4 else { break }
                    let len = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: p, as: UInt32.self)))
                    guard len >= Frame.fixedAfterPrefix, len <= Frame.fixedAfterPrefix + Frame.maxKeyBytes + Frame.maxDataBytes else { break }
                    p += Frame.prefixSize + len
                }
            }
        }
        return s
    }
}
