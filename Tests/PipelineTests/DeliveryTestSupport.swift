import Foundation
import XCTest
@testable import Pipeline

/// 2025-11-26T09:30:00Z
let deliveryT0: Int64 = 1_764_149_400_000

/// A stream, a lake and a manual clock in a fresh temp directory.
final class DeliveryHarness {
    let dir: String
    let clock: Pipeline.ManualClock
    var stream: ShardedStream
    let lake: LocalLake
    let logs = LogSink()
    let shards: Int

    init(_ test: XCTestCase, shards: Int = 2, dir: String? = nil) throws {
        self.dir = dir ?? makeStreamTempDir(test)
        self.shards = shards
        clock = Pipeline.ManualClock(nowMs: deliveryT0)
        stream = try ShardedStream(dataDirectory: self.dir, config: testConfig(shards: shards), clock: clock)
        lake = try LocalLake(root: self.dir + "/lake")
    }

    func delivery(_ configure: (inout DeliveryConfig) -> Void = { _ in }) throws -> DeliveryStream {
        var c = DeliveryConfig()
        c.sizeHintBytes = 1 << 20
        c.intervalMs = 60_000
        configure(&c)
        let sink = logs
        return try DeliveryStream(config: c, stream: stream, lake: lake, clock: clock, log: { sink.add($0) })
    }

    /// Closes and reopens the stream, as a restarted process would.
    func reopen() throws {
        stream.close()
        stream = try ShardedStream(dataDirectory: dir, config: testConfig(shards: shards), clock: clock)
    }

    @discardableResult
    func append(_ events: [String], key: (Int) -> String = { "k\($0)" }) async throws -> [AppendResult] {
        var b = RecordBatch()
        for (i, e) in events.enumerated() { b.append(data: e, partitionKey: key(i)) }
        return try await stream.append(b)
    }

    /// Every line of every object under `prefix`, decompressed and decoded.
    func lines(_ prefix: String = "events") throws -> [[String: Any]] {
        var out: [[String: Any]] = []
        for key in try lake.list(prefix: prefix) {
            let raw = try Compressor.decompress(try lake.read(key), key: key)
            for line in raw.split(separator: 0x0A) where !line.isEmpty {
                out.append(try JSONSerialization.jsonObject(with: Data(line)) as! [String: Any])
            }
        }
        return out
    }
}

func simpleEvent(site: String, i: Int, ts: String? = nil, extra: String = "") -> String {
    let tsValue = ts.map { "\"\($0)\"" } ?? String(deliveryT0 - 1000)
    return #"{"event_id":"\#(site)-\#(i)","site_id":"\#(site)","type":"page_view","ts":\#(tsValue),"url":"https://\#(site).example/p/\#(i)","ua":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36","ip":"203.0.113.77","country":"kr"\#(extra)}"#
}

/// One record per simulated event (the bytes the collector would store), after `prefix`, until
/// there are `count` records.
func simulatedRecords(_ count: Int, after prefix: [[UInt8]] = [], sites: Int, seed: UInt64, nowMs: Int64) -> [[UInt8]] {
    var records = prefix
    var sim = Simulator(SimulatorConfig(sites: sites, seed: seed))
    let parser = EventParser()
    while records.count < count {
        let parsed = parser.parse(sim.batch(count: 1_000), nowMs: nowMs)
        for e in parsed.events where records.count < count { records.append(Array(parsed.recordBytes(e))) }
    }
    return records
}
