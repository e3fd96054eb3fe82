import Foundation
import Metrics

/// Every delivery of a node, with the thread that runs them.
///
/// ```swift
/// let svc = try DeliveryService(dataDirectory: dir, streams: ["clickstream": stream])   // default delivery "events"
/// svc.start()                      // polls on its own thread
/// try await svc.flush()            // everything appended before is in durable lake objects
/// let s: [DeliveryStats] = svc.stats()
/// svc.stop()
/// ```
public final class DeliveryService: @unchecked Sendable {
    public let deliveries: [DeliveryStream]
    public let lake: any Lake
    private let cond = NSCondition()
    private var running = false
    private var thread: Thread?
    private var lastError: String?
    private let log: @Sendable (String) -> Void

    /// Validates every configuration first and reports all problems together.
    public init(lake: any Lake, streams: [String: ShardedStream], configs: [DeliveryConfig] = [DeliveryConfig()],
                clock: any StreamClock = SystemClock(), geo: (any CountryLookup)? = nil,
                log: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(("eddy delivery: " + $0 + "\n").utf8)) }) throws {
        var problems: [String] = []
        do { try validateDeliveries(configs) } catch let e as DeliveryConfigError { problems += e.problems }
        for c in configs where streams[c.streamName] == nil {
            problems.append("delivery '\(c.name)': no stream named '\(c.streamName)' (have: \(streams.keys.sorted().joined(separator: ", ")))")
        }
        if !problems.isEmpty { throw DeliveryConfigError(problems: problems) }
        self.lake = lake
        self.log = log
        deliveries = try configs.map { try DeliveryStream(config: $0, stream: streams[$0.streamName]!, lake: lake, clock: clock, geo: geo, log: log) }
    }

    /// The lake at `<dataDirectory>/lake`.
    public convenience init(dataDirectory: String, streams: [String: ShardedStream], configs: [DeliveryConfig] = [DeliveryConfig()],
                            clock: any StreamClock = SystemClock(),
                            log: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(("eddy delivery: " + $0 + "\n").utf8)) }) throws {
        try self.init(lake: LocalLake(root: dataDirectory + "/lake"), streams: streams, configs: configs, clock: clock, log: log)
    }

    /// One step of every delivery (tests drive this by hand). Returns records read.
    @discardableResult
    public func runOnce() throws -> Int { try deliveries.reduce(0) { $0 + (try $1.runOnce()) } }

    public func start() {
        cond.lock(); defer { cond.unlock() }
        guard !running else { return }
        running = true
        let t = Thread { [weak self] in self?.loop() }
        t.name = "eddy-delivery"
        thread = t
        t.start()
    }

    private func loop() {
        while true {
            cond.lock(); let go = running; cond.unlock()
            if !go { break }
            var n = 0
            do { n = try runOnce(); lastError = nil } catch {
                let text = "\(error)"
                if text != lastError { log("run loop: \(text); retrying") }
                lastError = text
                n = 0
            }
            if n == 0 {
                cond.lock()
                if running { _ = cond.wait(until: Date().addingTimeInterval(Double(deliveries.first?.config.idleSleepMs ?? 50) / 1000)) }
                cond.unlock()
            }
        }
        cond.lock(); thread = nil; cond.broadcast(); cond.unlock()
    }

    /// Stops the thread after its current step. Buffers stay in memory (unflushed records are read
    /// again after a restart, since the checkpoints do not cover them); call `flush()` first to drain.
    public func stop() {
        cond.lock()
        running = false
        cond.broadcast()
        while thread != nil { cond.wait() }
        cond.unlock()
        for d in deliveries { d.close() }
    }

    /// Returns when every record appended to the streams before the call is in a durable lake object.
    public func flush() async throws {
        let ds = deliveries
        try await withCheckedThrowingContinuation { (k: CheckedContinuation<Void, Error>) in
            DispatchQueue.global().async {
                do { for d in ds { try d.flush() }; k.resume() } catch { k.resume(throwing: error) }
            }
        }
    }

    public func stats() -> [DeliveryStats] { deliveries.map { $0.stats() } }
}
