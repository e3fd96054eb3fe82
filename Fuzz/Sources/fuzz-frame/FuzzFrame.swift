// libFuzzer target: arbitrary bytes as a segment file, decoded the way recovery and readers do.
// The first byte picks the mode (so one corpus covers both): CRC-verified scan (recovery, `eddy
// check`), or unverified scan + frame walk (readers of data verified at open; the fuzzer cannot
// forge CRCs, so this is the mode that reaches the field checks behind the CRC).
// Invariants: the valid prefix lies inside the file, every frame's key and data lie inside the
// file, offsets count up from the base, and the index points at frames.
import Foundation
@testable import PipelineCore

@inline(never)
private func check(_ ok: Bool, _ what: @autoclosure () -> String) {
    if !ok { fuzzFail("fuzz-frame invariant broken: \(what())") }
}

@_cdecl("LLVMFuzzerTestOneInput")  // also what FuzzerMain.o (linked by -sanitize=fuzzer) refers to
public func fuzzFrame(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1 else { return 0 }
    let verify = data[0] & 1 == 0
    let base = UInt64(data[0] >> 1)  // a few base offsets: the scanner must demand frame offsets from it
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let s = SegmentScanner.scan(bytes, baseOffset: base, verify: verify, indexInterval: 64)
    check(s.fileBytes == Int64(bytes.count), "fileBytes")
    check(s.validBytes >= 0 && s.validBytes <= s.fileBytes, "validBytes \(s.validBytes) of \(s.fileBytes)")
    check((s.problem == nil) == (s.validBytes == s.fileBytes), "problem iff the scan stopped early")
    check(s.droppedBytes >= 0, "droppedBytes")
    for e in s.index {
        check(e.position >= 0 && e.position < s.validBytes, "index entry at \(e.position) outside valid prefix")
        check(e.offset >= base && e.offset < base + s.records, "index offset \(e.offset)")
    }
    // Walk the valid prefix frame by frame as ShardedStream+Read does and touch every key and payload.
    var records: UInt64 = 0
    bytes.withUnsafeBytes { raw in
        let valid = UnsafeRawBufferPointer(rebasing: raw[0..<Int(s.validBytes)])
        var pos = 0
        while pos < valid.count {
            guard case .frame(let f) = Frame.parse(valid, at: pos, verify: verify) else {
                check(false, "valid prefix does not re-parse at \(pos)"); return
            }
            check(f.frameSize >= Frame.headerSize && pos + f.frameSize <= valid.count, "frame size \(f.frameSize) at \(pos)")
            check(f.keyStart >= pos && f.keyStart + f.keyCount <= pos + f.frameSize, "key outside frame")
            check(f.dataStart == f.keyStart + f.keyCount && f.dataStart + f.dataCount == pos + f.frameSize, "data outside frame")
            check(f.offset == base + records, "offset \(f.offset), expected \(base + records)")
            var h: UInt8 = 0
            for b in UnsafeRawBufferPointer(rebasing: valid[f.keyStart..<(f.keyStart + f.keyCount)]) { h ^= b }
            for b in UnsafeRawBufferPointer(rebasing: valid[f.dataStart..<(f.dataStart + f.dataCount)]) { h ^= b }
            _ = h
            records += 1
            pos += f.frameSize
        }
        // Past the valid prefix a reader meets a torn or bad frame: parse must say so, never trap.
        if pos < raw.count { _ = Frame.parse(raw, at: pos, verify: verify) }
    }
    check(records == s.records, "walk found \(records) records, scan \(s.records)")
    return 0
}
