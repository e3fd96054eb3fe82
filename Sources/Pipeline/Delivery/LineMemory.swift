import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Memory for delivery chunks of 64 KiB and more, in power-of-two blocks mapped once and kept for
/// reuse: a flush frees a few hundred MiB of chunks and the next seconds of reading fill as many
/// again. Through malloc, that memory went back to the kernel (`malloc_trim`, unmapped large blocks,
/// shrunk thread arenas) and every 4 KiB was faulted in and zeroed anew: ~90,000 faults per 300,000
/// events, and on a VM whose host had reclaimed the pages, page clearing alone took up to 0.1 s
/// of a 0.6 s delivery. Blocks here are reused by any thread's chunks (lanes run on several).
///
/// A size with no free block is split from the smallest larger free one. Free blocks
/// are kept up to `retainBytes` (beyond that a freed block is unmapped), and
/// `releaseIfIdle` unmaps them all once no chunk has taken a block for a while (the node's
/// maintenance loop calls it), so an idle node does not hold its busiest minute's memory.
final class LineMemory: @unchecked Sendable {
    static let shared = LineMemory(retainBytes: 256 << 20)
    /// Smallest pooled block; smaller chunks stay with malloc.
    static let minBlock = 64 << 10
    private static let classes = 24   // 64 KiB … 512 GiB

    private let lock = NSLock()
    private var free: [[UnsafeMutableRawPointer]]
    private var freeTotal = 0
    private var usedTotal = 0
    /// Bytes of the blocks kept free (read from other threads: the node's snapshot).
    var freeBytes: Int { lock.lock(); defer { lock.unlock() }; return freeTotal }
    /// Bytes of blocks handed out and not given back.
    var usedBytes: Int { lock.lock(); defer { lock.unlock() }; return usedTotal }
    let retainBytes: Int
    private var lastTakeNs: UInt64 = 0

    init(retainBytes: Int) {
        self.retainBytes = retainBytes
        free = Array(repeating: [], count: Self.classes)
    }

    /// The block size that holds `n` bytes: the next power of two from `minBlock` on.
    static func blockSize(for n: Int) -> Int {
        var s = minBlock
        while s < n { s <<= 1 }
        return s
    }

    private static func index(_ size: Int) -> Int { (size / minBlock).trailingZeroBitCount }

    /// A block of `size` bytes (a `blockSize`), reused when one is free; nil when the kernel
    /// refuses to map more.
    func take(_ size: Int) -> UnsafeMutableRawPointer? {
        let i = Self.index(size)
        lock.lock()
        lastTakeNs = DispatchTime.now().uptimeNanoseconds
        if i < Self.classes, let p = free[i].popLast() {
            freeTotal -= size; usedTotal += size
            lock.unlock()
            return p
        }
        // A larger free block split down to this size: the head is taken, and the rest stays free
        // as one block of each size from `size` to half the block (buddy halves, never merged
        // again). Chunks end an interval large and start the next one small, so without this the
        // large blocks a flush freed sat unused while small ones were mapped anew (a 6,900
        // events/s soak held ~170 MiB of them beside the buffers). Unmapping the rest instead
        // (as this did before) made every later growth into it fault its pages in again.
        if i < Self.classes, let j = (i + 1 ..< Self.classes).first(where: { !free[$0].isEmpty }), let p = free[j].popLast() {
            var k = i
            while k < j { free[k].append(p + (Self.minBlock << k)); k += 1 }
            freeTotal -= size; usedTotal += size
            lock.unlock()
            return p
        }
        usedTotal += size
        lock.unlock()
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            lock.lock(); usedTotal -= size; lock.unlock()
            return nil
        }
        return p
    }

    /// Gives back a block from `take`; kept for reuse within `retainBytes`.
    func give(_ p: UnsafeMutableRawPointer, size: Int) {
        let i = Self.index(size)
        lock.lock()
        usedTotal -= size
        if i < Self.classes && freeTotal + size <= retainBytes {
            free[i].append(p); freeTotal += size
            lock.unlock()
            return
        }
        lock.unlock()
        munmap(p, size)
    }

    /// Unmaps every free block when no block was taken in the last `idleMs`; returns bytes unmapped.
    @discardableResult
    func releaseIfIdle(forMs idleMs: Int) -> Int {
        lock.lock()
        let idle = DispatchTime.now().uptimeNanoseconds &- lastTakeNs >= UInt64(idleMs) * 1_000_000
        guard idle, freeTotal > 0 else { lock.unlock(); return 0 }
        let blocks = free
        free = Array(repeating: [], count: Self.classes)
        let released = freeTotal
        freeTotal = 0
        lock.unlock()
        for (i, list) in blocks.enumerated() { for p in list { munmap(p, Self.minBlock << i) } }
        return released
    }
}
