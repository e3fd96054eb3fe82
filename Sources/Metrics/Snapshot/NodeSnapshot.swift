/// The node-wide state every reader sees: the dashboard (local or remote), `GET /v1/stats` and
/// `/metrics`. Plain Codable values: a reader is handed a snapshot and never touches live state.
///
/// Field names are part of the HTTP contract (`/v1/stats` JSON) and of `/metrics` (snake_case
/// of the same names). Add fields freely; renaming one breaks remote dashboards.
public struct NodeSnapshot: Sendable, Codable, Equatable {
    /// Wall-clock time the snapshot was taken, epoch milliseconds.
    public var takenAtMs: Int64
    public var node: NodeInfo
    public var collector: CollectorStats
    public var shards: [ShardStats]
    public var consumers: [ConsumerStats]
    public var deliveries: [DeliveryStats]
    public var warehouse: WarehouseStats?
    public var process: ProcessStats
    /// Click-to-dashboard latency: arrival at the collector → applied to live aggregates.
    public var clickToDashboard: LatencySummary
    /// Per-site figures, ordered by events/s descending.
    public var sites: [SiteStats]
    /// Bookkeeping of the live aggregates themselves (sessions held, evicted, memory).
    public var live: LiveAggregatesStats?

    public init(takenAtMs: Int64 = 0, node: NodeInfo = NodeInfo(), collector: CollectorStats = CollectorStats(),
                shards: [ShardStats] = [], consumers: [ConsumerStats] = [], deliveries: [DeliveryStats] = [],
                warehouse: WarehouseStats? = nil, process: ProcessStats = ProcessStats(),
                clickToDashboard: LatencySummary = LatencySummary(), sites: [SiteStats] = [],
                live: LiveAggregatesStats? = nil) {
        self.takenAtMs = takenAtMs; self.node = node; self.collector = collector; self.shards = shards
        self.consumers = consumers; self.deliveries = deliveries; self.warehouse = warehouse
        self.process = process; self.clickToDashboard = clickToDashboard; self.sites = sites
        self.live = live
    }
}

public struct NodeInfo: Sendable, Codable, Equatable {
    public var nodeId: String
    public var version: String
    public var startedAtMs: Int64
    public var streamName: String
    /// "embedded" for `eddy demo`, "serve" for a headless node.
    public var mode: String
    public var ready: Bool
    public init(nodeId: String = "", version: String = "", startedAtMs: Int64 = 0, streamName: String = "clickstream",
                mode: String = "embedded", ready: Bool = true) {
        self.nodeId = nodeId; self.version = version; self.startedAtMs = startedAtMs
        self.streamName = streamName; self.mode = mode; self.ready = ready
    }
}

public struct LatencySummary: Sendable, Codable, Equatable {
    public var count: Int64
    public var p50Ms: Double
    public var p99Ms: Double
    public var maxMs: Double
    public init(count: Int64 = 0, p50Ms: Double = 0, p99Ms: Double = 0, maxMs: Double = 0) {
        self.count = count; self.p50Ms = p50Ms; self.p99Ms = p99Ms; self.maxMs = maxMs
    }
}

public struct CollectorStats: Sendable, Codable, Equatable {
    public var eventsPerSec: Double
    public var bytesPerSec: Double
    public var requestsPerSec: Double
    public var eventsTotal: Int64
    public var bytesTotal: Int64
    /// Rejected records by error code (e.g. "malformed_json": 3).
    public var rejectsByCode: [String: Int64]
    public var rejectsPerSec: Double
    public var ackLatency: LatencySummary
    public init(eventsPerSec: Double = 0, bytesPerSec: Double = 0, requestsPerSec: Double = 0, eventsTotal: Int64 = 0,
                bytesTotal: Int64 = 0, rejectsByCode: [String: Int64] = [:], rejectsPerSec: Double = 0,
                ackLatency: LatencySummary = LatencySummary()) {
        self.eventsPerSec = eventsPerSec; self.bytesPerSec = bytesPerSec; self.requestsPerSec = requestsPerSec
        self.eventsTotal = eventsTotal; self.bytesTotal = bytesTotal; self.rejectsByCode = rejectsByCode
        self.rejectsPerSec = rejectsPerSec; self.ackLatency = ackLatency
    }
}

