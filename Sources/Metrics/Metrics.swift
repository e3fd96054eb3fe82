/// Metrics: what is measured. Windowed counters, sketches, latency histograms, live per-site
/// aggregates and the snapshot value types every reader of node state uses.
/// This module imports nothing of eddy's own: Pipeline feeds it, TUI and the HTTP API read it.
///
/// ## Folders
/// - `Primitives/`: `WindowedCounter` (time-bucket rings), `HyperLogLog`, `SpaceSaving` (top-K
///   with error bounds), `LatencyRecorder` (HDR histograms → `LatencySummary`), `Hash64`,
///   `MetricsClock` (`SystemClock`, `ManualClock` for tests).
/// - `Live/`: `LiveEvent` (the cheap input: codes and 64-bit hashes), `LiveEventBatch`,
///   `LiveAggregates` (per-site figures), and its internals `SiteState`, `SessionTable`.
/// - `Snapshot/`: `NodeSnapshot` and friends (the `/v1/stats` contract), `SnapshotPublisher`,
///   `ProcessSampler`.
/// - `Export/`: `PrometheusText.render` for `/metrics`.
///
/// ## Feeding and reading, from the "live" consumer
/// ```swift
/// let live = LiveAggregates()                      // owned by one actor/thread; not Sendable
/// var batch = LiveEventBatch(reservingCapacity: 512)
/// for record in records {                          // per record: codes + hashes, no Strings
///     batch.append(LiveEvent(site: siteIndex, type: .pageview, ..., arrivalMs: record.arrivalMs,
///                            visitor: Hash64.hash(visitorBytes), session: ..., page: ..., referrer: ...),
///                  siteName: firstTimeSeen ? siteId : nil, pageName: path, referrerName: host)
/// }
/// live.apply(batch); batch.removeAll()              // or apply(UnsafeBufferPointer, names: raw bytes)
///
/// // Several times a second, on the same owner:
/// var node = NodeSnapshot(takenAtMs: now, ...)      // shards, consumers, deliveries from their owners
/// live.fill(&node)                                  // sites, clickToDashboard, live bookkeeping
/// publisher.publish(node)                           // SnapshotPublisher: readers never wait on apply
///
/// // Readers (TUI, GET /v1/stats, GET /metrics):
/// publisher.latest                                  // NodeSnapshot value
/// try publisher.latestJSON()                        // encoded once per published version
/// PrometheusText.render(publisher.latest)
/// ```
///
/// ## Decisions
/// - Every live figure is keyed by the collector's arrival time, not the client's timestamp.
/// - Bots count in events, rates, events by type and bot share; not in visitors, sessions, top
///   lists or commerce. Top lists and country/device/browser/channel counts are of pageviews.
/// - A session ends after 30 minutes without events; a bounce is a session with at most one
///   pageview; session figures include open sessions as they stand. Events without a session id
///   are sessionised by visitor id. Open sessions are capped
///   (default 2M); past the cap the least recently active of a 16-slot sample is closed early.
/// - Countries, channels, devices and browsers are exact counts (small domains); pages and
///   referrers are Space-Saving sketches whose `RankedCount.error` bounds the overcount.
public enum MetricsModule {
    public static let name = "Metrics"
}
