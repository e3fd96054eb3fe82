import Foundation
import CEddy
#if canImport(Glibc)
import Glibc
#endif

/// What went wrong with a lake operation: a code, the key and the cause.
public struct LakeError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable { case invalidKey, notFound, io }
    public var code: Code
    public var key: String
    public var message: String
    public init(_ code: Code, key: String, _ message: String) { self.code = code; self.key = key; self.message = message }
    public var description: String { "lake \(code.rawValue) '\(key)': \(message)" }
}

/// The object store the lake lives in (S3 analogue). Keys are relative, '/'-separated paths such as
/// `events/site=a/dt=2026-11-26/hr=09/events-shardId-000000000000-1…-1….ndjson.zst`.
/// `put` is atomic and durable when it returns: a reader sees the old object or the whole new one.
public protocol Lake: Sendable {
    func put(_ key: String, _ bytes: [UInt8]) throws
    /// Every key under `prefix` (recursively), sorted. A prefix that does not exist lists nothing.
    func list(prefix: String) throws -> [String]
    /// The names one level below `prefix` (objects and "directories"), sorted: S3's list with
    /// delimiter "/". Lets a reader walk `site=…/dt=…/hr=…/` to the hours it needs instead of
    /// listing every object ever written. A prefix that does not exist lists nothing.
    func children(of prefix: String) throws -> [String]
    func read(_ key: String) throws -> [UInt8]
    func delete(_ key: String) throws
    func exists(_ key: String) -> Bool
    /// Puts several objects; each is atomic, and all are durable when it returns. A store may
    /// overlap their writes and syncs (the local one does).
    func putAll(_ objects: [(key: String, bytes: [UInt8])]) throws
    /// Puts one object per key whose bytes `produce(i)` makes (called once per index, from up to
    /// `workers` threads at once), with `putAll`'s guarantees. A store may write each object as
    /// soon as it is produced, overlapping the producing (compression) with the writes.
    func putAll(keys: [String], workers: Int, produce: @escaping (Int) throws -> [UInt8]) throws
}

extension Lake {
    /// From the recursive listing, for stores without a cheaper one.
    public func children(of prefix: String) throws -> [String] {
        var p = prefix
        while p.hasSuffix("/") { p.removeLast() }
        let cut = p.isEmpty ? 0 : p.utf8.count + 1
        return Array(Set(try list(prefix: p).compactMap { key -> String? in
            let rest = key.utf8.dropFirst(cut)
            return rest.isEmpty ? nil : String(decoding: rest.prefix { $0 != 0x2F }, as: UTF8.self)
        })).sorted()
    }

    public func putAll(_ objects: [(key: String, bytes: [UInt8])]) throws {
        for o in objects { try put(o.key, o.bytes) }
    }

    public func putAll(keys: [String], workers: Int, produce: @escaping (Int) throws -> [UInt8]) throws {
        try putAll(Self.produceAll(keys: keys, workers: workers, produce))
    }

    /// Every object's bytes, produced on up to `workers` threads.
    static func produceAll(keys: [String], workers: Int, _ produce: @escaping (Int) throws -> [UInt8]) throws -> [(key: String, bytes: [UInt8])] {
        var bodies = [[UInt8]](repeating: [], count: keys.count)
        let lock = NSLock()
        try parallelFor(keys.count, workers: max(1, workers)) { i in
            let b = try produce(i)
            lock.lock(); bodies[i] = b; lock.unlock()
        }
        return keys.indices.map { (keys[$0], bodies[$0]) }
    }
}