public struct ShardStats: Sendable, Codable, Equatable {
    public var shardId: String
    /// "OPEN" or "CLOSED".
    public var state: String
    public var startingHashKey: String
    public var endingHashKey: String
    public var parentShardId: String?
    public var adjacentParentShardId: String?
    public var recordsPerSec: Double
    public var bytesPerSec: Double
    public var records: Int64
    /// Bytes on disk across the shard's segments.
    public var sizeBytes: Int64
    public var throttles: Int64
    /// Marked hot by the auto-scaler (write rate above its split threshold).
    public var hot: Bool
    public init(shardId: String, state: String = "OPEN", startingHashKey: String = "0", endingHashKey: String = "0",
                parentShardId: String? = nil, adjacentParentShardId: String? = nil, recordsPerSec: Double = 0,
                bytesPerSec: Double = 0, records: Int64 = 0, sizeBytes: Int64 = 0, throttles: Int64 = 0, hot: Bool = false) {
        self.shardId = shardId; self.state = state; self.startingHashKey = startingHashKey
        self.endingHashKey = endingHashKey; self.parentShardId = parentShardId
        self.adjacentParentShardId = adjacentParentShardId; self.recordsPerSec = recordsPerSec
        self.bytesPerSec = bytesPerSec; self.records = records; self.sizeBytes = sizeBytes
        self.throttles = throttles; self.hot = hot
    }
}

/// Lag of one consumer application (e.g. "live", "lake-events") on one shard.
public struct ConsumerStats: Sendable, Codable, Equatable {
    public var app: String
    public var shardId: String
    public var recordsBehind: Int64
    public var millisBehindLatest: Int64
    /// now − arrival time of the last record read.
    public var iteratorAgeMs: Int64
    public var checkpoint: String?
    public init(app: String, shardId: String, recordsBehind: Int64 = 0, millisBehindLatest: Int64 = 0,
                iteratorAgeMs: Int64 = 0, checkpoint: String? = nil) {
        self.app = app; self.shardId = shardId; self.recordsBehind = recordsBehind
        self.millisBehindLatest = millisBehindLatest; self.iteratorAgeMs = iteratorAgeMs; self.checkpoint = checkpoint
    }
}

/// One delivery stream (Firehose analogue) and its buffers.
public struct DeliveryStats: Sendable, Codable, Equatable {
    public var name: String
    public var sizeHintBytes: Int64
    public var intervalHintMs: Int64
    public var buffers: [BufferStats]
    public var objectsWritten: Int64
    public var bytesIn: Int64
    public var bytesWritten: Int64
    public var compressionRatio: Double
    public var errorsByType: [String: Int64]
    public var deliveryLatency: LatencySummary
    /// Memory the buffers hold (their allocated capacity, and emptied buffers kept for reuse) and
    /// the budget it is held to. The buffers' `bytes` are what they contain.
    public var memoryBytes: Int64 = 0
    public var memoryLimitBytes: Int64 = 0
    public init(name: String, sizeHintBytes: Int64 = 0, intervalHintMs: Int64 = 0, buffers: [BufferStats] = [],
                objectsWritten: Int64 = 0, bytesIn: Int64 = 0, bytesWritten: Int64 = 0, compressionRatio: Double = 0,
                errorsByType: [String: Int64] = [:], deliveryLatency: LatencySummary = LatencySummary(),
                memoryBytes: Int64 = 0, memoryLimitBytes: Int64 = 0) {
        self.memoryBytes = memoryBytes; self.memoryLimitBytes = memoryLimitBytes
        self.name = name; self.sizeHintBytes = sizeHintBytes; self.intervalHintMs = intervalHintMs
        self.buffers = buffers; self.objectsWritten = objectsWritten; self.bytesIn = bytesIn
        self.bytesWritten = bytesWritten; self.compressionRatio = compressionRatio
        self.errorsByType = errorsByType; self.deliveryLatency = deliveryLatency
    }
}

