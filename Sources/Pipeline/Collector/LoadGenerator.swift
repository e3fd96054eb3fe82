import Foundation

/// `eddy loadgen`: simulator batches over HTTP (native API or Kinesis PutRecords), open-loop at a
/// rate or as fast as acks allow, one blocking connection per thread.
public struct LoadGenConfig: Sendable {
    public enum API: String, Sendable { case native, kinesis }
    public var host: String
    public var port: Int
    public var api: API = .native
    /// Events per second over all connections; nil = as fast as acks allow.
    public var rate: Double? = nil
    public var durationSeconds: Double = 30
    public var sites: Int = 320
    public var batch: Int = 500
    public var connections: Int = 4
    /// Bearer write key (native) — a relay key for many sites.
    public var key: String? = nil
    /// AWS access key id and secret (kinesis).
    public var accessKey: String? = nil
    public var secretKey: String? = nil
    public var streamName: String = "clickstream"
    /// Path for the native API (the nginx anchor uses the same).
    public var path: String = "/v1/events"
    /// Write acknowledged event_ids here, one per line (generates every batch fresh). An id is
    /// written only after a 2xx answer accepted its record; the file is buffered, flushed and
    /// fsynced about every second and at the end. A request that fails (connection refused or
    /// reset: the server died) counts as not acknowledged and is not retried, so no id is sent
    /// twice; the run goes on with fresh batches until the duration ends.
    public var recordAckedPath: String? = nil
    /// Distinct pre-generated batches per connection when not recording ids.
    public var poolBatches: Int = 16
    /// Generate every batch fresh (unique event ids, current timestamps) instead of cycling the
    /// pool: what end-to-end runs need, since the warehouse counts each event_id once.
    public var fresh: Bool = false
    var generatesFresh: Bool { fresh || recordAckedPath != nil }
    public var seed: UInt64 = 1
    public init(host: String, port: Int) { self.host = host; self.port = port }
}

public struct LoadGenResult: Sendable, Codable {
    public var seconds: Double
    public var requests: Int
    /// Events in every request sent (acknowledged or not).
    public var sent: Int
    /// Events acknowledged (2xx and not listed as failed).
    public var events: Int
    public var bytes: Int
    public var eventsPerSec: Double
    public var mbPerSec: Double
    public var ackP50Ms: Double
    public var ackP99Ms: Double
    public var ackMaxMs: Double
    public var errorsByCode: [String: Int]