/// Runs `body(i)` for i in 0..<count on up to `workers` threads; rethrows the first error.
/// `body` must only touch shared state under its own lock (the callers write disjoint slots).
func parallelFor(_ count: Int, workers: Int, _ body: @escaping (Int) throws -> Void) throws {
    if count <= 1 || workers <= 1 { for i in 0..<count { try body(i) }; return }
    final class State: @unchecked Sendable {
        let lock = NSLock()
        var firstError: Error?
    }
    struct Unchecked<T>: @unchecked Sendable { let value: T }
    let state = State()
    let w = min(workers, count)
    // Real threads, not concurrentPerform: the I/O callers want more syncs in flight than there
    // are cores (the filesystem journal commits concurrent fsyncs together).
    let fn = Unchecked(value: body)
    let group = DispatchGroup()
    for k in 0..<w {
        group.enter()
        let t = Thread {
            var i = k
            while i < count {
                do { try fn.value(i) } catch {
                    state.lock.lock(); if state.firstError == nil { state.firstError = error }; state.lock.unlock(); break
                }
                i += w
            }
            group.leave()
        }
        t.start()
    }
    group.wait()
    if let e = state.firstError { throw e }
}

public enum LakeKey {
    /// Why `key` may not address an object, or nil when it may. Keys are relative, have no empty,
    /// "." or ".." component, no NUL or backslash, and no component starting with "." (temp files).
    public static func problem(_ key: String) -> String? {
        if key.isEmpty { return "empty key" }
        // ASCII keys (all of delivery's) are checked on bytes, without Character iteration;
        // for them it is the same check as below.
        if key.utf8.allSatisfy({ $0 < 0x80 }) { return asciiProblem(key) }
        if key.utf8.count > 1024 { return "key longer than 1024 bytes" }
        if key.hasPrefix("/") { return "absolute key" }
        for c in key.utf8 where c == 0 || c == 0x5C || c < 0x20 { return "control character or backslash in key" }
        for comp in key.split(separator: "/", omittingEmptySubsequences: false) {
            if comp.isEmpty { return "empty path component" }
            if comp == "." || comp == ".." { return "'\(comp)' path component" }
            if comp.hasPrefix(".") { return "hidden path component '\(comp)'" }
        }
        return nil
    }

    private static func asciiProblem(_ key: String) -> String? {
        let u = key.utf8
        if u.count > 1024 { return "key longer than 1024 bytes" }
        if u.first == 0x2F { return "absolute key" }
        for c in u where c == 0 || c == 0x5C || c < 0x20 { return "control character or backslash in key" }
        var start = u.startIndex
        while true {
            let end = u[start...].firstIndex(of: 0x2F) ?? u.endIndex
            let comp = u[start..<end]
            if comp.isEmpty { return "empty path component" }
            if comp.first == 0x2E {
                let name = String(decoding: comp, as: UTF8.self)
                if comp.count <= 2 && comp.allSatisfy({ $0 == 0x2E }) { return "'\(name)' path component" }
                return "hidden path component '\(name)'"
            }
            if end == u.endIndex { return nil }
            start = u.index(after: end)
        }
    }
}

/// The lake as a local directory. Every write goes temp file → fsync → rename → directory fsync;
/// new directories are fsynced into their parents so the path itself survives a crash.
public final class LocalLake: Lake, @unchecked Sendable {
    public let root: String
    private let realRoot: String
    private let lock = NSLock()
    private var tmpCounter: UInt64 = 0
    private var knownDirs: Set<String> = []
    /// Directories whose real path was checked to lie inside the root.
    private var verifiedDirs: Set<String> = []
    /// The root, open for the lake's lifetime for `syncfs`. syncfs reports a write-back error to
    /// the descriptors that were open when it happened (errseq): one opened just before the call,
    /// as each sync used to, missed an error the kernel's own write-back met in between.
    private let syncFd: Int32
    private let syncLock = NSLock()
    /// Write-back errors syncfs has reported on this lake. A batch that sees this move while it
    /// was being written fails, whichever call got the error (it may have been another batch's).
    private var syncFailures: UInt64 = 0