public struct BufferStats: Sendable, Codable, Equatable {
    /// Partition path, e.g. "site=shop-seoul/dt=2026-11-26/hr=09".
    public var partition: String
    public var bytes: Int64
    public var records: Int64
    public var ageMs: Int64
    public var msToNextFlush: Int64
    /// Bytes of the buffer's largest chunk (it holds one per shard): what the size hint bounds.
    public var fillBytes: Int64
    /// `fillBytes` defaults to `bytes` (a buffer of one shard).
    public init(partition: String, bytes: Int64 = 0, records: Int64 = 0, ageMs: Int64 = 0, msToNextFlush: Int64 = 0, fillBytes: Int64? = nil) {
        self.partition = partition; self.bytes = bytes; self.records = records
        self.ageMs = ageMs; self.msToNextFlush = msToNextFlush; self.fillBytes = fillBytes ?? bytes
    }
}

public struct WarehouseStats: Sendable, Codable, Equatable {
    public var objectsPending: Int64
    public var recordsPending: Int64
    public var rowsLoaded: Int64
    public var newestEventLoadedMs: Int64?
    public var lagMs: Int64
    /// Bytes SQLite holds in this process (page caches, statements), and its soft limit (0 = none).
    public var sqliteMemoryBytes: Int64 = 0
    public var sqliteMemoryLimitBytes: Int64 = 0
    public init(objectsPending: Int64 = 0, recordsPending: Int64 = 0, rowsLoaded: Int64 = 0,
                newestEventLoadedMs: Int64? = nil, lagMs: Int64 = 0, sqliteMemoryBytes: Int64 = 0, sqliteMemoryLimitBytes: Int64 = 0) {
        self.objectsPending = objectsPending; self.recordsPending = recordsPending; self.rowsLoaded = rowsLoaded
        self.newestEventLoadedMs = newestEventLoadedMs; self.lagMs = lagMs
        self.sqliteMemoryBytes = sqliteMemoryBytes; self.sqliteMemoryLimitBytes = sqliteMemoryLimitBytes
    }
}

public struct ProcessStats: Sendable, Codable, Equatable {
    /// Percent of one core.
    public var cpuPercent: Double
    public var rssBytes: Int64
    public var openFiles: Int64
    public var uptimeMs: Int64
    /// malloc's view (glibc): bytes in live allocations, and bytes it holds free. RSS minus these
    /// is mapped files, stacks and the binary; a growing `heapFreeBytes` is fragmentation, a growing
    /// `heapInUseBytes` is live data (or a leak).
    public var heapInUseBytes: Int64 = 0
    public var heapFreeBytes: Int64 = 0
    /// Delivery chunk blocks kept free for the next chunks (mapped outside malloc, so in neither
    /// figure above; the blocks in use count in each delivery's `memoryBytes`).
    public var chunkPoolFreeBytes: Int64 = 0
    public init(cpuPercent: Double = 0, rssBytes: Int64 = 0, openFiles: Int64 = 0, uptimeMs: Int64 = 0,
                heapInUseBytes: Int64 = 0, heapFreeBytes: Int64 = 0, chunkPoolFreeBytes: Int64 = 0) {
        self.cpuPercent = cpuPercent; self.rssBytes = rssBytes; self.openFiles = openFiles; self.uptimeMs = uptimeMs
        self.heapInUseBytes = heapInUseBytes; self.heapFreeBytes = heapFreeBytes; self.chunkPoolFreeBytes = chunkPoolFreeBytes
    }
}

/// A (name, count) pair of a top-K list; `error` is Space-Saving's overestimation bound.
public struct RankedCount: Sendable, Codable, Equatable {
    public var name: String
    public var count: Int64
    public var error: Int64
    public init(name: String, count: Int64, error: Int64 = 0) { self.name = name; self.count = count; self.error = error }
}

