import Foundation
import XCTest
@testable import Pipeline

/// A fresh temporary data directory, removed when the test ends.
func makeStreamTempDir(_ test: XCTestCase) -> String {
    let dir = NSTemporaryDirectory() + "eddy-stream-test-" + UUID().uuidString
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
    return dir
}

/// A batch of `count` records "p<prefix>-<i>" keyed by `key(i)`.
func makeBatch(_ count: Int, prefix: String = "r", key: (Int) -> String = { "k\($0)" }) -> RecordBatch {
    var b = RecordBatch()
    for i in 0..<count { b.append(data: "\(prefix)-\(i)", partitionKey: key(i)) }
    return b
}

/// Collects in-memory log lines (recovery reports, reshard notes).
final class LogSink: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func add(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}

func testConfig(shards: Int = 4, fsync: FsyncPolicy = .group(windowMs: 0), segmentBytes: Int64 = 64 << 20,
                log: LogSink? = nil) -> StreamConfig {
    var c = StreamConfig(shardCount: shards, fsync: fsync, segmentBytes: segmentBytes, indexIntervalBytes: 256)
    let sink = log
    c.log = { sink?.add($0) }
    return c
}

extension ReadBatch {
    var strings: [String] { (0..<count).map { String(decoding: data($0), as: UTF8.self) } }
}
