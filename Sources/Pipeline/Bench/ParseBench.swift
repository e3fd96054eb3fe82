import Foundation

/// Parse + validate of simulator NDJSON (~450-byte events) on one core, against Foundation's
/// JSONSerialization per line and Python's orjson.loads per line on the same bytes in the same run.
public struct ParseBench: BenchmarkCase {
    public let name = "parse"
    public init() {}

    public func run(quick: Bool, progress: @Sendable (String) -> Void) async throws -> [BenchFigure] {
        let events = quick ? 40_000 : 200_000
        let runs = quick ? 5 : 11
        var sim = Simulator(SimulatorConfig(sites: 320, seed: 1, rate: 20_000))
        let body = sim.batch(count: events)
        let mb = Double(body.count) / 1e6
        progress("parse: \(events) events, \(String(format: "%.1f", mb)) MB, avg \(body.count / events) B/event")

        // Requests of 500 events, as the collector sees them.
        var cuts: [Range<Int>] = []
        body.withUnsafeBufferPointer { b in
            var start = 0, lines = 0
            for i in 0..<b.count where b[i] == 0x0A {
                lines += 1
                if lines == 500 { cuts.append(start..<(i + 1)); start = i + 1; lines = 0 }
            }
            if start < b.count { cuts.append(start..<b.count) }
        }
        let parser = EventParser()
        let nowMs = sim.config.startMs + 86_400_000
        var accepted = 0
        var evs: [ParsedEvent] = []
        var errs: [RecordError] = []
        evs.reserveCapacity(600)
        let eddySeconds = body.withUnsafeBytes { raw in
            BenchSupport.medianSeconds(runs: runs) {
                accepted = 0
                for r in cuts {
                    evs.removeAll(keepingCapacity: true)
                    errs.removeAll(keepingCapacity: true)
                    _ = parser.parseRecords(UnsafeRawBufferPointer(rebasing: raw[r]), nowMs: nowMs, events: &evs, errors: &errs)
                    accepted += evs.count
                }
            }
        }
        guard accepted == events else { throw BenchError("parser accepted \(accepted) of \(events) simulator events") }
        progress("parse: eddy \(String(format: "%.0f", mb / eddySeconds)) MB/s")

        // Anchor 1: JSONSerialization, one Data and one object graph per line (the naive way).
        let lines: [Data] = body.split(separator: 0x0A).map { Data($0) }
        let fsRuns = quick ? 3 : 5
        var fsCount = 0
        let fsSeconds = try BenchSupport.medianSeconds(runs: fsRuns) {
            fsCount = 0
            for l in lines { if try JSONSerialization.jsonObject(with: l) is [String: Any] { fsCount += 1 } }
        }
        progress("parse: JSONSerialization \(String(format: "%.0f", mb / fsSeconds)) MB/s")

        // Anchor 2: orjson.loads per line in CPython, same bytes.
        var orjsonMBps: Double? = nil
        if BenchSupport.ensurePythonModule("orjson", progress: progress) {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-parse-bench-\(getpid()).ndjson")
            try Data(body).write(to: path)
            defer { try? FileManager.default.removeItem(at: path) }
            let script = """
            import orjson, time, statistics, sys
            data = open(sys.argv[1], 'rb').read()
            lines = data.splitlines()
            times = []
            for _ in range(\(runs)):
                t = time.perf_counter()
                for l in lines:
                    orjson.loads(l)
                times.append(time.perf_counter() - t)
            print(len(data) / 1e6 / statistics.median(times))
            """
            let (status, out) = try BenchSupport.shell("python3 - '\(path.path)'", input: Data(script.utf8))
            if status == 0, let v = Double(out.trimmingCharacters(in: .whitespacesAndNewlines)) { orjsonMBps = v }
            progress("parse: orjson \(orjsonMBps.map { String(format: "%.0f", $0) } ?? "n/a") MB/s")
        }

        let eddyMBps = mb / eddySeconds
        return [
            BenchFigure(name: "parse+validate MB/s (1 core)", value: eddyMBps, unit: "MB/s",
                        anchorName: "JSONSerialization per line", anchorValue: mb / fsSeconds, goal: "≥ 10×"),
            BenchFigure(name: "parse+validate MB/s (1 core)", value: eddyMBps, unit: "MB/s",
                        anchorName: "orjson.loads per line (Python)", anchorValue: orjsonMBps, goal: "≥ 1×"),
            BenchFigure(name: "parse+validate events/s (1 core)", value: Double(events) / eddySeconds, unit: "events/s",
                        goal: "floor ≥ 200 MB/s", note: "\(body.count / events) B/event, batches of 500"),
        ]
    }
}

/// Simulator generation rate on one core: it must never be what limits another benchmark.
public struct SimulatorBench: BenchmarkCase {
    public let name = "simulator"
    public init() {}

    public func run(quick: Bool, progress: @Sendable (String) -> Void) async throws -> [BenchFigure] {
        let events = quick ? 200_000 : 1_000_000
        var sim = Simulator(SimulatorConfig(sites: 320, seed: 2, rate: 20_000))
        var buf: [UInt8] = []
        buf.reserveCapacity(500 * 600)
        _ = sim.batch(count: 50_000) // warm the session pools
        var bytes = 0
        let seconds = BenchSupport.medianSeconds(runs: quick ? 3 : 5) {
            bytes = 0
            var left = events
            while left > 0 {
                buf.removeAll(keepingCapacity: true)
                let n = min(500, left)
                sim.generate(count: n, into: &buf)
                bytes += buf.count
                left -= n
            }
        }
        progress("simulator: \(String(format: "%.2f", Double(events) / seconds / 1e6)) M events/s")
        return [BenchFigure(name: "simulator events/s (1 core)", value: Double(events) / seconds, unit: "events/s",
                            goal: "≥ 1M events/s", note: String(format: "%.0f MB/s of NDJSON", Double(bytes) / seconds / 1e6))]
    }
}

public struct BenchError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
