import Foundation

/// One measured figure of a benchmark, with the anchor measured in the same run on the same
/// machine. Ratios, not absolute times, are what the tables compare: machines here are noisy.
public struct BenchFigure: Sendable, Codable {
    public var name: String
    public var value: Double
    public var unit: String
    /// What the figure is compared with (e.g. "JSONSerialization per line"), nil when none.
    public var anchorName: String?
    public var anchorValue: Double?
    /// True when a bigger number is better (throughput), false for latencies.
    public var higherIsBetter: Bool
    /// The goal as text, e.g. "≥ 10× anchor" — printed beside the ratio.
    public var goal: String?
    public var note: String?

    public init(name: String, value: Double, unit: String, anchorName: String? = nil, anchorValue: Double? = nil,
                higherIsBetter: Bool = true, goal: String? = nil, note: String? = nil) {
        self.name = name; self.value = value; self.unit = unit; self.anchorName = anchorName
        self.anchorValue = anchorValue; self.higherIsBetter = higherIsBetter; self.goal = goal; self.note = note
    }

    /// value / anchor for throughput, anchor / value for latency: > 1 means eddy is better.
    public var ratio: Double? {
        guard let a = anchorValue, a > 0, value > 0 else { return nil }
        return higherIsBetter ? value / a : a / value
    }
}

/// A benchmark every stage registers in `eddy bench` (Sources/eddy/Commands/Bench.swift).
public protocol BenchmarkCase: Sendable {
    /// Short stable name, e.g. "parse", "stream-append".
    var name: String { get }
    /// Runs the benchmark and its anchors. `quick` means seconds, not minutes. `progress` prints a line.
    func run(quick: Bool, progress: @Sendable (String) -> Void) async throws -> [BenchFigure]
}