    public var summary: String {
        var s = String(format: "%.0f events/s, %.1f MB/s over %.1f s (%d events acked of %d sent, %d requests); ack p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                       eventsPerSec, mbPerSec, seconds, events, sent, requests, ackP50Ms, ackP99Ms, ackMaxMs)
        if errorsByCode.isEmpty { s += "; no errors" } else {
            s += "; errors: " + errorsByCode.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        return s
    }
}

public final class LoadGenerator: @unchecked Sendable {
    public let config: LoadGenConfig
    private let lock = NSLock()
    private var events = 0, bytes = 0, requests = 0, sent = 0
    private var latencies: [Double] = []
    private var errors: [String: Int] = [:]
    private var ackedFD: Int32 = -1
    private var ackedBuffer: [UInt8] = []
    private var ackedFailure: String?
    private var stopRequested = false

    public init(config: LoadGenConfig) { self.config = config }

    /// Ends the run early (SIGTERM/SIGINT in `eddy loadgen`): each connection finishes its request
    /// in flight, the acked ids are written and synced, and `run` returns the result so far.
    public func requestStop() { lock.lock(); stopRequested = true; lock.unlock() }
    private var stopping: Bool { lock.lock(); defer { lock.unlock() }; return stopRequested }

    /// Runs for the configured duration; `progress` gets a line about once a second.
    public func run(progress: (@Sendable (String) -> Void)? = nil) throws -> LoadGenResult {
        if let p = config.recordAckedPath {
            ackedFD = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            if ackedFD < 0 { throw BlockingHTTPClient.Failure.io("cannot create \(p): \(String(cString: strerror(errno)))") }
        }
        defer { if ackedFD >= 0 { close(ackedFD); ackedFD = -1 } }
        // Pre-generate so generation cost is not measured (unless batches are generated fresh).
        var pools: [[[UInt8]]] = []
        for c in 0..<config.connections {
            var sc = SimulatorConfig(sites: config.sites, seed: config.seed &+ UInt64(c) &* 7919)
            sc.catalogSeed = config.seed  // every connection sends to the same `sites` sites
            var sim = Simulator(sc)
            sim.setClock(ms: Int64(Date().timeIntervalSince1970 * 1000))
            let n = config.generatesFresh ? 1 : config.poolBatches
            pools.append((0..<n).map { _ in encode(sim: &sim) })
        }
        let start = BenchClock.now()
        let deadline = start + config.durationSeconds
        var threads: [Thread] = []
        let done = DispatchGroup()
        for c in 0..<config.connections {
            done.enter()
            let pool = pools[c]
            let t = Thread { [self] in
                defer { done.leave() }
                worker(index: c, pool: pool, start: start, deadline: deadline)
            }
            t.stackSize = 1 << 20
            threads.append(t); t.start()
        }
        var lastEvents = 0, lastT = start
        while done.wait(timeout: .now() + 1) == .timedOut {
            let now = BenchClock.now()
            lock.lock(); let e = events, b = bytes, errs = errors.values.reduce(0, +); lock.unlock()
            progress?(String(format: "%5.1fs  %8.0f events/s  %7.1f MB/s total  %d events  %d errors",
                             now - start, Double(e - lastEvents) / (now - lastT), Double(b) / 1e6 / (now - start), e, errs))
            lastEvents = e; lastT = now
            lock.lock(); flushAcked(sync: true); lock.unlock()
        }
        let secs = BenchClock.now() - start
        lock.lock(); defer { lock.unlock() }
        flushAcked(sync: true)
        if let f = ackedFailure { throw BlockingHTTPClient.Failure.io(f) }
        let sorted = latencies.sorted()
        func q(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        return LoadGenResult(seconds: secs, requests: requests, sent: sent, events: events, bytes: bytes,
                             eventsPerSec: Double(events) / secs, mbPerSec: Double(bytes) / 1e6 / secs,
                             ackP50Ms: q(0.5), ackP99Ms: q(0.99), ackMaxMs: sorted.last ?? 0, errorsByCode: errors)
    }

    /// One request body (native NDJSON, or a PutRecords JSON) and its event ids.
    private func encode(sim: inout Simulator) -> [UInt8] {
        let ndjson = sim.batch(count: config.batch)
        guard config.api == .kinesis else { return ndjson }
        let parsed = EventParser().parse(ndjson, nowMs: Int64(Date().timeIntervalSince1970 * 1000) + 86_400_000)
        var o: [UInt8] = Array("{\"StreamName\":".utf8)
        JSONOut.string(config.streamName, into: &o)
        o.appendString(",\"Records\":[")
        for (i, e) in parsed.events.enumerated() {
            if i > 0 { o.append(UInt8(ascii: ",")) }
            o.appendString("{\"Data\":\"")
            o.appendString(Data(parsed.recordBytes(e)).base64EncodedString())
            o.appendString("\",\"PartitionKey\":")
            JSONOut.string(parsed.string(e.defaultPartitionKey) ?? "k", into: &o)
            o.appendString("}")
        }
        o.appendString("]}")
        return o
    }

    private func worker(index: Int, pool: [[UInt8]], start: Double, deadline: Double) {
        let client = BlockingHTTPClient(host: config.host, port: config.port)
        // Recording acks: a request whose connection broke is not sent again (the server may
        // have stored it before dying; a resend would be the client's own duplicate).
        client.retryStaleConnection = config.recordAckedPath == nil
        var sc = SimulatorConfig(sites: config.sites, seed: config.seed &+ UInt64(index) &* 7919 &+ 1)
        sc.catalogSeed = config.seed
        var sim = Simulator(sc)
        let perConn = config.rate.map { $0 / Double(config.connections) }
        let interval = perConn.map { Double(config.batch) / $0 }
        var next = start + Double(index) * (interval ?? 0) / Double(config.connections)
        var i = 0
        while !stopping {
            if let iv = interval {
                let now = BenchClock.now()
                if next > now { usleep(useconds_t(min(1, next - now) * 1e6)) }
                if stopping { break }
                if next >= deadline { break }
                next += iv
            } else if BenchClock.now() >= deadline { break }
            var body = pool[i % pool.count]; i += 1
            if config.generatesFresh { sim.setClock(ms: Int64(Date().timeIntervalSince1970 * 1000)); body = encode(sim: &sim) }
            var headers: [(String, String)] = []
            let path: String
            if config.api == .kinesis {
                path = "/"
                headers = [("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "Kinesis_20131202.PutRecords")]
                headers += SigV4Verifier.sign(host: "\(config.host):\(config.port)", headers: headers, body: body,
                                              accessKey: config.accessKey ?? "", secret: config.secretKey ?? "",
                                              nowMs: Int64(Date().timeIntervalSince1970 * 1000))
            } else {
                path = config.path
                headers = [("Content-Type", "application/x-ndjson")]
                if let k = config.key { headers.append(("Authorization", "Bearer \(k)")) }
            }
            let t0 = BenchClock.now()
            do {
                let r = try client.request(path: path, headers: headers, body: body)
                let ms = (BenchClock.now() - t0) * 1000
                account(reply: r, body: body, latencyMs: ms)
            } catch {
                lock.lock(); errors["connection", default: 0] += 1; sent += config.batch; requests += 1; lock.unlock()
                usleep(100_000)
            }
        }
    }

    private func account(reply r: BlockingHTTPClient.Reply, body: [UInt8], latencyMs: Double) {
        var ok = 0
        var codes: [String: Int] = [:]
        var failedIndexes = Set<Int>()
        if r.status == 200 || r.status == 204 {
            if r.status == 204 || r.body.isEmpty {
                ok = config.batch
            } else if let obj = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any] {
                if config.api == .kinesis {
                    let recs = obj["Records"] as? [[String: Any]] ?? []
                    for (i, rec) in recs.enumerated() {
                        if let c = rec["ErrorCode"] as? String { codes[c, default: 0] += 1; failedIndexes.insert(i) } else { ok += 1 }
                    }
                } else {
                    ok = obj["accepted"] as? Int ?? 0
                    for e in obj["errors"] as? [[String: Any]] ?? [] {
                        codes[e["code"] as? String ?? "unknown", default: 0] += 1
                        if let i = e["index"] as? Int { failedIndexes.insert(i) }
                    }
                }
            }
        } else {
            codes["http_\(r.status)", default: 0] += 1
        }
        if ackedFD >= 0, ok > 0 {
            // The simulator stamps event_id on every event: acked = all minus the failed indexes.
            let parsed = EventParser().parse(config.api == .kinesis ? [] : body, nowMs: .max / 2)
            var lines: [UInt8] = []
            for e in parsed.events where !failedIndexes.contains(Int(e.index)) {
                if let id = parsed.string(e.eventId) { lines.append(contentsOf: id.utf8); lines.append(10) }
            }
            lock.lock()
            ackedBuffer.append(contentsOf: lines)
            if ackedBuffer.count >= 256 << 10 { flushAcked(sync: false) }
            lock.unlock()
        }
        lock.lock()
        requests += 1
        sent += config.batch
        events += ok
        if r.status < 300 { bytes += body.count * ok / max(1, ok + failedIndexes.count) }
        latencies.append(latencyMs)
        for (k, v) in codes { errors[k, default: 0] += v }
        lock.unlock()
    }
}

extension LoadGenerator {
    /// Writes the buffered acked ids (and fsyncs when asked). Under `lock`.
    fileprivate func flushAcked(sync: Bool) {
        guard ackedFD >= 0 else { return }
        var off = 0
        ackedBuffer.withUnsafeBytes { p in
            while off < p.count {
                let n = write(ackedFD, p.baseAddress! + off, p.count - off)
                if n < 0 { if errno == EINTR { continue }; ackedFailure = "writing acked ids: \(String(cString: strerror(errno)))"; return }
                off += n
            }
        }
        ackedBuffer.removeFirst(off)
        if sync && fsync(ackedFD) != 0 { ackedFailure = "fsync of acked ids: \(String(cString: strerror(errno)))" }
    }
}

enum BenchClock {
    static func now() -> Double {
        var ts = timespec(); clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
