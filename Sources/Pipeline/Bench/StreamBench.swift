import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// "stream-append": group-commit append throughput of ~450-byte records in batches of 500, acked
/// only after fsync, against the disk's own sequential bandwidth (dd conv=fdatasync, same
/// filesystem) and Redis Streams (XADD pipelined, appendfsync everysec); ack latency at half the
/// maximum rate against a bare write+fdatasync of one batch; consumer reads from a warm backlog
/// against plain reads of the same segment files.
public struct StreamBench: BenchmarkCase {
    public let name = "stream-append"
    public init() {}

    static let recordBytes = 450
    /// Concurrent appenders (a collector has many connections in flight). EDDY_BENCH_WRITERS overrides.
    static var writers: Int { Int(ProcessInfo.processInfo.environment["EDDY_BENCH_WRITERS"] ?? "") ?? 16 }
    static var windowMs: Int { Int(ProcessInfo.processInfo.environment["EDDY_BENCH_WINDOW_MS"] ?? "") ?? 0 }
    static let batchSize = 500

    public func run(quick: Bool, progress: @Sendable (String) -> Void) async throws -> [BenchFigure] {
        let base = NSTemporaryDirectory() + "eddy-bench-stream-\(getpid())"
        try? FileManager.default.removeItem(atPath: base)
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let runs = quick ? 1 : 3
        let seconds = quick ? 2.0 : 5.0
        let batches = Self.makeBatches(count: 16)
        var figures: [BenchFigure] = []

        // Anchor 1: dd with fdatasync on the same filesystem.
        var ddRuns: [Double] = []
        for _ in 0..<runs {
            let mb = quick ? 256 : 1024
            ddRuns.append(try Self.ddWriteMBps(dir: base, megabytes: mb))
            progress("dd conv=fdatasync: \(fmt(ddRuns.last!)) MB/s")
        }
        let dd = median(ddRuns)

        // Anchor 2: Redis Streams.
        var redis: (recordsPerSec: Double, mbPerSec: Double, version: String)? = nil
        do {
            redis = try Self.redisXadd(dir: base, records: quick ? 100_000 : 400_000, progress: progress)
        } catch {
            progress("redis anchor unavailable: \(error)")
        }

        // eddy: concurrent writers, group commit.
        var appendRuns: [(rps: Double, mbps: Double, fsyncs: Double)] = []
        var lastDir = ""
        for r in 0..<runs {
            lastDir = base + "/eddy-\(r)"
            let res = try await Self.appendThroughput(dir: lastDir, batches: batches, seconds: seconds, writers: Self.writers)
            appendRuns.append(res)
            progress("eddy append: \(fmt(res.rps)) records/s, \(fmt(res.mbps)) MB/s")
            if r < runs - 1 { try? FileManager.default.removeItem(atPath: lastDir) }
        }
        let rps = median(appendRuns.map { $0.rps })
        let mbps = median(appendRuns.map { $0.mbps })
        figures.append(BenchFigure(name: "append MB/s (450 B records, batches of 500, group commit, ack after fsync)",
                                   value: mbps, unit: "MB/s", anchorName: "dd bs=1M conv=fdatasync, same filesystem",
                                   anchorValue: dd, goal: "≥ 0.8× anchor; floor 150 MB/s",
                                   note: "median of \(runs) run(s) of \(Int(seconds)) s, \(Self.writers) writers, 4 shards, group window \(Self.windowMs) ms"))
        figures.append(BenchFigure(name: "append records/s (same run)", value: rps, unit: "records/s",
                                   anchorName: redis.map { "Redis \($0.version) XADD pipelined, appendfsync everysec" } ?? "Redis Streams (not available)",
                                   anchorValue: redis?.recordsPerSec, goal: "≥ 2× anchor",
                                   note: redis.map { "Redis \(fmt($0.mbPerSec)) MB/s of record data" }))

        // The same with more appends in flight: on a disk whose cache flush costs milliseconds,
        // throughput is bounded by bytes in flight per flush, so this shows the headroom a busy
        // collector (many connections) gets.
        var wideRuns: [Double] = []
        for r in 0..<runs {
            let dir = base + "/eddy-wide-\(r)"
            let res = try await Self.appendThroughput(dir: dir, batches: batches, seconds: seconds, writers: 4 * Self.writers)
            wideRuns.append(res.mbps)
            progress("eddy append, \(4 * Self.writers) writers: \(fmt(res.rps)) records/s, \(fmt(res.mbps)) MB/s")
            try? FileManager.default.removeItem(atPath: dir)
        }
        figures.append(BenchFigure(name: "append MB/s with \(4 * Self.writers) concurrent writers (same records, same commit)",
                                   value: median(wideRuns), unit: "MB/s", anchorName: "dd bs=1M conv=fdatasync, same filesystem",
                                   anchorValue: dd, goal: "≥ 0.8× anchor",
                                   note: "median of \(runs) run(s); 4× the bytes in flight per fsync"))

        // Ack latency at half the maximum rate, and the bare fsync of one batch as its anchor.
        let lat = try await Self.ackLatency(dir: base + "/eddy-lat", batches: batches, recordsPerSec: rps / 2,
                                            seconds: quick ? 2 : 5)
        let raw = try Self.rawBatchFsyncLatency(dir: base, samples: quick ? 50 : 200)
        progress("ack latency at \(fmt(rps / 2)) records/s: p50 \(fmt(lat.p50)) ms, p99 \(fmt(lat.p99)) ms; bare write+fdatasync p50 \(fmt(raw.p50)) ms")
        figures.append(BenchFigure(name: "ack latency p50 at half max rate", value: lat.p50, unit: "ms",
                                   anchorName: "one batch (225 KB) pwrite + fdatasync, p50", anchorValue: raw.p50,
                                   higherIsBetter: false, note: "\(lat.count) batches at \(fmt(rps / 2)) records/s"))
        figures.append(BenchFigure(name: "ack latency p99 at half max rate", value: lat.p99, unit: "ms",
                                   anchorName: "one batch (225 KB) pwrite + fdatasync, p99", anchorValue: raw.p99,
                                   higherIsBetter: false))

        // Consumer read from the warm backlog of the last throughput run.
        let read = try Self.consumerRead(dir: lastDir)
        let plain = Self.plainRead(dir: lastDir)
        progress("consumer read: \(fmt(read.rps)) records/s, \(fmt(read.mbps)) MB/s; plain read \(fmt(plain)) MB/s")
        figures.append(BenchFigure(name: "consumer read MB/s from warm backlog", value: read.mbps, unit: "MB/s",
                                   anchorName: "pread of the same segment files (page cache), 1 MiB chunks", anchorValue: plain,
                                   note: "\(fmt(read.rps)) records/s, CRC verified on every frame"))
        return figures
    }

