import ArgumentParser
import Foundation
import Pipeline
import TUI

/// Every stage's benchmark, in data-path order. A stage adds its case here.
let registeredBenchmarks: [any BenchmarkCase] = [
    ParseBench(),
    SimulatorBench(),
    IngestBench(),
    StreamBench(),
    AggregatesBench(),
    DeliveryBench(),
    WarehouseBench(),
    FrameBenchCase(),
    EndToEndBench(),
]

/// The dashboard's frame build + diff at 200×60 with 320 sites (TUI cannot see BenchmarkCase).
struct FrameBenchCase: BenchmarkCase {
    let name = "frame"
    func run(quick: Bool, progress: @Sendable (String) -> Void) async throws -> [BenchFigure] {
        let r = FrameBench.measureDetailed(width: 200, height: 60, sites: 320, iterations: quick ? 300 : 1000)
        progress(String(format: "frame: median %.2f ms, p99 %.2f ms wall (%.2f ms CPU)", r.wall.median, r.wall.p99, r.cpu.p99))
        return [
            BenchFigure(name: "frame build+diff median, 200×60, 320 sites", value: r.wall.median, unit: "ms",
                        higherIsBetter: false, goal: "≤ 5 ms", note: String(format: "thread CPU median %.2f ms", r.cpu.median)),
            BenchFigure(name: "frame build+diff p99, 200×60, 320 sites", value: r.wall.p99, unit: "ms",
                        higherIsBetter: false, goal: "≤ 5 ms", note: String(format: "thread CPU p99 %.2f ms (wall includes other processes' scheduling)", r.cpu.p99)),
        ]
    }
}

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the benchmarks with their anchors and write bench/results/<date>-<machine>.md.",
        discussion: """
        Each benchmark measures eddy and its anchor (another tool doing the same work) in the same run
        on the same machine, and reports medians and the ratio. Build in release first (`make bench`).
        Anchor tools (Debian packages, PyPI modules) are installed when missing.
        """)
    @Flag(help: "Short runs (seconds, not minutes).") var quick = false
    @Option(help: "Run only the benchmarks whose name contains this.") var only: String?
    @Option(help: "Directory for the results file.") var out: String = "bench/results"
    @Flag(help: "Do not write a results file.") var noWrite = false

    func run() async throws {
        let selected = registeredBenchmarks.filter { only == nil || $0.name.contains(only!) }
        guard !selected.isEmpty else {
            throw ValidationError("no benchmark matches '\(only ?? "")'; known: \(registeredBenchmarks.map(\.name).joined(separator: ", "))")
        }
        #if DEBUG
        FileHandle.standardError.write(Data("bench: this is a debug build; figures will be far below release. Use `make bench`.\n".utf8))
        #endif
        let machine = BenchSupport.machineDescription()
        log("bench: \(selected.count) benchmark(s) on \(machine)\(quick ? " (quick)" : "")")
        var rows: [(String, BenchFigure)] = []
        var failures: [String] = []
        for b in selected {
            log("bench: running \(b.name)…")
            do {
                let figures = try await b.run(quick: quick) { line in log("  " + line) }
                rows += figures.map { (b.name, $0) }
            } catch {
                failures.append("\(b.name): \(error)")
                log("bench: \(b.name) failed: \(error)")
            }
        }
        let table = BenchTable.markdown(rows)
        print(table)
        if !noWrite {
            let date = ISO8601DateFormatter.string(from: Date(), timeZone: .gmt, formatOptions: [.withFullDate])
            let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "machine"
            let slug = "\(date)-\(host)\(only.map { "-" + $0 } ?? "")\(quick ? "-quick" : "")"
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let path = "\(out)/\(slug).md"
            let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
            var text = "# eddy bench \(date)\(quick ? " (quick)" : "")\n\nMachine: \(machine); load average when the run ended: \(load) (a shared machine: other builds ran beside it). Build: release. "
            text += "Figures are medians of repeated runs; each anchor was measured in the same run on the same machine. "
            text += "Ratio > 1 means eddy is better (faster, or lower latency).\n\n" + table + "\n"
            if let e2e = rows.first(where: { $0.1.unit == "MB/s" && $0.0 == "e2e" })?.1,
               let nodes = rows.first(where: { $0.1.unit == "nodes" })?.1 {
                text += String(format: "\n**30 TB/day**: the whole pipeline (collector → stream → lake → warehouse, live aggregates on) "
                               + "carried %.1f MB/s of request bodies on this machine, so %.0f nodes of this size would carry "
                               + "30 TB/day (347 MB/s), before headroom for peaks.\n", e2e.value, nodes.value)
            }
            if !failures.isEmpty { text += "\nFailed:\n" + failures.map { "- " + $0 }.joined(separator: "\n") + "\n" }
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            log("bench: wrote \(path)")
        }
        if !failures.isEmpty { throw ExitCode(1) }
    }

    func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
}

enum BenchTable {
    static func fmt(_ v: Double) -> String {
        if v >= 100_000 { return String(format: "%.2fM", v / 1e6) }
        if v >= 100 { return String(format: "%.0f", v) }
        return String(format: "%.2f", v)
    }

    static func markdown(_ rows: [(String, BenchFigure)]) -> String {
        var s = "| bench | figure | eddy | anchor | anchor value | ratio | goal | note |\n|---|---|---:|---|---:|---:|---|---|\n"
        for (bench, f) in rows {
            let ratio = f.ratio.map { String(format: "%.2f×", $0) } ?? "–"
            s += "| \(bench) | \(f.name) | \(fmt(f.value)) \(f.unit) | \(f.anchorName ?? "–") | "
            s += "\(f.anchorValue.map { fmt($0) + " " + f.unit } ?? "–") | \(ratio) | \(f.goal ?? "") | \(f.note ?? "") |\n"
        }
        return s
    }
}