    public init(root: String) throws {
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        self.root = r
        try FileIO.makeDirectory(r)
        guard let real = realpath(r, nil) else { throw LakeError(.io, key: "", "cannot resolve lake root \(r)") }
        realRoot = String(cString: real)
        free(real)
        syncFd = open(realRoot, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if syncFd < 0 { throw LakeError(.io, key: "", "cannot open the lake root \(realRoot): \(FileIO.errnoText())") }
    }

    deinit { close(syncFd) }

    private var syncFailureCount: UInt64 { syncLock.lock(); defer { syncLock.unlock() }; return syncFailures }

    /// The absolute path of `key`, after checking it cannot leave the root (also through symlinks
    /// of existing directories on the way).
    public func path(_ key: String) throws -> String {
        if let p = LakeKey.problem(key) { throw LakeError(.invalidKey, key: key, p) }
        let full = realRoot + "/" + key
        // Resolve the deepest existing ancestor and check it is inside the root. A directory this
        // lake created or resolved before ends the walk (one check per partition directory, not one
        // realpath walk per object); one that does not exist yet costs one lstat (realpath of a
        // missing path walks every component: for the ~1000 new directories of a flush that was
        // 0.1–0.2 s of serial syscalls).
        var dir = Self.parent(full)
        while !dir.isEmpty && dir != "/" {
            lock.lock(); let verified = verifiedDirs.contains(dir); lock.unlock()
            if verified { break }
            var st = stat()
            if lstat(dir, &st) == 0, let real = realpath(dir, nil) {
                let r = String(cString: real); free(real)
                guard r == realRoot || r.hasPrefix(realRoot + "/") else {
                    throw LakeError(.invalidKey, key: key, "resolves outside the lake root")
                }
                if r == dir {
                    lock.lock(); if verifiedDirs.count > 100_000 { verifiedDirs.removeAll() }; verifiedDirs.insert(dir); lock.unlock()
                }
                break
            }
            dir = Self.parent(dir)
        }
        return full
    }

    /// `a/b/c` → `a/b` (paths here are normalised: no empty or trailing components).
    /// (On UTF-8 bytes: '/' is one byte, and a backwards Character walk costs more than the rest of a put.)
    @inline(__always) static func parent(_ p: String) -> String {
        guard let i = p.utf8.lastIndex(of: 0x2F) else { return "" }
        return i == p.utf8.startIndex ? "/" : String(decoding: p.utf8[..<i], as: UTF8.self)
    }
    @inline(__always) static func lastComponent(_ p: String) -> String {
        guard let i = p.utf8.lastIndex(of: 0x2F) else { return p }
        return String(decoding: p.utf8[p.utf8.index(after: i)...], as: UTF8.self)
    }

    private func ensureDirectory(_ dir: String) throws {
        lock.lock(); let known = knownDirs.contains(dir); lock.unlock()
        if known { return }
        var missing: [String] = []
        var d = dir
        while !FileIO.exists(d) && d.utf8.count > realRoot.utf8.count { missing.append(d); d = Self.parent(d) }
        for m in missing.reversed() {
            if mkdir(m, 0o755) != 0 && errno != EEXIST { throw LakeError(.io, key: m, "mkdir: \(FileIO.errnoText())") }
            try FileIO.fsyncDirectory(Self.parent(m))
        }
        lock.lock(); knownDirs.insert(dir); lock.unlock()
    }

    /// Missing directories of a batch: `ordered` parents before children and in the order of the
    /// objects needing them; `need[i]`: how many of them must exist before object i's temp file.
    struct DirectoryPlan { var ordered: [String] = []; var need: [Int] = [] }

    private func directoryPlan(_ paths: [String]) -> DirectoryPlan {
        var plan = DirectoryPlan()
        plan.need.reserveCapacity(paths.count)
        lock.lock(); let known = knownDirs; lock.unlock()
        // Directory → how many of `ordered` must exist for it (0: it existed already).
        var ready: [String: Int] = [:]
        let rootLength = realRoot.utf8.count
        for p in paths {
            let dir = Self.parent(p)
            if let n = ready[dir] { plan.need.append(n); continue }
            var chain: [String] = []
            var d = dir
            var base = 0
            while true {
                if known.contains(d) || d.utf8.count <= rootLength { break }
                if let n = ready[d] { base = n; break }
                var st = stat()
                if stat(d, &st) == 0 { ready[d] = 0; break }
                chain.append(d); d = Self.parent(d)
            }
            for m in chain.reversed() { plan.ordered.append(m); ready[m] = plan.ordered.count }
            let n = ready[dir] ?? base
            ready[dir] = n
            plan.need.append(n)
        }
        return plan
    }

    /// Creates every missing directory first (parents before children), then syncs each parent
    /// that gained an entry once, on a few threads.
    private func ensureDirectories(_ dirs: [String], viaFilesystem: Bool) throws {
        lock.lock(); let todo = dirs.filter { !knownDirs.contains($0) }; lock.unlock()
        if todo.isEmpty { return }
        let failures0 = syncFailureCount
        var missing = Set<String>()
        for dir in todo {
            var d = dir
            while d.utf8.count > realRoot.utf8.count && !missing.contains(d) && !FileIO.exists(d) {
                missing.insert(d); d = Self.parent(d)
            }
        }
        let ordered = missing.sorted { $0.utf8.count < $1.utf8.count }
        // Parents before children, on this thread: ext4 spends most of a mkdir finding a free
        // inode, and two threads doing it at once spent twice the CPU (measured) for no gain.
        for m in ordered where mkdir(m, 0o755) != 0 && errno != EEXIST {
            throw LakeError(.io, key: m, "mkdir: \(FileIO.errnoText())")
        }
        if viaFilesystem {
            if !ordered.isEmpty { try syncFilesystem(key: String(decoding: ordered[0].utf8.dropFirst(realRoot.utf8.count + 1), as: UTF8.self), failuresBefore: failures0) }
        } else {
            let parents = Array(Set(ordered.map { Self.parent($0) }))
            try parallelFor(parents.count, workers: LocalLake.syncWorkers) { try FileIO.fsyncDirectory(parents[$0]) }
        }
        lock.lock(); if knownDirs.count > 100_000 { knownDirs.removeAll() }; knownDirs.formUnion(todo); lock.unlock()
    }

    public func put(_ key: String, _ bytes: [UInt8]) throws {
        let full = try path(key)
        let dir = Self.parent(full)
        try ensureDirectory(dir)
        lock.lock(); tmpCounter += 1; let n = tmpCounter; lock.unlock()
        let tmp = dir + "/." + Self.lastComponent(full) + ".tmp-\(getpid())-\(n)"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw LakeError(.io, key: key, "cannot create \(tmp): \(FileIO.errnoText())") }
        do {
            try bytes.withUnsafeBytes { try FileIO.pwriteAll(fd, $0, at: 0, path: tmp) }
            if fsync(fd) != 0 { throw LakeError(.io, key: key, "fsync: \(FileIO.errnoText())") }
        } catch {
            close(fd); unlink(tmp); throw error
        }
        close(fd)
        if rename(tmp, full) != 0 { let e = FileIO.errnoText(); unlink(tmp); throw LakeError(.io, key: key, "rename: \(e)") }
        try FileIO.fsyncDirectory(dir)
    }

