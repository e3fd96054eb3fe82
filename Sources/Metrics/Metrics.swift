/// Metrics: what is measured. Windowed counters, sketches, latency histograms, live per-site
/// aggregates and the snapshot value types every reader of node state uses.
/// This module imports nothing of eddy's own: Pipeline feeds it, TUI and the HTTP API read it.
public enum MetricsModule {
    public static let name = "Metrics"
}
