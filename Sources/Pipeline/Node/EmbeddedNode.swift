import Foundation
import Metrics

/// The composition root of a node: opens the stream in a data directory and runs the stages that
/// read it, each on its own thread, plus the snapshot every reader sees.
///
/// ```
/// simulator feeder ──▶ stream (shards, group commit) ──▶ consumer "live" ──▶ LiveAggregates
///                                                   └──▶ (delivery, warehouse: other stages)
/// snapshot loop: stream stats + live figures + process ──▶ SnapshotPublisher ──▶ TUI · /v1/stats
/// ```
///
/// Threads, not tasks: each loop blocks on I/O (append waits for fsync, polls read files), and
/// keeping them off the cooperative pool keeps the dashboard's async work responsive.
public final class EmbeddedNode: @unchecked Sendable {
    public struct Options: Sendable {
        public var dataDirectory: String = "./eddy-data"
        public var streamName: String = "clickstream"
        public var shards: Int = 4
        /// Simulated events per second fed into the node (0 = no simulator).
        public var simulatorRate: Int = 20_000
        public var sites: Int = 320
        public var seed: UInt64 = 1
        public var fsync: FsyncPolicy = .default
        /// How often the snapshot is rebuilt and published.
        public var snapshotIntervalMs: Int = 250
        public var mode: String = "embedded"
        /// Firehose-style delivery into the lake (nil = no lake).
        public var delivery: DeliveryConfig? = DeliveryConfig()
        /// The SQL warehouse loaded from the lake (needs delivery).
        public var warehouse: WarehouseConfig? = WarehouseConfig()
        /// The live aggregates: session limits, sketch sizes. `serve` and `demo` reserve the
        /// session table at start (`reserveSessions`).
        public var live = LiveAggregates.Configuration()
        /// On-demand shard scaling (nil = fixed shard count).
        public var autoScale: AutoScaleConfig? = nil
        /// Where the node's own log lines go (the dashboard owns the terminal in `eddy demo`).
        public var log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(("eddy: " + $0 + "\n").utf8)) }
        public init() {}
    }

    public let options: Options
    public let stream: ShardedStream
    /// Whether `stop()` closes the stream (not when it belongs to the collector).
    var ownsStream = false
    public let publisher = SnapshotPublisher()
    let startedAtMs: Int64
    let lock = NSLock()
    var running = false
    var feeding = true
    let done = DispatchGroup()
    /// Counters written by the feeder, read by the snapshot loop.
    let ingest = IngestCounters()
    /// Other stages contribute to the snapshot through these (delivery, warehouse, collector).
    var contributors: [@Sendable (inout NodeSnapshot) -> Void] = []
    public private(set) var lastError: String?
    public private(set) var delivery: DeliveryService?
    public private(set) var warehouse: Warehouse?

    /// Opens (or creates) the stream in the data directory.
    public convenience init(options: Options) throws {
        let config = StreamConfig(name: options.streamName, shardCount: options.shards, fsync: options.fsync,
                                  autoScale: options.autoScale, log: options.log)
        if let p = config.problems().first { throw StreamError(.invalidArgument, p) }
        try self.init(options: options, stream: ShardedStream(dataDirectory: options.dataDirectory, config: config))
        ownsStream = true
    }

    /// Runs the node's stages over a stream someone else opened (the collector's, in `eddy serve`).
    public init(options: Options, stream: ShardedStream) {
        self.options = options
        self.stream = stream
        startedAtMs = Int64(Date().timeIntervalSince1970 * 1000)
        publisher.publish(NodeSnapshot(takenAtMs: startedAtMs, node: nodeInfo()))
    }

    /// Returns when every record appended before the call is in a durable lake object and loaded
    /// into the warehouse (`POST /v1/admin/flush`). Returns what the last load did.
    public func flush() async throws -> LoadReport? {
        guard let delivery else { throw StreamError(.invalidArgument, "this node has no delivery stage to flush") }
        try await delivery.flush()
        return try warehouse?.loadPending()
    }

    /// Runs read-only SQL on the warehouse (or over the lake through `lake_events`), off the caller's
    /// thread; cancelling the task interrupts the query.
    public func query(_ sql: String, rowLimit: Int = 10_000) async throws -> SQLQueryResult {
        guard let warehouse else { throw StreamError(.invalidArgument, "this node has no warehouse") }
        let runner = try warehouse.queryRunner()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (k: CheckedContinuation<SQLQueryResult, any Error>) in
                Thread.detachNewThread {
                    do { k.resume(returning: try runner.run(sql, rowLimit: rowLimit)) } catch { k.resume(throwing: error) }
                }
            }
        } onCancel: { runner.cancel() }
    }

    /// Adds a stage's figures to every snapshot (called on the snapshot thread).
    public func addSnapshotContributor(_ body: @escaping @Sendable (inout NodeSnapshot) -> Void) {
        lock.lock(); contributors.append(body); lock.unlock()
    }

    public var isRunning: Bool { lock.lock(); defer { lock.unlock() }; return running }
    var isFeeding: Bool { lock.lock(); defer { lock.unlock() }; return feeding }

    /// Stops the simulator and waits until its last append is acknowledged; the other stages go on
    /// (tests flush a fixed set of events this way).
    public func stopFeeding() {
        lock.lock(); let wasFeeding = feeding && running && options.simulatorRate > 0; feeding = false; lock.unlock()
        if wasFeeding { feederStopped.wait() }
    }
    let feederStopped = DispatchSemaphore(value: 0)

    public func start() throws {
        lock.lock()
        guard !running else { lock.unlock(); return }
        running = true
        lock.unlock()
        let live = try stream.consumer("live", initialPosition: .latest)
        if let cfg = options.delivery {
            var c = cfg
            c.streamName = options.streamName
            let d = try DeliveryService(dataDirectory: options.dataDirectory, streams: [options.streamName: stream],
                                        configs: [c], log: options.log)
            delivery = d
            d.start()
            addSnapshotContributor { $0.deliveries = d.stats() }
            if let wcfg = options.warehouse {
                let w = try Warehouse(dataDirectory: options.dataDirectory, config: wcfg)
                warehouse = w
                w.start()
                addSnapshotContributor { $0.warehouse = w.stats() }
            }
        }
        spawn("eddy-live") { [self] in liveLoop(live) }
        spawn("eddy-stream-maint") { [self] in maintenanceLoop() }
        if options.simulatorRate > 0 { spawn("eddy-simulator") { [self] in feederLoop(); feederStopped.signal() } }
    }

    /// Stops every loop, waits for them, and closes the stream (durable state is already on disk).
    public func stop() {
        lock.lock()
        let wasRunning = running
        running = false
        lock.unlock()
        guard wasRunning else { return }
        done.wait()
        // Delivery reads the stream, the warehouse reads the lake: stop them before the stream closes.
        delivery?.stop()
        warehouse?.stop()
        if ownsStream { stream.close() }
    }

    func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
        done.enter()
        let t = Thread { [done] in body(); done.leave() }
        t.name = name
        t.start()
    }

    func noteError(_ where_: String, _ error: Error) {
        let text = "\(where_): \(error)"
        lock.lock()
        let repeated = lastError == text
        lastError = text
        lock.unlock()
        if !repeated { options.log(text) }
    }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: Simulator feeder (stands in for the collector in `eddy demo`)

    func feederLoop() {
        var sim = Simulator(SimulatorConfig(sites: options.sites, seed: options.seed, rate: Double(options.simulatorRate),
                                            startMs: Self.nowMs()))
        // The collector's own ingest path (validate, stamp, batch), minus HTTP.
        let ingestPath = EventIngest()
        let tickMs = 50
        var buf: [UInt8] = []
        var owed = 0.0
        var next = Date()
        while isRunning && isFeeding {
            owed += Double(options.simulatorRate) * Double(tickMs) / 1000
            let n = Int(owed)
            owed -= Double(n)
            if n > 0 {
                buf.removeAll(keepingCapacity: true)
                sim.setClock(ms: Self.nowMs())
                sim.generate(count: n, into: &buf)
                let (batch, _, outcome) = ingestPath.prepare(body: buf, scope: .relay, clientIP: nil, nowMs: Self.nowMs())
                let t0 = DispatchTime.now().uptimeNanoseconds
                do {
                    let results = try stream.appendBlocking(batch)
                    let ackMs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
                    ingest.record(results: results, bytes: buf.count, rejected: outcome.failures.map(\.code), ackMs: ackMs)
                } catch {
                    noteError("append", error)
                    ingest.recordFailure(count: batch.count)
                }
            }
            next += Double(tickMs) / 1000
            let wait = next.timeIntervalSinceNow
            if wait > 0 { Thread.sleep(forTimeInterval: wait) } else if wait < -1 { next = Date() }
        }
    }

    // MARK: Live aggregates + snapshots

    func liveLoop(_ consumer: StreamConsumer) {
        let feeder = LiveFeeder(aggregates: LiveAggregates(configuration: options.live))
        var sampler = ProcessSampler()
        var lastSnapshot = 0 as Int64
        var lastCheckpoint = Self.nowMs()
        while isRunning {
            var got = 0
            do {
                let batches = try consumer.poll(maxRecordsPerShard: 5_000, maxBytesPerShard: 4 << 20)
                for b in batches { feeder.apply(b); got += b.count }
            } catch {
                noteError("live consumer", error)
            }
            let now = Self.nowMs()
            if now - lastCheckpoint > 5_000 {
                do { try consumer.checkpointAll() } catch { noteError("live checkpoint", error) }
                lastCheckpoint = now
            }
            if now - lastSnapshot >= Int64(options.snapshotIntervalMs) {
                publishSnapshot(feeder: feeder, sampler: &sampler, nowMs: now)
                lastSnapshot = now
            }
            if got == 0 { Thread.sleep(forTimeInterval: 0.02) }
        }
        do { try consumer.checkpointAll() } catch { noteError("live checkpoint", error) }
    }

    func nodeInfo() -> NodeInfo {
        NodeInfo(nodeId: ProcessInfo.processInfo.hostName, version: "eddy", startedAtMs: startedAtMs,
                 streamName: options.streamName, mode: options.mode, ready: true)
    }

    func publishSnapshot(feeder: LiveFeeder, sampler: inout ProcessSampler, nowMs: Int64) {
        var node = NodeSnapshot(takenAtMs: nowMs, node: nodeInfo())
        node.collector = ingest.stats(nowMs: nowMs)
        node.shards = stream.shardStats()
        node.consumers = stream.consumerStats()
        node.process = sampler.sample()
        node.process.chunkPoolFreeBytes = Int64(LineMemory.shared.freeBytes)
        feeder.aggregates.fill(&node, nowMs: nowMs)
        lock.lock(); let extra = contributors; lock.unlock()
        for c in extra { c(&node) }
        publisher.publish(node)
    }

    // MARK: Stream maintenance: rates and auto-scaling every second, retention every minute

    func maintenanceLoop() {
        var ticks = 0
        while isRunning {
            Thread.sleep(forTimeInterval: 1)
            do { _ = try stream.tick() } catch { noteError("stream tick", error) }
            ticks += 1
            if ticks % 60 == 0 {
                do { _ = try stream.enforceRetention() } catch { noteError("retention", error) }
            }
            if ticks % 10 == 0 {
                LineMemory.shared.releaseIfIdle(forMs: 10_000)   // delivery's chunk blocks, once no chunk grew for 10 s
                ProcessMemory.releaseFreeMemory(ifFreeAbove: 32 << 20)
            }
        }
    }
}

