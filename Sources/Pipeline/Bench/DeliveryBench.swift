import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// "delivery": a warm stream backlog of simulated events delivered to a lake (parse, enrich,
/// partition per site, zstd, durable objects and manifests, checkpoints), in events/s and MB/s of
/// input, against the `zstd -1` CLI compressing the same NDJSON bytes in the same run. Also the
/// enrichment cost per event (parse + enrich minus parse alone) and the compression ratio.
public struct DeliveryBench: BenchmarkCase {
    public let name = "delivery"
    public init() {}

    public func run(quick: Bool, progress: @Sendable (String) -> Void) async throws -> [BenchFigure] {
        let base = NSTemporaryDirectory() + "eddy-bench-delivery-\(getpid())"
        try? FileManager.default.removeItem(atPath: base)
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let events = quick ? 100_000 : 300_000
        let runs = quick ? 1 : 3
        let level = Int32(ProcessInfo.processInfo.environment["EDDY_BENCH_ZSTD_LEVEL"] ?? "") ?? 1

        // Warm backlog: simulated events appended to a 4-shard stream, and the same bytes as one NDJSON file.
        var scfg = StreamConfig(shardCount: 4, fsync: .never)
        scfg.log = { _ in }
        let stream = try ShardedStream(dataDirectory: base + "/data", config: scfg)
        defer { stream.close() }
        var sim = Simulator(SimulatorConfig(sites: 320, seed: 11))
        let parser = EventParser()
        var ndjson: [UInt8] = []
        var records: [[UInt8]] = []
        var appended = 0
        while appended < events {
            let body = sim.batch(count: 5_000)
            let parsed = parser.parse(body, nowMs: Int64(Date().timeIntervalSince1970 * 1000))
            var b = RecordBatch(reservingRecords: parsed.events.count, bytes: body.count + parsed.events.count * 24)
            for e in parsed.events {
                let rec = Array(parsed.recordBytes(e))
                b.append(data: rec, partitionKey: parsed.string(e.defaultPartitionKey) ?? "k")
                ndjson.append(contentsOf: rec); ndjson.append(0x0A)
                if records.count < 50_000 { records.append(rec) }
            }
            appended += parsed.events.count
            _ = try await stream.append(b)
        }
        let inputMB = Double(ndjson.count) / 1e6
        let file = base + "/input.ndjson"
        try Data(ndjson).write(to: URL(fileURLWithPath: file))
        progress("backlog: \(appended) events, \(fmt(inputMB)) MB of NDJSON in 4 shards")

        // Anchor: zstd -1 CLI over the same bytes (page cache warm), output discarded.
        var zstdMBps: [Double] = []
        if (try? BenchSupport.shell("command -v zstd >/dev/null").status) != 0 {
            progress("installing zstd (Debian) for the anchor…")
            _ = try? BenchSupport.shell("(apt-get install -y -q zstd || sudo apt-get install -y -q zstd) >&2")
        }
        _ = try? BenchSupport.shell("cat \(file) > /dev/null")
        for _ in 0..<runs {
            let t0 = BenchSupport.now()
            let r = try BenchSupport.shell("zstd -1 -q -c \(file) > /dev/null")
            let dt = BenchSupport.now() - t0
            if r.status == 0 { zstdMBps.append(inputMB / dt) }
        }
        let zstdCompressed = (try? BenchSupport.shell("zstd -1 -q -c \(file) | wc -c").output.trimmingCharacters(in: .whitespacesAndNewlines)).flatMap { Double($0) }
        if !zstdMBps.isEmpty { progress("zstd -1: \(fmt(BenchSupport.median(zstdMBps))) MB/s") }

        // eddy: a fresh delivery (own consumer, own lake) per run, drained with flush().
        var eddyRuns: [(eps: Double, mbps: Double, ratio: Double, objects: Int64)] = []
        for r in 0..<runs {
            var c = DeliveryConfig(name: "bench\(r)", prefix: "events")
            c.compression = .zstd(level: level)
            c.intervalMs = 900_000
            let lake = try LocalLake(root: base + "/lake\(r)")
            let d = try DeliveryStream(config: c, stream: stream, lake: lake, log: { _ in })
            let t0 = BenchSupport.now()
            try d.flush()
            let dt = BenchSupport.now() - t0
            let s = d.stats()
            guard d.recordsDelivered == Int64(appended) else {
                throw LakeError(.io, key: "", "bench: delivered \(d.recordsDelivered) of \(appended) events")
            }
            eddyRuns.append((Double(appended) / dt, inputMB / dt, s.compressionRatio, s.objectsWritten))
            progress("phases: " + d.phaseSeconds.sorted { $0.key < $1.key }.map { "\($0.key) \(fmt($0.value)) s" }.joined(separator: ", ") + " of \(fmt(dt)) s")
            progress("eddy delivery: \(fmt(Double(appended) / dt)) events/s, \(fmt(inputMB / dt)) MB/s, \(s.objectsWritten) objects, ratio \(fmt(s.compressionRatio))")
            try? FileManager.default.removeItem(atPath: base + "/lake\(r)")
        }

        // Enrichment cost: parse + enrich minus parse alone, per event, on the same records.
        var enricher = Enricher()
        var out: [UInt8] = []
        out.reserveCapacity(1 << 20)
        let origin = RecordOrigin(arrivalMs: 1_764_115_200_000, shardId: Array("shardId-000000000000".utf8), seq: Array("100000000000000000042".utf8))
        var evs: [ParsedEvent] = [], errs: [RecordError] = []
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let parseOnly = BenchSupport.medianSeconds(runs: 3) {
            for rec in records { evs.removeAll(keepingCapacity: true); rec.withUnsafeBytes { _ = parser.parseRecords($0, nowMs: now, events: &evs, errors: &errs) } }
        }
        let parseEnrich = BenchSupport.medianSeconds(runs: 3) {
            for rec in records {
                evs.removeAll(keepingCapacity: true)
                rec.withUnsafeBytes { raw in
                    _ = parser.parseRecords(raw, nowMs: now, events: &evs, errors: &errs)
                    if let e = evs.first { enricher.enrich(raw, e, origin: origin, out: &out) }
                }
                if out.count > 1 << 20 { out.removeAll(keepingCapacity: true) }
            }
        }
        let n = Double(records.count)
        let enrichNs = max(0, parseEnrich - parseOnly) / n * 1e9
        progress("parse \(fmt(parseOnly / n * 1e9)) ns/event, enrich \(fmt(enrichNs)) ns/event")

        let mbps = BenchSupport.median(eddyRuns.map(\.mbps))
        let eps = BenchSupport.median(eddyRuns.map(\.eps))
        let ratio = BenchSupport.median(eddyRuns.map(\.ratio))
        let zstdMedian = zstdMBps.isEmpty ? nil : BenchSupport.median(zstdMBps)
        return [
            BenchFigure(name: "delivery MB/s of input (warm backlog → durable zstd-\(level) objects)", value: mbps, unit: "MB/s",
                        anchorName: zstdMedian == nil ? "zstd -1 CLI (not available)" : "zstd -1 CLI on the same NDJSON bytes",
                        anchorValue: zstdMedian, goal: "≥ 0.8× anchor; floor 0.5×",
                        note: "median of \(runs) run(s); \(appended) events, \(fmt(inputMB)) MB, 320 sites, 4 shards; \(eddyRuns.last?.objects ?? 0) objects"),
            BenchFigure(name: "delivery events/s (same runs)", value: eps, unit: "events/s"),
            BenchFigure(name: "enrichment cost per event (parse+enrich − parse)", value: enrichNs, unit: "ns/event",
                        higherIsBetter: false, note: "parse alone \(fmt(parseOnly / n * 1e9)) ns/event over \(records.count) events"),
            BenchFigure(name: "compression ratio (enriched NDJSON / zstd-\(level) objects)", value: ratio, unit: "×",
                        anchorName: "zstd -1 on the raw NDJSON", anchorValue: zstdCompressed.map { Double(ndjson.count) / $0 },
                        note: "enriched lines are larger than the input; the ratio is per byte written"),
        ]
    }

    private func fmt(_ v: Double) -> String { v >= 100 ? String(Int(v.rounded())) : String(format: "%.2f", v) }
}