    /// How a batch of objects (`putAll`) is made durable.
    public enum BatchSync: Sendable {
        /// One `syncfs(2)` after the temp files are written and one after they are renamed: the
        /// filesystem commits its journal twice per batch, however many objects and directories
        /// the batch has. Linux ≥ 5.8 reports writeback errors of the filesystem through it.
        /// Cost: it also writes back other dirty data on the same filesystem (the stream's
        /// segments are synced by the stream anyway).
        case filesystem
        /// `fsync` of every temp file (on up to `syncWorkers` threads) and of every touched directory.
        case perFile
    }
    /// Batches of at least this many objects use `batchSync`; smaller ones sync per file.
    public static let filesystemSyncThreshold = 8
    public var batchSync: BatchSync = .filesystem

    /// Writes many objects durably: all temp files are written, made durable together, renamed,
    /// and the renames made durable together (see `BatchSync`). On failure no temp file is left;
    /// objects already renamed stay (callers remove what no manifest lists).
    public func putAll(_ objects: [(key: String, bytes: [UInt8])]) throws {
        if objects.count <= 1 { for o in objects { try put(o.key, o.bytes) }; return }
        let viaFilesystem = batchSync == .filesystem && objects.count >= Self.filesystemSyncThreshold
        try putAll(keys: objects.map(\.key), workers: viaFilesystem ? 2 : LocalLake.syncWorkers, viaFilesystem: viaFilesystem) { objects[$0].bytes }
    }

