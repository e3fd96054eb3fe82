import CSQLite
import Foundation
import Metrics

/// Settings of the warehouse. Validated by `Warehouse.init`.
public struct WarehouseConfig: Sendable {
    /// Raw events (and sessions) older than this many days are deleted by retention.
    public var rawRetentionDays: Int = 30
    /// Rollup rows older than this many days are deleted by retention.
    public var rollupRetentionDays: Int = 400
    /// Inactivity gap that ends a session.
    public var sessionGapMs: Int64 = 30 * 60_000
    /// How often the background loop looks for new manifests.
    public var pollInterval: TimeInterval = 1.0
    /// Default time limit of a query.
    public var queryTimeLimit: TimeInterval = 10
    /// SQLite's soft heap limit for the process (bytes; 0 = none). The writer's page cache is
    /// 64 MiB, but a load transaction whose dirty pages fill it made SQLite allocate past it (a
    /// heaptrack soak found ~200 MB held by SQLite while the loader worked through a backlog). Above
    /// this limit SQLite recycles cache pages instead of allocating more.
    public var memoryLimitBytes: Int64 = 128 << 20
    public init() {}
}

/// What one `loadPending()` did.
public struct LoadReport: Sendable, Equatable, CustomStringConvertible {
    public var manifestsCompleted = 0
    public var objectsLoaded = 0
    /// Objects listed again (replayed manifests, redelivery) and already in the ledger.
    public var objectsAlreadyLoaded = 0
    public var rowsInserted = 0
    /// Lines whose event_id was already in `events` (a record never counts twice).
    public var duplicateRows = 0
    /// Rows older than the raw retention, dropped at load.
    public var expiredRows = 0
    /// Problems that stopped a manifest (missing mandatory object, unreadable object). The manifest is
    /// retried on the next load; objects loaded before the problem stay loaded (they are in the ledger).
    public var errors: [String] = []
    /// Wall time spent reading + inserting rows, and maintaining sessions and rollups (ms).
    public var insertMs: Double = 0
    public var derivedMs: Double = 0
    public init() {}
    mutating func add(_ o: LoadReport) {
        manifestsCompleted += o.manifestsCompleted
        objectsLoaded += o.objectsLoaded
        objectsAlreadyLoaded += o.objectsAlreadyLoaded
        rowsInserted += o.rowsInserted
        duplicateRows += o.duplicateRows
        expiredRows += o.expiredRows
        errors += o.errors
        insertMs += o.insertMs
        derivedMs += o.derivedMs
    }
    public var description: String {
        "manifests \(manifestsCompleted), objects \(objectsLoaded) (+\(objectsAlreadyLoaded) already loaded), rows \(rowsInserted), duplicates \(duplicateRows), expired \(expiredRows), errors \(errors.count)"
    }
}

