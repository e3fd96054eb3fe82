import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin wrappers over POSIX file calls: every failure becomes a `StreamError` naming the path
/// and errno text, so a full disk or a permission problem reads as such.
enum FileIO {
    static func errnoText() -> String { String(cString: strerror(errno)) }

    // MARK: fault seam (tests)

    /// The calls a test can make fail.
    enum Op: Sendable { case open, write, sync, rename }
    typealias FaultRule = @Sendable (Op, String) -> Int32?
    /// One relaxed atomic load per call when no rule is set: the hot path pays nothing else.
    private static let faultArmed = Atomic<Bool>(false)
    private static let faultRule = Mutex<FaultRule?>(nil)

    /// Test seam: `rule(op, path)` returns an errno (ENOSPC, EIO…) for a call that must fail, or
    /// nil. A failing write first writes half its bytes, as a disk filling up mid-write does.
    /// Process-wide: rules should match only their own test's paths. Nil removes the rule.
    static func setFaultRule(_ rule: FaultRule?) {
        faultRule.withLock { $0 = rule }
        faultArmed.store(rule != nil, ordering: .releasing)
    }

    /// The injected errno for this call, if a rule says so (then `errno` is set to it).
    @inline(__always)
    static func injectedFault(_ op: Op, _ path: String) -> Int32? {
        guard faultArmed.load(ordering: .acquiring) else { return nil }
        guard let e = faultRule.withLock({ $0 })?(op, path) else { return nil }
        errno = e
        return e
    }