    /// The same for bytes made by `produce`: with `BatchSync.filesystem` each worker writes the
    /// temp file of the object it just produced (compression and writes overlap; no object waits
    /// in memory for the others). Per-file syncs produce everything first, then write on
    /// `syncWorkers` threads, whose fsyncs overlap.
    public func putAll(keys: [String], workers: Int, produce: @escaping (Int) throws -> [UInt8]) throws {
        let viaFilesystem = batchSync == .filesystem && keys.count >= Self.filesystemSyncThreshold
        if !viaFilesystem { try putAll(Self.produceAll(keys: keys, workers: workers, produce)); return }
        try putAll(keys: keys, workers: max(1, workers), viaFilesystem: true, produce)
    }

    private func putAll(keys: [String], workers: Int, viaFilesystem: Bool, _ produce: @escaping (Int) throws -> [UInt8]) throws {
        let failures0 = syncFailureCount
        let paths = try keys.map { try path($0) }
        let dirs = Array(Set(paths.map { Self.parent($0) })).sorted()
        // Per-file syncs need every new directory synced into its parent first; a filesystem
        // sync makes the directories durable together with the temp files (the syncfs before the
        // renames), so there the directories are created while the objects are compressed.
        let plan: DirectoryPlan? = viaFilesystem ? directoryPlan(paths) : nil
        if plan == nil { try ensureDirectories(dirs, viaFilesystem: viaFilesystem) }
        lock.lock(); let base = tmpCounter; tmpCounter += UInt64(keys.count); lock.unlock()
        let pid = getpid()
        let tmps = paths.enumerated().map { i, p in
            Self.parent(p) + "/." + Self.lastComponent(p) + ".tmp-\(pid)-\(base + UInt64(i) + 1)"
        }
        func writeTemp(_ i: Int, _ bytes: [UInt8]) throws {
            let fd = open(tmps[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            if fd < 0 { throw LakeError(.io, key: keys[i], "cannot create \(tmps[i]): \(FileIO.errnoText())") }
            defer { close(fd) }
            try bytes.withUnsafeBytes { try FileIO.pwriteAll(fd, $0, at: 0, path: tmps[i]) }
            if !viaFilesystem, fsync(fd) != 0 { throw LakeError(.io, key: keys[i], "fsync: \(FileIO.errnoText())") }
        }
        do {
            if let plan {
                // With a filesystem sync, workers take a directory's objects at a time: two threads
                // creating files in one directory queue on its lock (and ext4 without a journal can
                // spend a millisecond finding a free inode while holding it). Task 0, when there
                // are directories to make, creates them (parents first, in object order: ext4
                // spends most of a mkdir finding a free inode, and two threads doing it at once
                // spent twice the CPU, measured) while the others compress; a worker waits for its
                // object's directory only before creating the temp file.
                let runs = DirectoryRuns(paths)
                let gate = DirectoryGate()
                let makers = plan.ordered.isEmpty ? 0 : 1
                let w = max(1, min(workers, keys.count))
                try parallelFor(w + makers, workers: w + makers) { k in
                    if k < makers {
                        do {
                            for (n, m) in plan.ordered.enumerated() {
                                if gate.isCancelled { return }
                                if mkdir(m, 0o755) != 0 && errno != EEXIST {
                                    throw LakeError(.io, key: m, "mkdir: \(FileIO.errnoText())")
                                }
                                gate.made(n + 1)
                            }
                        } catch { gate.cancel(); throw error }
                        return
                    }
                    do {
                        while let run = runs.claim() {
                            for i in run {
                                let bytes = try produce(i)
                                guard gate.wait(for: plan.need[i]) else { return }
                                try writeTemp(i, bytes)
                            }
                        }
                    } catch { gate.cancel(); runs.cancel(); throw error }
                }
            } else {
                // Per-file fsyncs: as many in flight as there are threads, whatever the directory.
                try parallelFor(keys.count, workers: workers) { i in try writeTemp(i, try produce(i)) }
            }
            if viaFilesystem { try syncFilesystem(key: keys[0], failuresBefore: failures0) }
        } catch {
            for t in tmps { unlink(t) }
            throw error
        }
        if plan != nil { lock.lock(); if knownDirs.count > 100_000 { knownDirs.removeAll() }; knownDirs.formUnion(dirs); lock.unlock() }
        try renameAll(tmps, to: paths, keys: keys, workers: min(2, max(1, workers)))
        if viaFilesystem { try syncFilesystem(key: keys[0], failuresBefore: failures0); return }
        try parallelFor(dirs.count, workers: LocalLake.syncWorkers) { try FileIO.fsyncDirectory(dirs[$0]) }
    }

    /// Renames each temp file to its object, a directory's run at a time on up to `workers` threads
    /// (a flush's 1,280 renames took 11 ms on one thread while the other core waited). On a
    /// failure the temp files not yet renamed are removed and the first error is thrown.
    private func renameAll(_ tmps: [String], to paths: [String], keys: [String], workers: Int) throws {
        let runs = DirectoryRuns(paths)
        let lock = NSLock()
        var renamed = [Bool](repeating: false, count: paths.count)
        do {
            try parallelFor(workers, workers: workers) { _ in
                while let run = runs.claim() {
                    for i in run {
                        if FileIO.injectedFault(.rename, paths[i]) != nil || rename(tmps[i], paths[i]) != 0 {
                            let e = FileIO.errnoText()
                            runs.cancel()
                            throw LakeError(.io, key: keys[i], "rename: \(e)")
                        }
                        lock.lock(); renamed[i] = true; lock.unlock()
                    }
                }
            }
        } catch {
            for i in tmps.indices where !renamed[i] { unlink(tmps[i]) }
            throw error
        }
    }

    /// `syncfs(2)` on the lake's filesystem: every file and directory change made before it is
    /// durable. `failuresBefore`: `syncFailureCount` when the caller's batch began; any write-back
    /// error reported since then, to this call or another, fails the batch.
    private func syncFilesystem(key: String, failuresBefore: UInt64) throws {
        syncLock.lock(); defer { syncLock.unlock() }
        if FileIO.injectedFault(.sync, realRoot + "/" + key) != nil || eddy_syncfs(syncFd) != 0 {
            let e = FileIO.errnoText()
            syncFailures &+= 1
            throw LakeError(.io, key: key, "syncfs: \(e)")
        }
        if syncFailures != failuresBefore {
            throw LakeError(.io, key: key, "syncfs: a write-back error on the lake's filesystem was reported while this batch was written")
        }
    }

    static let syncWorkers = 32

    /// A listing prefix without trailing slashes, and the directory it names (checked like a key).
    private func directory(ofPrefix prefix: String) throws -> (prefix: String, dir: String) {
        var p = prefix
        while p.hasSuffix("/") { p.removeLast() }
        if !p.isEmpty, let problem = LakeKey.problem(p) { throw LakeError(.invalidKey, key: prefix, problem) }
        return (p, p.isEmpty ? realRoot : try path(p))
    }

    public func list(prefix: String) throws -> [String] {
        let (p, base) = try directory(ofPrefix: prefix)
        var out: [String] = []
        guard let e = FileManager.default.enumerator(atPath: base) else { return [] }
        while let rel = e.nextObject() as? String {
            if rel.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: base + "/" + rel, isDirectory: &isDir), !isDir.boolValue {
                out.append(p.isEmpty ? rel : p + "/" + rel)
            }
        }
        return out.sorted()
    }

    public func children(of prefix: String) throws -> [String] {
        let dir = try directory(ofPrefix: prefix).dir
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        return names.filter { !$0.hasPrefix(".") }.sorted()   // temp files and other hidden entries are not objects
    }

    public func read(_ key: String) throws -> [UInt8] {
        let full = try path(key)
        guard FileIO.exists(full) else { throw LakeError(.notFound, key: key, "no such object") }
        do { return try FileIO.readWholeFile(full) } catch { throw LakeError(.io, key: key, "\(error)") }
    }

    public func delete(_ key: String) throws {
        let full = try path(key)
        if unlink(full) != 0 && errno != ENOENT { throw LakeError(.io, key: key, "unlink: \(FileIO.errnoText())") }
        try FileIO.fsyncDirectory((full as NSString).deletingLastPathComponent)
    }

    public func exists(_ key: String) -> Bool {
        guard let full = try? path(key) else { return false }
        return FileIO.exists(full)
    }

    /// Size in bytes of an object, nil when absent.
    public func size(_ key: String) -> Int64? {
        guard let full = try? path(key) else { return nil }
        var st = stat()
        return stat(full, &st) == 0 ? Int64(st.st_size) : nil
    }
}

/// Hands "the first n directories of a plan exist" from the thread creating them to the threads
/// waiting to create files in them; either side can give up, which releases the others.
final class DirectoryGate: @unchecked Sendable {
    private let cond = NSCondition()
    private var count = 0
    private var cancelled = false

