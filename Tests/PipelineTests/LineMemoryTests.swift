import Foundation
import XCTest
@testable import Pipeline

/// Delivery's reusable memory: chunk blocks (`LineMemory`, `LineBuffer`) and read batches.
final class LineMemoryTests: XCTestCase {
    func testAFreedBlockIsTakenAgainAndFreeMemoryStaysWithinTheRetainBound() throws {
        let m = LineMemory(retainBytes: 256 << 10)
        let a = try XCTUnwrap(m.take(64 << 10))
        XCTAssertEqual(m.usedBytes, 64 << 10)
        m.give(a, size: 64 << 10)
        XCTAssertEqual(m.freeBytes, 64 << 10)
        let b = try XCTUnwrap(m.take(64 << 10))
        XCTAssertEqual(b, a, "the freed block is reused, not mapped anew")
        XCTAssertEqual(m.freeBytes, 0)
        // A block of another size is not served from a smaller class.
        let c = try XCTUnwrap(m.take(128 << 10))
        XCTAssertNotEqual(c, a)
        // Five 128 KiB blocks freed into a 256 KiB bound: two are kept, the rest unmapped.
        var blocks = [c]
        for _ in 0..<4 { blocks.append(try XCTUnwrap(m.take(128 << 10))) }
        for p in blocks { m.give(p, size: 128 << 10) }
        m.give(b, size: 64 << 10)
        XCTAssertLessThanOrEqual(m.freeBytes, 256 << 10)
        XCTAssertEqual(m.freeBytes, 256 << 10)
        XCTAssertEqual(m.usedBytes, 0)
    }

    /// A small block is split from a larger free one (its head, pages and all) before any is
    /// mapped; the rest stays free as one block of each size up to half, so a later growth into
    /// those sizes finds its pages mapped too.
    func testASmallBlockIsSplitFromALargerFreeOne() throws {
        let m = LineMemory(retainBytes: 1 << 20)
        let big = try XCTUnwrap(m.take(256 << 10))
        big.storeBytes(of: 0xAB, as: UInt8.self)
        (big + (64 << 10)).storeBytes(of: 0xCD, as: UInt8.self)
        (big + (128 << 10)).storeBytes(of: 0xEF, as: UInt8.self)
        m.give(big, size: 256 << 10)
        let small = try XCTUnwrap(m.take(64 << 10))
        XCTAssertEqual(small, big, "the head of the freed 256 KiB block")
        XCTAssertEqual(small.load(as: UInt8.self), 0xAB, "its pages are kept")
        XCTAssertEqual(m.freeBytes, 192 << 10, "the rest is kept free: 64 KiB and 128 KiB")
        XCTAssertEqual(m.usedBytes, 64 << 10)
        let next = try XCTUnwrap(m.take(64 << 10))
        XCTAssertEqual(next, big + (64 << 10))
        XCTAssertEqual(next.load(as: UInt8.self), 0xCD)
        let half = try XCTUnwrap(m.take(128 << 10))
        XCTAssertEqual(half, big + (128 << 10))
        XCTAssertEqual(half.load(as: UInt8.self), 0xEF)
        XCTAssertEqual(m.freeBytes, 0)
        for (p, n) in [(small, 64 << 10), (next, 64 << 10), (half, 128 << 10)] { m.give(p, size: n) }
        XCTAssertEqual(m.freeBytes, 256 << 10)
        XCTAssertEqual(m.usedBytes, 0)
        // The halves are not merged again: a 256 KiB block is mapped anew.
        let other = try XCTUnwrap(m.take(256 << 10))
        XCTAssertTrue(other < big || other >= big + (256 << 10))
        XCTAssertEqual(m.releaseIfIdle(forMs: 0), 256 << 10, "each half unmapped on its own")
        m.give(other, size: 256 << 10)
    }

    func testIdleFreeBlocksAreUnmappedButNotWhileChunksStillTakeThem() throws {
        let m = LineMemory(retainBytes: 1 << 20)
        let p = try XCTUnwrap(m.take(64 << 10))
        m.give(p, size: 64 << 10)
        XCTAssertEqual(m.releaseIfIdle(forMs: 60_000), 0, "a block was taken just now")
        XCTAssertEqual(m.freeBytes, 64 << 10)
        XCTAssertEqual(m.releaseIfIdle(forMs: 0), 64 << 10)
        XCTAssertEqual(m.freeBytes, 0)
    }

    /// Growth moves the bytes from malloc into ever larger blocks; none is lost or reordered, and
    /// a released buffer's block goes back to the pool.
    func testALineBufferKeepsItsBytesAsItGrowsThroughPooledBlocks() throws {
        let m = LineMemory(retainBytes: 8 << 20)
        var expected: [UInt8] = []
        do {
            let buf = LineBuffer(memory: m)
            var i = 0
            while expected.count < 300_000 {
                let line = Array("{\"n\":\(i),\"pad\":\"\(String(repeating: "x", count: i % 97))\"}\n".utf8)
                if i % 2 == 0 { line.withUnsafeBytes { buf.put($0) } } else { for b in line { buf.put(b) } }
                expected += line
                i += 1
            }
            XCTAssertEqual(buf.bytes, expected)
            XCTAssertEqual(buf.capacity, 512 << 10, "the power-of-two block that holds 300,000 bytes")
            XCTAssertEqual(m.usedBytes, 512 << 10, "only the current block is in use; the smaller ones were given back")
            XCTAssertEqual(m.freeBytes, (64 << 10) + (128 << 10) + (256 << 10))
            buf.removeAll()
            XCTAssertEqual(buf.count, 0)
            XCTAssertEqual(buf.capacity, 512 << 10, "emptied, the block is kept")
        }
        XCTAssertEqual(m.usedBytes, 0, "a released buffer gives its block back")
        XCTAssertEqual(m.freeBytes, (64 << 10) + (128 << 10) + (256 << 10) + (512 << 10))
        // The next buffer that grows as far reuses those blocks.
        let again = LineBuffer(memory: m)
        again.reserveMore(400_000)
        XCTAssertEqual(m.freeBytes, (64 << 10) + (128 << 10) + (256 << 10))
    }

    /// A read into an earlier batch's arrays returns what a fresh read does, in the same memory.
    func testAReadReusingAnEarlierBatchReturnsTheSameRecordsInItsMemory() async throws {
        let dir = makeStreamTempDir(self)
        let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 1))
        defer { s.close() }
        _ = try await s.append(makeBatch(300, prefix: String(repeating: "v", count: 200)))
        let first = try s.read(shardIndex: 0, from: 0, maxRecords: 100, maxBytes: 1 << 20)
        XCTAssertEqual(first.count, 100)
        let fresh = try s.read(shardIndex: 0, from: 100, maxRecords: 100, maxBytes: 1 << 20)
        let address = first.bytes.withUnsafeBufferPointer { $0.baseAddress }
        let reused = try s.read(shardIndex: 0, from: 100, maxRecords: 100, maxBytes: 1 << 20, reusing: consume first)
        XCTAssertEqual(reused.records, fresh.records)
        XCTAssertEqual(reused.bytes, fresh.bytes)
        XCTAssertEqual(reused.nextOffset, 200)
        XCTAssertEqual(reused.bytes.withUnsafeBufferPointer { $0.baseAddress }, address, "read into the earlier batch's buffer")
        XCTAssertEqual((0..<reused.count).map { String(decoding: reused.data($0), as: UTF8.self) }, (100..<200).map { "\(String(repeating: "v", count: 200))-\($0)" })
    }
}
