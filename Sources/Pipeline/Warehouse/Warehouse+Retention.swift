import CSQLite
import Foundation
import Metrics

/// Retention and the loader's lag.
extension Warehouse {
    // MARK: Retention

    /// Deletes raw events and sessions older than `rawRetentionDays`, rollups older than `rollupRetentionDays`.
    public func applyRetention(nowMs: Int64? = nil) throws {
        lock.lock(); defer { lock.unlock() }
        try applyRetentionLocked(nowMs: nowMs ?? now())
    }

    func applyRetentionLocked(nowMs: Int64) throws {
        let raw = nowMs - Int64(config.rawRetentionDays) * 86_400_000
        let roll = nowMs - Int64(config.rollupRetentionDays) * 86_400_000
        try writer.transaction {
            try writer.statement("DELETE FROM events WHERE ts < ?").run(.integer(raw))
            try writer.statement("DELETE FROM sessions WHERE end_ms < ?").run(.integer(raw))
            try writer.statement("DELETE FROM rollup_minute WHERE minute_ms < ?").run(.integer(roll))
            try writer.statement("DELETE FROM rollup_page_hour WHERE hour_ms < ?").run(.integer(roll))
            try writer.statement("DELETE FROM rollup_channel_day WHERE day < ?").run(.text(Self.dayString(roll)))
            try writer.statement("DELETE FROM rollup_geo_device_day WHERE day < ?").run(.text(Self.dayString(roll)))
            try writer.statement("DELETE FROM rollup_site_day WHERE day < ?").run(.text(Self.dayString(roll)))
            try writer.statement("DELETE FROM visitor_days WHERE day < ?").run(.text(Self.dayString(roll)))
        }
    }

    // MARK: Stats

    /// Loader lag: objects and records listed in manifests but not yet loaded, and the newest event loaded.
    public func stats() -> WarehouseStats {
        statsLock.lock(); defer { statsLock.unlock() }
        var st = WarehouseStats()
        do {
            if statsConn == nil {
                statsConn = try SQLiteConnection(path: databasePath)
                try statsConn!.exec("PRAGMA query_only = 1")
            }
            let c = statsConn!
            // One read transaction, so ledger and manifests are seen at one point in time.
            c.resetAll()
            try c.exec("BEGIN")
            defer { c.resetAll(); try? c.exec("COMMIT") }
            var oldestPendingMs: Int64?
            for m in try listManifests(c) {
                for e in m.entries where try !isLoaded(e.url, c) {
                    st.objectsPending += 1
                    st.recordsPending += e.records ?? 0
                    if let w = m.writtenMs { oldestPendingMs = min(oldestPendingMs ?? w, w) }
                }
            }
            let totals = try c.statement("SELECT rows_inserted, newest_ts FROM load_totals")
            if try totals.step() {
                st.rowsLoaded = totals.int(0)
                st.newestEventLoadedMs = totals.isNull(1) ? nil : totals.int(1)
            }
            st.lagMs = oldestPendingMs.map { max(0, now() - $0) } ?? 0
        } catch {}
        st.sqliteMemoryBytes = sqlite3_memory_used()
        st.sqliteMemoryLimitBytes = sqlite3_soft_heap_limit64(-1)
        return st
    }
}