public struct SiteStats: Sendable, Codable, Equatable {
    public var siteId: String
    public var eventsPerSec: Double
    public var pageviewsPerSec: Double
    /// Events per second, one value per second for the last 10 minutes (oldest first).
    public var eventsPerSecHistory: [Double]
    /// Events per minute, one value per minute for the last 24 hours (oldest first).
    public var eventsPerMinuteHistory: [Double]
    public var eventsTotal: Int64
    public var eventsByType: [String: Int64]
    /// Distinct visitors seen in the last 5 minutes.
    public var activeVisitors: Int64
    /// Distinct visitors today (UTC), HyperLogLog estimate.
    public var visitorsToday: Int64
    public var sessions: Int64
    public var bounceRate: Double
    public var avgSessionSeconds: Double
    public var pageviews: Int64
    public var topPages: [RankedCount]
    public var referrers: [RankedCount]
    public var channels: [RankedCount]
    public var countries: [RankedCount]
    public var devices: [RankedCount]
    public var browsers: [RankedCount]
    public var botShare: Double
    public var addToCarts: Int64
    public var purchases: Int64
    public var revenue: Double
    public init(siteId: String, eventsPerSec: Double = 0, pageviewsPerSec: Double = 0, eventsPerSecHistory: [Double] = [],
                eventsPerMinuteHistory: [Double] = [], eventsTotal: Int64 = 0, eventsByType: [String: Int64] = [:],
                activeVisitors: Int64 = 0, visitorsToday: Int64 = 0, sessions: Int64 = 0, bounceRate: Double = 0,
                avgSessionSeconds: Double = 0, pageviews: Int64 = 0, topPages: [RankedCount] = [],
                referrers: [RankedCount] = [], channels: [RankedCount] = [], countries: [RankedCount] = [],
                devices: [RankedCount] = [], browsers: [RankedCount] = [], botShare: Double = 0,
                addToCarts: Int64 = 0, purchases: Int64 = 0, revenue: Double = 0) {
        self.siteId = siteId; self.eventsPerSec = eventsPerSec; self.pageviewsPerSec = pageviewsPerSec
        self.eventsPerSecHistory = eventsPerSecHistory; self.eventsPerMinuteHistory = eventsPerMinuteHistory
        self.eventsTotal = eventsTotal; self.eventsByType = eventsByType; self.activeVisitors = activeVisitors
        self.visitorsToday = visitorsToday; self.sessions = sessions; self.bounceRate = bounceRate
        self.avgSessionSeconds = avgSessionSeconds; self.pageviews = pageviews; self.topPages = topPages
        self.referrers = referrers; self.channels = channels; self.countries = countries; self.devices = devices
        self.browsers = browsers; self.botShare = botShare; self.addToCarts = addToCarts
        self.purchases = purchases; self.revenue = revenue
    }
}

/// The live aggregates' own bookkeeping: what they hold and what they had to let go.
public struct LiveAggregatesStats: Sendable, Codable, Equatable {
    public var sites: Int64
    public var eventsApplied: Int64
    /// Events refused (site index out of range).
    public var eventsDropped: Int64
    public var sessionsOpen: Int64
    /// Open sessions closed early because the session table was full.
    public var sessionsEvicted: Int64
    /// Sessions closed after the inactivity timeout.
    public var sessionsExpired: Int64
    public var sessionCapacity: Int64
    /// Bytes held by sketches, windows and the session table (accounting, not RSS).
    public var memoryBytes: Int64
    public init(sites: Int64 = 0, eventsApplied: Int64 = 0, eventsDropped: Int64 = 0, sessionsOpen: Int64 = 0,
                sessionsEvicted: Int64 = 0, sessionsExpired: Int64 = 0, sessionCapacity: Int64 = 0, memoryBytes: Int64 = 0) {
        self.sites = sites; self.eventsApplied = eventsApplied; self.eventsDropped = eventsDropped
        self.sessionsOpen = sessionsOpen; self.sessionsEvicted = sessionsEvicted; self.sessionsExpired = sessionsExpired
        self.sessionCapacity = sessionCapacity; self.memoryBytes = memoryBytes
    }
}
