import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension ShardedStream {
    /// Appends a batch and returns one result per record, in order, after ONE durability wait
    /// covering the whole batch (per the fsync policy). Records that fail (bad key, throttled,
    /// a write error on their shard) carry an error code; the others are acknowledged.
    /// Throws only when the stream itself is unusable (closed, an earlier fsync failed).
    public func append(_ batch: RecordBatch) async throws -> [AppendResult] {
        let (results, ticket, syncs) = try writeBatch(batch)
        switch config.fsync {
        case .never:
            return results
        case .always:
            try syncNow(syncs)
            return results
        case .group:
            if ticket > 0 { try await waitDurable(ticket) }
            return results
        }
    }

    /// The same as `append`, blocking the calling thread; for threads outside Swift concurrency.
    public func appendBlocking(_ batch: RecordBatch) throws -> [AppendResult] {
        let (results, ticket, syncs) = try writeBatch(batch)
        switch config.fsync {
        case .never: return results
        case .always: try syncNow(syncs); return results
        case .group:
            cond.lock(); defer { cond.unlock() }
            while durableEpoch < ticket && !hardFailure && !(stopping && committersRunning == 0) { cond.wait() }
            if durableEpoch < ticket { throw failure ?? StreamError(.closed, "stream closed before the append was durable") }
            return results
        }
    }

    /// Encodes and writes the batch (one pwrite per touched shard) under the lock.
    func writeBatch(_ batch: RecordBatch) throws -> ([AppendResult], UInt64, [(Int, SegmentFile, UInt64, Int64)]) {
        let n = batch.entries.count
        var results = [AppendResult](repeating: AppendResult(shardIndex: -1, offset: 0, error: nil, errorMessage: nil), count: n)
        if n == 0 { return (results, 0, []) }
        // Hash outside the lock.
        var keys = [HashKey](repeating: .zero, count: n)
        batch.bytes.withUnsafeBytes { raw in
            for i in 0..<n {
                let e = batch.entries[i]
                if let x = e.explicitHashKey { keys[i] = x; continue }
                if e.keyStart >= 0, e.keyCount >= 0, e.keyStart <= raw.count, e.keyCount <= raw.count - e.keyStart {
                    keys[i] = HashKey.md5(raw: UnsafeRawBufferPointer(rebasing: raw[e.keyStart..<(e.keyStart + e.keyCount)]))
                }
            }
        }
        cond.lock()
        defer { cond.unlock() }
        if let f = failure { throw f }
        let now = clock.nowMs()
        let limits = config.writeLimits
        var touched: [Int] = []
        var ioError: StreamError?
        batch.bytes.withUnsafeBytes { raw in
            for i in 0..<n {
                let e = batch.entries[i]
                guard e.keyCount >= 1, e.keyCount <= Frame.maxKeyBytes, e.dataCount >= 0, e.dataCount <= Frame.maxDataBytes,
                      e.keyStart >= 0, e.dataStart >= 0, e.keyCount <= raw.count - min(e.keyStart, raw.count),
                      e.dataCount <= raw.count - min(e.dataStart, raw.count) else {
                    results[i].error = .invalidArgument
                    results[i].errorMessage = "record \(i): partition key must be 1–256 bytes and data at most 1 MiB (key \(e.keyCount) bytes, data \(e.dataCount) bytes)"
                    continue
                }
                let s = shards[route(keys[i])]
                if let lim = limits {
                    let sec = now / 1000
                    if s.limitWindowSec != sec { s.limitWindowSec = sec; s.limitRecords = 0; s.limitBytes = 0 }
                    if s.limitRecords + 1 > lim.recordsPerSec || s.limitBytes + e.dataCount + e.keyCount > lim.bytesPerSec {
                        s.throttles += 1
                        results[i].error = .throughputExceeded
                        results[i].errorMessage = "Rate exceeded for shard \(s.desc.shardId) (limit \(lim.recordsPerSec) records/s, \(lim.bytesPerSec) bytes/s)"
                        continue
                    }
                    s.limitRecords += 1; s.limitBytes += e.dataCount + e.keyCount
                }
                if !s.touched {
                    if let active = s.segments.last, active.size >= config.segmentBytes {
                        do { try roll(s) } catch let err as StreamError { ioError = err } catch { ioError = StreamError(.io, "\(error)") }
                        if ioError != nil { return }
                    }
                    s.touched = true
                    touched.append(s.desc.index)
                    s.batchFirstOffset = s.nextOffset
                    s.batchPrevArrival = s.lastArrivalMs
                    s.buf.removeAll(keepingCapacity: true)
                    s.pendingIndex.removeAll(keepingCapacity: true)
                    s.buf.reserveCapacity(4096)
                }
                let arrival = max(now, s.lastArrivalMs)
                let active = s.segments[s.segments.count - 1]
                let pos = active.size + Int64(s.buf.count)
                let lastIdx = s.pendingIndex.last?.position ?? active.lastIndexedPosition
                if pos - lastIdx >= Int64(config.indexIntervalBytes) {
                    s.pendingIndex.append(IndexEntry(offset: s.nextOffset, position: pos, arrivalMs: arrival))
                }
                Frame.encode(into: &s.buf, offset: s.nextOffset, arrivalMs: arrival,
                             key: UnsafeRawBufferPointer(rebasing: raw[e.keyStart..<(e.keyStart + e.keyCount)]),
                             data: UnsafeRawBufferPointer(rebasing: raw[e.dataStart..<(e.dataStart + e.dataCount)]))
                results[i].shardIndex = Int32(s.desc.index)
                results[i].offset = s.nextOffset
                s.nextOffset += 1
                s.lastArrivalMs = arrival
                s.recordsTotal += 1
                s.bytesTotal += UInt64(e.dataCount + e.keyCount)
                // 1 in 8, scrambled so periodic key patterns do not alias with the stride.
                if (s.recordsTotal &* 0x9E37_79B9_7F4A_7C15) >> 61 == 0 && s.keySample.count < 512 { s.keySample.append(keys[i]) }
            }
        }
        if let err = ioError {
            // A roll failed: undo everything this batch encoded and fail it whole.
            for idx in touched { let s = shards[idx]; s.touched = false; s.nextOffset = s.batchFirstOffset; s.lastArrivalMs = s.batchPrevArrival }
            throw err
        }
        var syncs: [(Int, SegmentFile, UInt64, Int64)] = []
        var failedShards: [Int: StreamError] = [:]
        for idx in touched {
            let s = shards[idx]
            s.touched = false
            let seg = s.segments.count - 1
            let file = s.segments[seg].file
            do {
                try s.buf.withUnsafeBytes { try FileIO.pwriteAll(file.fd, $0, at: s.segments[seg].size, path: file.path) }
            } catch {
                let err = (error as? StreamError) ?? StreamError(.io, "\(error)")
                _ = try? FileIO.truncate(file.fd, to: s.segments[seg].size, path: file.path)
                s.recordsTotal -= s.nextOffset - s.batchFirstOffset
                s.nextOffset = s.batchFirstOffset
                s.lastArrivalMs = s.batchPrevArrival
                failedShards[idx] = err
                continue
            }
            s.segments[seg].size += Int64(s.buf.count)
            s.segments[seg].index.append(contentsOf: s.pendingIndex)
            if let l = s.pendingIndex.last { s.segments[seg].lastIndexedPosition = l.position }
            if s.segments[seg].isEmpty { s.segments[seg].firstArrivalMs = s.buf.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: Int64.self) } }
            s.segments[seg].nextOffset = s.nextOffset
            s.segments[seg].lastArrivalMs = s.lastArrivalMs
            if s.buf.capacity > (4 << 20) { s.buf = [] }
            switch config.fsync {
            case .never:
                s.durableOffset = s.nextOffset; s.durableArrivalMs = s.lastArrivalMs
            case .always:
                syncs.append((idx, file, s.nextOffset, s.lastArrivalMs))
            case .group:
                break
            }
        }
        if !failedShards.isEmpty {
            for i in 0..<n where results[i].error == nil {
                if let err = failedShards[Int(results[i].shardIndex)] {
                    results[i] = AppendResult(shardIndex: -1, offset: 0, error: err.code, errorMessage: err.message)
                }
            }
        }
        var ticket: UInt64 = 0
        if case .group = config.fsync, touched.count > failedShards.count {
            writeEpoch += 1
            ticket = writeEpoch
            cond.broadcast()
        }
        return (results, ticket, syncs)
    }

    /// `.always`: fsync the files this append wrote, then publish. Earlier writes to the same file
    /// sit before ours, and earlier segments were synced when they rolled, so the fsync covers them.
    func syncNow(_ syncs: [(Int, SegmentFile, UInt64, Int64)]) throws {
        for (_, f, _, _) in syncs {
            do { try FileIO.fdatasyncOrThrow(f.fd, path: f.path) } catch let e as StreamError {
                cond.lock(); failure = e; cond.unlock(); throw e
            }
        }
        cond.lock()
        for (idx, _, end, arr) in syncs where shards[idx].durableOffset < end {
            shards[idx].durableOffset = end; shards[idx].durableArrivalMs = arr
        }
        cond.unlock()
    }

    var hardFailure: Bool { if let f = failure { return f.code != .closed }; return false }

    /// The error that made the stream stop taking writes (a failed fsync), or nil while it takes
    /// them (or was merely closed). For readiness checks.
    public var failureIfFailed: StreamError? { cond.lock(); defer { cond.unlock() }; return hardFailure ? failure : nil }

    func waitDurable(_ ticket: UInt64) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            cond.lock()
            if durableEpoch >= ticket { cond.unlock(); c.resume(); return }
            if hardFailure || (stopping && committersRunning == 0), let f = failure { cond.unlock(); c.resume(throwing: f); return }
            waiters.append((ticket, c))
            cond.broadcast()
            cond.unlock()
        }
    }

    /// Seals the active segment (fsync) and starts a new one at the next offset. Under the lock.
    func roll(_ s: Shard) throws {
        let sealed = s.segments.count - 1
        if let last = s.segments.last {
            try FileIO.fdatasyncOrThrow(last.file.fd, path: last.file.path)
            SegmentIndexFile.write(last)
        }
        try createSegment(s, base: s.nextOffset)
        // The sealed segment gives up its descriptor (closed once in-flight readers let go of it).
        if sealed >= 0 { s.segments[sealed].file = SegmentFile(sealedAt: s.segments[sealed].file.path) }
    }

    // MARK: group commit

    /// Commits that may be in flight at once. Two let the next group's bytes reach the device
    /// while the previous fsync is still waiting on its journal commit.
    static let commitPipelineDepth = 2

    func startCommitter() {
        committersRunning = Self.commitPipelineDepth
        for i in 0..<Self.commitPipelineDepth {
            let pool = SyncPool(threads: 3)
            let t = Thread { [self] in self.committerLoop(pool: pool) }
            t.name = "eddy-stream-commit-\(i)"
            t.start()
        }
    }

    /// A committer: once writes exist that no commit covers yet, snapshot the write epoch, fsync
    /// the active segment of every shard with records not yet durable (side by side), then
    /// publish the durable ends and wake every append whose ticket the snapshot covered.
    /// Appends arriving during an fsync form the next group, which the other committer may
    /// already be syncing. Why publishing is safe out of order: a commit syncs every shard that
    /// was not durable at its snapshot, after all writes with tickets ≤ its epoch, so its own
    /// completion alone makes that epoch durable.
    private func committerLoop(pool: SyncPool) {
        let windowUs: UInt32
        if case .group(let w) = config.fsync { windowUs = UInt32(w * 1000) } else { windowUs = 0 }
        cond.lock()
        while true {
            while (snapshotEpoch >= writeEpoch || hardFailure) && !stopping { cond.wait() }
            if stopping && (snapshotEpoch >= writeEpoch || hardFailure) { break }
            if windowUs > 0 && !stopping { cond.unlock(); usleep(windowUs); cond.lock() }
            let epoch = writeEpoch
            snapshotEpoch = epoch
            var targets: [(Int, SegmentFile, UInt64, Int64)] = []
            for s in shards where s.durableOffset < s.nextOffset {
                if let f = s.segments.last?.file { targets.append((s.desc.index, f, s.nextOffset, s.lastArrivalMs)) }
            }
            let inject = fsyncFaultInjector
            cond.unlock()
            let errs = ErrorBox()
            pool.runAll(targets.map { t in
                {
                    do {
                        try inject?(t.1.path)
                        try FileIO.fdatasyncOrThrow(t.1.fd, path: t.1.path)
                    } catch { errs.set((error as? StreamError) ?? StreamError(.io, "\(error)")) }
                }
            })
            let err = errs.value
            cond.lock()
            var ready: [CheckedContinuation<Void, any Error>] = []
            var failed: [CheckedContinuation<Void, any Error>] = []
            if let e = err {
                if !hardFailure { config.log("fsync failed, stream stops accepting writes: \(e)") }
                failure = e
                failed = waiters.map { $0.cont }; waiters.removeAll()
            } else if !hardFailure {
                for (idx, _, end, arr) in targets where shards[idx].durableOffset < end {
                    shards[idx].durableOffset = end; shards[idx].durableArrivalMs = arr
                }
                durableEpoch = max(durableEpoch, epoch)
                let done = durableEpoch
                ready = waiters.filter { $0.ticket <= done }.map { $0.cont }
                waiters.removeAll { $0.ticket <= done }
            }
            cond.broadcast() // appendBlocking waiters, close(), the other committer
            cond.unlock()
            for c in ready { c.resume() }
            for c in failed { c.resume(throwing: err ?? failure ?? StreamError(.io, "fsync failed")) }
            cond.lock()
        }
        cond.unlock()
        pool.stop()
        cond.lock()
        committersRunning -= 1
        cond.broadcast()
        cond.unlock()
    }
}

/// First error of a group of concurrent fsyncs.
final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var first: StreamError?
    func set(_ e: StreamError) { lock.lock(); if first == nil { first = e }; lock.unlock() }
    var value: StreamError? { lock.lock(); defer { lock.unlock() }; return first }
}