/// Ingest counters shared between the feeding thread(s) and the snapshot loop.
final class IngestCounters: @unchecked Sendable {
    let lock = NSLock()
    var events: Int64 = 0
    var bytes: Int64 = 0
    var requests: Int64 = 0
    var rejects: [String: Int64] = [:]
    var rejectsTotal: Int64 = 0
    var eventsWindow = WindowedCounter.perSecond(minutes: 1)
    var bytesWindow = WindowedCounter.perSecond(minutes: 1)
    var requestsWindow = WindowedCounter.perSecond(minutes: 1)
    var rejectsWindow = WindowedCounter.perSecond(minutes: 1)
    var ack = LatencyRecorder()

    func record(results: [AppendResult], bytes b: Int, rejected: [String], ackMs: Double) {
        let now = EmbeddedNode.nowMs()
        var ok = 0
        var failed: [String: Int64] = [:]
        for r in results { if r.succeeded { ok += 1 } else { failed[r.error.map { "\($0)" } ?? "failed", default: 0] += 1 } }
        lock.lock()
        events += Int64(ok); bytes += Int64(b); requests += 1
        eventsWindow.add(Int64(ok), atMs: now)
        bytesWindow.add(Int64(b), atMs: now)
        requestsWindow.add(1, atMs: now)
        for code in rejected { rejects[code, default: 0] += 1 }
        for (k, v) in failed { rejects[k, default: 0] += v }
        let nRejects = Int64(rejected.count) + failed.values.reduce(0, +)
        rejectsTotal += nRejects
        if nRejects > 0 { rejectsWindow.add(nRejects, atMs: now) }
        ack.roll(nowMs: now)
        ack.record(ms: Int64(ackMs.rounded(.up)))
        lock.unlock()
    }

    func recordFailure(count: Int) {
        lock.lock(); rejects["internal_failure", default: 0] += Int64(count); rejectsTotal += Int64(count); lock.unlock()
    }

    func stats(nowMs: Int64) -> CollectorStats {
        lock.lock(); defer { lock.unlock() }
        return CollectorStats(eventsPerSec: eventsWindow.rate(overLast: 5, nowMs: nowMs),
                              bytesPerSec: bytesWindow.rate(overLast: 5, nowMs: nowMs),
                              requestsPerSec: requestsWindow.rate(overLast: 5, nowMs: nowMs),
                              eventsTotal: events, bytesTotal: bytes, rejectsByCode: rejects,
                              rejectsPerSec: rejectsWindow.rate(overLast: 5, nowMs: nowMs),
                              ackLatency: ack.summary())
    }
}
