import Metrics

/// Where the dashboard's data comes from. The embedded node and a remote node (`/v1/stats`) look
/// the same to the dashboard; the caller (eddy's `demo` / `dash` commands) supplies the concrete one.
public protocol SnapshotSource: Sendable {
    /// The newest snapshot, or nil when none is available yet (node starting, remote unreachable).
    /// Throwing is for failures worth showing ("connection refused"); the dashboard keeps the last
    /// good snapshot on screen and shows the message in the status line.
    func latest() async throws -> NodeSnapshot?
}

/// Runs SQL for the query pane (the warehouse on the embedded node, or `/v1/query` remotely).
/// Called off the UI thread; implementations should check `Task.isCancelled` (Ctrl-C cancels the task).
public protocol QueryService: Sendable {
    func run(sql: String) async throws -> QueryResult
}

public struct QueryResult: Sendable, Equatable {
    public var columns: [String]
    public var rows: [[String]]
    /// Wall time of the query as measured by the service, in milliseconds.
    public var elapsedMs: Double
    /// Bytes read from lake objects, for queries over lake tables (Athena/Spectrum analogue).
    public var bytesScanned: Int64?
    /// What the scan would cost at a per-TB price, when the service knows one.
    public var priceUSD: Double?
    public init(columns: [String], rows: [[String]], elapsedMs: Double, bytesScanned: Int64? = nil, priceUSD: Double? = nil) {
        self.columns = columns; self.rows = rows; self.elapsedMs = elapsedMs
        self.bytesScanned = bytesScanned; self.priceUSD = priceUSD
    }
}

/// A query one key away in the query pane.
public struct NamedQuery: Sendable, Equatable {
    public var name: String
    public var sql: String
    public init(name: String, sql: String) { self.name = name; self.sql = sql }

    /// Starting set, written against the warehouse tables named in ARCHITECTURE.md (events,
    /// sessions, lake_events). The lead can replace them through `DashboardOptions.namedQueries`
    /// once the warehouse schema is final.
    public static let defaults: [NamedQuery] = [
        NamedQuery(name: "top sites", sql: "SELECT site_id, count(*) AS events\nFROM events\nGROUP BY site_id\nORDER BY events DESC\nLIMIT 20"),
        NamedQuery(name: "events by type", sql: "SELECT type, count(*) AS events\nFROM events\nGROUP BY type\nORDER BY events DESC"),
        NamedQuery(name: "top pages", sql: "SELECT path, count(*) AS views\nFROM events\nWHERE type = 'pageview'\nGROUP BY path\nORDER BY views DESC\nLIMIT 20"),
        NamedQuery(name: "countries", sql: "SELECT country, count(*) AS events\nFROM events\nGROUP BY country\nORDER BY events DESC\nLIMIT 20"),
        NamedQuery(name: "lake scan", sql: "SELECT site_id, count(*) AS events\nFROM lake_events\nGROUP BY site_id\nORDER BY events DESC\nLIMIT 20"),
    ]
}

/// Adapts a closure to `SnapshotSource`, e.g. `SnapshotSourceFunction { await node.snapshot() }`
/// for the embedded node, so the composition root needs no new type.
public struct SnapshotSourceFunction: SnapshotSource {
    let body: @Sendable () async throws -> NodeSnapshot?
    public init(_ body: @escaping @Sendable () async throws -> NodeSnapshot?) { self.body = body }
    public func latest() async throws -> NodeSnapshot? { try await body() }
}

/// Adapts a closure to `QueryService`.
public struct QueryServiceFunction: QueryService {
    let body: @Sendable (String) async throws -> QueryResult
    public init(_ body: @escaping @Sendable (String) async throws -> QueryResult) { self.body = body }
    public func run(sql: String) async throws -> QueryResult { try await body(sql) }
}