    // MARK: pieces

    static func makeBatches(count: Int) -> [RecordBatch] {
        var rng = SystemRandomNumberGenerator()
        return (0..<count).map { _ in
            var b = RecordBatch(reservingRecords: batchSize, bytes: batchSize * (recordBytes + 24))
            for _ in 0..<batchSize {
                let sid = "s-" + String(UInt64.random(in: 0..<1_000_000, using: &rng), radix: 36)
                var rec = "{\"site\":\"shop-\(Int.random(in: 0..<320, using: &rng))\",\"session_id\":\"\(sid)\",\"type\":\"page_view\",\"url\":\"/p/"
                while rec.utf8.count < recordBytes - 2 { rec += String(UInt32.random(in: 0...UInt32.max, using: &rng), radix: 36) }
                rec = String(rec.utf8.prefix(recordBytes - 2))! + "\"}"
                b.append(data: rec, partitionKey: sid)
            }
            return b
        }
    }

    static func appendThroughput(dir: String, batches: [RecordBatch], seconds: Double, writers: Int) async throws
        -> (rps: Double, mbps: Double, fsyncs: Double) {
        var cfg = StreamConfig(shardCount: 4, fsync: .group(windowMs: Self.windowMs))
        cfg.log = { _ in }
        let s = try ShardedStream(dataDirectory: dir, config: cfg)
        defer { s.close() }
        let start = Date()
        let deadline = start.addingTimeInterval(seconds)
        let totals = try await withThrowingTaskGroup(of: (Int, Int).self) { g in
            for w in 0..<writers {
                g.addTask {
                    var recs = 0, bytes = 0, i = w
                    while Date() < deadline {
                        let b = batches[i % batches.count]; i += 1
                        let r = try await s.append(b)
                        recs += r.count
                        bytes += b.entries.reduce(0) { $0 + $1.dataCount }
                    }
                    return (recs, bytes)
                }
            }
            var t = (0, 0)
            for try await x in g { t.0 += x.0; t.1 += x.1 }
            return t
        }
        let el = Date().timeIntervalSince(start)
        return (Double(totals.0) / el, Double(totals.1) / el / 1e6, 0)
    }