    var isCancelled: Bool { cond.lock(); defer { cond.unlock() }; return cancelled }

    func made(_ n: Int) { cond.lock(); count = n; cond.broadcast(); cond.unlock() }

    func cancel() { cond.lock(); cancelled = true; cond.broadcast(); cond.unlock() }

    /// Waits until `n` directories exist; false when the batch was given up.
    func wait(for n: Int) -> Bool {
        cond.lock(); defer { cond.unlock() }
        while count < n && !cancelled { cond.wait() }
        return !cancelled
    }
}

/// Hands out items to whichever worker asks first, in order.
final class ClaimQueue<Item>: @unchecked Sendable {
    private let lock = NSLock()
    private let items: [Item]
    private var next = 0

    init(items: [Item]) { self.items = items }

    func claim() -> Item? {
        lock.lock(); defer { lock.unlock() }
        guard next < items.count else { return nil }
        next += 1
        return items[next - 1]
    }

    /// No more items for anyone (a worker failed).
    func cancel() { lock.lock(); next = items.count; lock.unlock() }
}

/// A batch's objects as runs of consecutive objects in the same directory, claimed by workers
/// one run at a time (in order, so the directory thread stays ahead of them).
typealias DirectoryRuns = ClaimQueue<Range<Int>>

extension ClaimQueue where Item == Range<Int> {
    convenience init(_ paths: [String]) {
        var runs: [Range<Int>] = []
        var start = 0
        var last: String? = nil
        for (i, p) in paths.enumerated() {
            let d = LocalLake.parent(p)
            if d == last { continue }
            if i > start { runs.append(start..<i) }
            start = i; last = d
        }
        if paths.count > start { runs.append(start..<paths.count) }
        self.init(items: runs)
    }
}
