import ArgumentParser
import Foundation
import Pipeline

/// Every stage's benchmark, in data-path order. A stage adds its case here.
let registeredBenchmarks: [any BenchmarkCase] = [
    AggregatesBench(),
]

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the benchmarks with their anchors and write bench/results/<date>-<machine>.md.")
    @Flag(help: "Short runs (seconds, not minutes).") var quick = false
    @Option(help: "Run only the benchmarks whose name contains this.") var only: String?
    func run() async throws { try failNotBuilt("bench", stage: "bench", issue: 2) }
}