    static func ackLatency(dir: String, batches: [RecordBatch], recordsPerSec: Double, seconds: Double) async throws
        -> (p50: Double, p99: Double, count: Int) {
        var cfg = StreamConfig(shardCount: 4, fsync: .group(windowMs: 0))
        cfg.log = { _ in }
        let s = try ShardedStream(dataDirectory: dir, config: cfg)
        defer { s.close() }
        let interval = Double(batchSize) / max(recordsPerSec, 1)
        let n = max(10, Int(seconds / interval))
        let t0 = DispatchTime.now().uptimeNanoseconds
        let lats = try await withThrowingTaskGroup(of: Double.self) { g in
            for i in 0..<n {
                // Open loop: batch i is due at t0 + i·interval whether or not earlier ones returned.
                let due = t0 + UInt64(Double(i) * interval * 1e9)
                let now = DispatchTime.now().uptimeNanoseconds
                if due > now { try await Task.sleep(nanoseconds: due - now) }
                let b = batches[i % batches.count]
                g.addTask {
                    let a = DispatchTime.now().uptimeNanoseconds
                    _ = try await s.append(b)
                    return Double(DispatchTime.now().uptimeNanoseconds - a) / 1e6
                }
            }
            var out: [Double] = []
            for try await l in g { out.append(l) }
            return out
        }.sorted()
        return (percentile(lats, 0.5), percentile(lats, 0.99), lats.count)
    }

    static func rawBatchFsyncLatency(dir: String, samples: Int) throws -> (p50: Double, p99: Double) {
        let path = dir + "/raw-fsync.bin"
        let fd = try FileIO.openFile(path, create: true)
        defer { close(fd); unlink(path) }
        let buf = [UInt8](repeating: 0x5A, count: batchSize * (recordBytes + 40))
        var lats: [Double] = []
        var off: Int64 = 0
        for _ in 0..<samples {
            let a = DispatchTime.now().uptimeNanoseconds
            try buf.withUnsafeBytes { try FileIO.pwriteAll(fd, $0, at: off, path: path) }
            try FileIO.fdatasyncOrThrow(fd, path: path)
            lats.append(Double(DispatchTime.now().uptimeNanoseconds - a) / 1e6)
            off += Int64(buf.count)
        }
        lats.sort()
        return (percentile(lats, 0.5), percentile(lats, 0.99))
    }

    static func consumerRead(dir: String) throws -> (rps: Double, mbps: Double) {
        var cfg = StreamConfig(shardCount: 4)
        cfg.log = { _ in }
        let s = try ShardedStream(dataDirectory: dir, config: cfg)
        defer { s.close() }
        let c = try s.consumer("bench-reader")
        let a = Date()
        var recs = 0, bytes = 0
        while true {
            let got = try c.poll(maxRecordsPerShard: 10_000, maxBytesPerShard: 10 << 20)
            if got.isEmpty { break }
            for b in got { recs += b.count; bytes += b.dataBytes }
        }
        let el = Date().timeIntervalSince(a)
        return (Double(recs) / el, Double(bytes) / el / 1e6)
    }

    static func plainRead(dir: String) -> Double {
        var files: [String] = []
        let root = dir + "/stream/clickstream"
        for sh in FileIO.listDirectory(root) where sh.hasPrefix("shardId-") {
            for f in FileIO.listDirectory(root + "/" + sh) where f.hasSuffix(".log") { files.append(root + "/" + sh + "/" + f) }
        }
        let a = Date()
        var total = 0
        var buf: [UInt8] = []
        for f in files {
            let fd = open(f, O_RDONLY)
            if fd < 0 { continue }
            var off: Int64 = 0
            while true {
                buf.removeAll(keepingCapacity: true)
                let n = (try? FileIO.pread(fd, into: &buf, count: 1 << 20, at: off, path: f)) ?? 0
                if n <= 0 { break }
                total += n; off += Int64(n)
            }
            close(fd)
        }
        return Double(total) / Date().timeIntervalSince(a) / 1e6
    }