/// The SQL warehouse: `<data>/warehouse/eddy.sqlite` in WAL mode, loaded exactly once from the lake's
/// manifests, with sessions and rollups maintained in the same transaction as the rows.
///
/// One writer connection (the loader, serialised by a lock); readers open their own connections
/// through `queryRunner()`.
public final class Warehouse: @unchecked Sendable {
    public let dataDirectory: String
    public let lakeRoot: String
    public let databasePath: String
    public let config: WarehouseConfig
    let writer: SQLiteConnection
    let lock = NSLock()
    private let loopCondition = NSCondition()
    private var loopThread: Thread?
    private var stopping = false
    var lastRetentionMs: Int64 = 0
    /// Parsed manifests by path (manifests are immutable once renamed into place). Holds the
    /// pending ones only: `listManifests` replaces it with what it returned, so a
    /// completed manifest leaves it (it used to keep every manifest ever written: ~240 a minute at
    /// 15k events/s, about 0.4 MB a minute of heap that never came back).
    var manifestCache: [String: Manifest] = [:]
    /// Manifests held by the cache (for tests).
    var manifestCacheCount: Int { cacheLock.lock(); defer { cacheLock.unlock() }; return manifestCache.count }
    let cacheLock = NSLock()
    /// What the last listing learnt of each manifest directory (under `cacheLock`); lets a listing
    /// skip hours whose manifests are all loaded. See `listManifests`.
    var manifestDirs: [String: ManifestDirState] = [:]
    /// Newest manifest time seen (ms, from names: the writers' clock), for retiring whole days.
    var newestManifestMs: Int64 = 0
    /// Stats read through their own connection and lock, so the dashboard never waits for a load.
    let statsLock = NSLock()
    var statsConn: SQLiteConnection?
    /// Test seam: called after each row is inserted with (object url, rows so far in the object);
    /// a throw aborts that object's transaction as a crash would.
    public var faultInjection: (@Sendable (String, Int) throws -> Void)?
    public var now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }

    public init(dataDirectory: String, config: WarehouseConfig = WarehouseConfig()) throws {
        var problems: [String] = []
        if config.rawRetentionDays < 1 { problems.append("rawRetentionDays must be ≥ 1") }
        if config.rollupRetentionDays < config.rawRetentionDays { problems.append("rollupRetentionDays must be ≥ rawRetentionDays") }
        if config.sessionGapMs <= 0 { problems.append("sessionGapMs must be > 0") }
        if config.queryTimeLimit <= 0 { problems.append("queryTimeLimit must be > 0") }
        if config.memoryLimitBytes < 0 { problems.append("memoryLimitBytes must be ≥ 0") }
        if !problems.isEmpty { throw SQLiteError(code: SQLITE_MISUSE, message: "invalid warehouse config: " + problems.joined(separator: "; ")) }
        self.dataDirectory = dataDirectory
        self.config = config
        lakeRoot = (dataDirectory as NSString).appendingPathComponent("lake")
        let dir = (dataDirectory as NSString).appendingPathComponent("warehouse")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        databasePath = (dir as NSString).appendingPathComponent("eddy.sqlite")
        if config.memoryLimitBytes > 0 { sqlite3_soft_heap_limit64(config.memoryLimitBytes) }
        writer = try SQLiteConnection(path: databasePath)
        // WAL with synchronous=NORMAL: a commit is in the WAL (the OS page cache) before COMMIT
        // returns, so it survives kill -9 of the process; only an OS crash or power loss can drop the
        // last commits, and then their ledger rows go with them and the loader loads those objects
        // again from the lake (which is the durable copy). A checkpoint every 64 MiB of WAL rather
        // than 4 MiB interrupts bulk loads less often; reads of index pages go through mmap.
        try writer.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536; PRAGMA mmap_size=268435456; PRAGMA wal_autocheckpoint=16384")
        try Schema.migrate(writer)
    }

    deinit { stop() }

    /// A read-only query runner on its own connection, with `lake_events` registered.
    public func queryRunner() throws -> QueryRunner {
        try QueryRunner(databasePath: databasePath, lakeRoot: lakeRoot, timeLimit: config.queryTimeLimit)
    }

    // MARK: Background loop

    /// Starts polling for new manifests every `pollInterval`. Errors are kept in `lastError`.
    public func start() {
        loopCondition.lock(); defer { loopCondition.unlock() }
        guard loopThread == nil else { return }
        stopping = false
        stopFlagLock.lock(); _stopRequested = false; stopFlagLock.unlock()
        let t = Thread { [weak self] in self?.loop() }
        t.name = "eddy-warehouse-loader"
        loopThread = t
        t.start()
    }

    /// Stops the loop and waits for the manifest being loaded to finish: manifests already loaded
    /// commit, the rest wait for the next start.
    public func stop() {
        loopCondition.lock()
        guard loopThread != nil else { loopCondition.unlock(); return }
        requestStop()
        stopping = true
        loopCondition.broadcast()
        while loopThread != nil { loopCondition.wait() }
        loopCondition.unlock()
        // Only the load that was running is cut short; a later `loadPending` (a flush) loads all.
        stopFlagLock.lock(); _stopRequested = false; stopFlagLock.unlock()
    }

    private let stopFlagLock = NSLock()
    private var _stopRequested = false
    /// Set by `stop()`: `loadPending` returns after the manifest in progress.
    var stopRequested: Bool { stopFlagLock.lock(); defer { stopFlagLock.unlock() }; return _stopRequested }
    /// Makes a load in progress return after its current manifest (`stop()` calls it; tests too).
    func requestStop() { stopFlagLock.lock(); _stopRequested = true; stopFlagLock.unlock() }

    private let errorLock = NSLock()
    private var _lastError: String?
    /// The last error the background loop met, if any.
    public var lastError: String? { errorLock.lock(); defer { errorLock.unlock() }; return _lastError }

    private func loop() {
        while true {
            do {
                let r = try loadPending()
                errorLock.lock(); _lastError = r.errors.last; errorLock.unlock()
            } catch {
                errorLock.lock(); _lastError = "\(error)"; errorLock.unlock()
            }
            loopCondition.lock()
            if !stopping { _ = loopCondition.wait(until: Date().addingTimeInterval(config.pollInterval)) }
            if stopping { loopThread = nil; loopCondition.broadcast(); loopCondition.unlock(); return }
            loopCondition.unlock()
        }
    }
}