    static func openFile(_ path: String, create: Bool) throws -> Int32 {
        if injectedFault(.open, path) != nil { throw StreamError(.io, "cannot open segment: \(errnoText())", path: path) }
        let flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0)
        let fd = open(path, flags, 0o644)
        if fd < 0 { throw StreamError(.io, "cannot open segment: \(errnoText())", path: path) }
        return fd
    }

    static func openReadOnly(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw StreamError(.io, "cannot open for reading: \(errnoText())", path: path) }
        return fd
    }

    static func pwriteAll(_ fd: Int32, _ buf: UnsafeRawBufferPointer, at offset: Int64, path: String) throws {
        var done = 0
        if injectedFault(.write, path) != nil {
            let e = errno
            _ = pwrite(fd, buf.baseAddress!, buf.count / 2, off_t(offset))
            errno = e
            throw StreamError(.io, "write failed: \(errnoText())", path: path)
        }
        while done < buf.count {
            let n = pwrite(fd, buf.baseAddress! + done, buf.count - done, off_t(offset + Int64(done)))
            if n < 0 {
                if errno == EINTR { continue }
                throw StreamError(.io, "write failed: \(errnoText())", path: path)
            }
            done += n
        }
    }

    /// Reads up to `count` bytes at `offset`, appending them to `out`; returns bytes read (short at EOF).
    /// The bytes land in `out`'s own storage: a caller that reuses an emptied array (a consumer's
    /// read buffer) touches no new memory once its capacity suffices.
    @discardableResult
    static func pread(_ fd: Int32, into out: inout [UInt8], count: Int, at offset: Int64, path: String) throws -> Int {
        let base = out.count
        out.append(contentsOf: repeatElement(0, count: count))
        var failure: StreamError?
        var got = 0
        out.withUnsafeMutableBytes { raw in
            let dst = raw.baseAddress! + base
            while got < count {
                #if canImport(Glibc)
                let n = Glibc.pread(fd, dst + got, count - got, off_t(offset + Int64(got)))
                #elseif canImport(Musl)
                let n = Musl.pread(fd, dst + got, count - got, off_t(offset + Int64(got)))
                #else
                let n = Darwin.pread(fd, dst + got, count - got, off_t(offset + Int64(got)))
                #endif
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = StreamError(.io, "read failed: \(errnoText())", path: path)
                    break
                }
                if n == 0 { break }
                got += n
            }
        }
        out.removeLast(count - got)
        if let f = failure { throw f }
        return got
    }

    static func fdatasyncOrThrow(_ fd: Int32, path: String) throws {
        if injectedFault(.sync, path) != nil {
            throw StreamError(.io, "fsync failed: \(errnoText()); acknowledged data may not be durable", path: path)
        }
        #if canImport(Darwin)
        let r = fsync(fd)
        #else
        let r = fdatasync(fd)
        #endif
        if r != 0 { throw StreamError(.io, "fsync failed: \(errnoText()); acknowledged data may not be durable", path: path) }
    }

    static func fsyncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw StreamError(.io, "cannot open directory to fsync: \(errnoText())", path: path) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw StreamError(.io, "directory fsync failed: \(errnoText())", path: path) }
    }

    static func truncate(_ fd: Int32, to size: Int64, path: String) throws {
        if ftruncate(fd, off_t(size)) != 0 { throw StreamError(.io, "truncate failed: \(errnoText())", path: path) }
    }

    static func fileSize(_ fd: Int32, path: String) throws -> Int64 {
        var st = stat()
        if fstat(fd, &st) != 0 { throw StreamError(.io, "stat failed: \(errnoText())", path: path) }
        return Int64(st.st_size)
    }

    static func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw StreamError(.io, "cannot create directory: \(error.localizedDescription)", path: path)
        }
    }

    /// Replaces `path` atomically: write `path.tmp`, fsync it, rename over `path`, fsync the
    /// directory. A crash leaves either the old file or the new one, never a mix.
    static func atomicReplace(_ path: String, with bytes: [UInt8]) throws {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw StreamError(.io, "cannot create temporary file: \(errnoText())", path: tmp) }
        do {
            try bytes.withUnsafeBytes { try pwriteAll(fd, $0, at: 0, path: tmp) }
            if fsync(fd) != 0 { throw StreamError(.io, "fsync failed: \(errnoText())", path: tmp) }
        } catch {
            close(fd); unlink(tmp); throw error
        }
        close(fd)
        if injectedFault(.rename, path) != nil { unlink(tmp); throw StreamError(.io, "rename failed: \(errnoText())", path: path) }
        if rename(tmp, path) != 0 { throw StreamError(.io, "rename failed: \(errnoText())", path: path) }
        try fsyncDirectory((path as NSString).deletingLastPathComponent)
    }

    static func readWholeFile(_ path: String) throws -> [UInt8] {
        let fd = try openReadOnly(path)
        defer { close(fd) }
        let size = try fileSize(fd, path: path)
        var out: [UInt8] = []
        try pread(fd, into: &out, count: Int(size), at: 0, path: path)
        return out
    }

    static func listDirectory(_ path: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    }

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
}

/// One segment file. The active segment of each shard owns an open descriptor; a sealed one holds
/// none (a node keeps a day of segments: at 64 MB each that is thousands of files, and descriptors
/// run out long before disk), and a reader opens it for the length of one read (`forReading`).
/// Readers and the committer keep a reference while they use it, so retention can unlink the
/// file and a roll can move on without closing it under them.
final class SegmentFile: @unchecked Sendable {
    /// -1 for a sealed segment (see `forReading`).
    let fd: Int32
    let path: String
    init(fd: Int32, path: String) { self.fd = fd; self.path = path }
    /// A sealed segment: no descriptor held.
    init(sealedAt path: String) { fd = -1; self.path = path }
    var isOpen: Bool { fd >= 0 }

    /// A handle to read with: this file when it is open, else the file opened read-only now and
    /// closed when the handle is released. nil when the file is gone (retention removed it between
    /// the reader's look at the segment list and this open).
    func forReading() throws -> SegmentFile? {
        if fd >= 0 { return self }
        let f = open(path, O_RDONLY | O_CLOEXEC)
        if f < 0 {
            if errno == ENOENT { return nil }
            throw StreamError(.io, "cannot open segment for reading: \(FileIO.errnoText())", path: path)
        }
        return SegmentFile(fd: f, path: path)
    }

    deinit { if fd >= 0 { close(fd) } }
}