    static func ddWriteMBps(dir: String, megabytes: Int) throws -> Double {
        let out = dir + "/dd.bin"
        defer { unlink(out) }
        let a = Date()
        let (rc, _, err) = try runProcess("/bin/dd", ["if=/dev/zero", "of=\(out)", "bs=1M", "count=\(megabytes)", "conv=fdatasync"])
        let el = Date().timeIntervalSince(a)
        guard rc == 0 else { throw StreamError(.io, "dd failed: \(err)") }
        return Double(megabytes) * 1_048_576 / el / 1e6
    }

    static func redisXadd(dir: String, records: Int, progress: @Sendable (String) -> Void) throws
        -> (recordsPerSec: Double, mbPerSec: Double, version: String) {
        func which(_ n: String) -> String? {
            for d in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] where FileManager.default.isExecutableFile(atPath: d + "/" + n) { return d + "/" + n }
            return nil
        }
        if which("redis-server") == nil || which("redis-cli") == nil {
            progress("installing redis-server with apt-get (one time)")
            _ = try? runProcess("/usr/bin/apt-get", ["update", "-qq"])
            let (rc, _, err) = try runProcess("/usr/bin/env", ["DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", "redis-server"])
            if rc != 0 { throw StreamError(.io, "apt-get install redis-server failed: \(err.suffix(300))") }
        }
        guard let server = which("redis-server"), let cli = which("redis-cli") else {
            throw StreamError(.io, "redis-server not found after install")
        }
        let port = 20_000 + Int(getpid() % 20_000)
        let rdir = dir + "/redis"
        try FileManager.default.createDirectory(atPath: rdir, withIntermediateDirectories: true)
        let redis = try BenchSupport.spawn(server, ["--port", "\(port)", "--bind", "127.0.0.1", "--dir", rdir, "--appendonly", "yes",
                                                   "--appendfsync", "everysec", "--save", "", "--daemonize", "no", "--protected-mode", "yes"])
        defer { BenchSupport.stop(redis) }
        var up = false
        for _ in 0..<100 {
            if let r = try? runProcess(cli, ["-p", "\(port)", "ping"]), r.0 == 0, r.1.contains("PONG") { up = true; break }
            usleep(50_000)
        }
        guard up else { throw StreamError(.io, "redis-server did not answer on port \(port)") }
        let version = (try? runProcess(server, ["--version"]).1.split(separator: " ").first { $0.hasPrefix("v=") }.map { String($0.dropFirst(2)) }) ?? nil
        // RESP for XADD bench * d <450 bytes>, the same records eddy appends.
        let batches = makeBatches(count: 8)
        var resp: [UInt8] = []
        resp.reserveCapacity(records * (recordBytes + 64))
        var dataBytes = 0
        for i in 0..<records {
            let b = batches[(i / batchSize) % batches.count]
            let e = b.entries[i % batchSize]
            resp += Array("*5\r\n$4\r\nXADD\r\n$5\r\nbench\r\n$1\r\n*\r\n$1\r\nd\r\n$\(e.dataCount)\r\n".utf8)
            resp += b.bytes[e.dataStart..<(e.dataStart + e.dataCount)]
            resp += [13, 10]
            dataBytes += e.dataCount
        }
        let input = rdir + "/xadd.resp"
        try Data(resp).write(to: URL(fileURLWithPath: input))
        let a = Date()
        let (rc, out, err) = try runProcess("/bin/sh", ["-c", "'\(cli)' -p \(port) --pipe < '\(input)'"])
        let el = Date().timeIntervalSince(a)
        guard rc == 0, out.contains("errors: 0") else { throw StreamError(.io, "redis-cli --pipe failed: \(out.suffix(200)) \(err.suffix(200))") }
        _ = try? runProcess(cli, ["-p", "\(port)", "shutdown", "nosave"])
        progress("redis \(version ?? "?") XADD: \(fmt(Double(records) / el)) records/s")
        return (Double(records) / el, Double(dataBytes) / el / 1e6, version ?? "?")
    }

    @discardableResult
    static func runProcess(_ exe: String, _ args: [String]) throws -> (Int32, String, String) {
        let r = try BenchSupport.run(exe, args)
        return (r.status, r.stdout, r.stderr)
    }
}

private func median(_ xs: [Double]) -> Double {
    let s = xs.sorted(); return s.isEmpty ? 0 : s[s.count / 2]
}
private func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p + 0.5))]
}
private func fmt(_ v: Double) -> String { String(format: v >= 100 ? "%.0f" : "%.2f", v) }
