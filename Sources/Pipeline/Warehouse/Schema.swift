import CSQLite
import Foundation

/// The warehouse schema as numbered migrations. Each runs once, in its own transaction, and is
/// recorded in `schema_migrations`. Never edit a shipped migration; add the next number.
/// Definitions of every table and rollup column are in docs/WAREHOUSE.md.
enum Schema {
    static let migrations: [(version: Int, name: String, sql: String)] = [
        (1, "events, sites, ledger", """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            \(EventColumn.allCases.map { "\($0.name) \($0.sqlType)" + ($0 == .eventId ? " NOT NULL" : "") }.joined(separator: ",\n    ")),
            visitor TEXT NOT NULL
        );
        CREATE UNIQUE INDEX events_event_id ON events(event_id);
        CREATE INDEX events_site_ts ON events(site_id, ts);
        CREATE INDEX events_site_visitor_ts ON events(site_id, visitor, ts);
        CREATE TABLE sites (
            site_id TEXT PRIMARY KEY,
            first_event_ms INTEGER, last_event_ms INTEGER, events INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE TABLE loaded_objects (
            url TEXT PRIMARY KEY, delivery TEXT NOT NULL, manifest TEXT NOT NULL,
            records INTEGER NOT NULL, rows_inserted INTEGER NOT NULL, bytes INTEGER NOT NULL,
            newest_ts INTEGER, newest_arrival_ms INTEGER, loaded_at_ms INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE loaded_manifests (
            delivery TEXT NOT NULL, name TEXT NOT NULL, objects INTEGER NOT NULL, loaded_at_ms INTEGER NOT NULL,
            PRIMARY KEY (delivery, name)
        ) WITHOUT ROWID;
        """),
        (2, "sessions and rollups", """
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            site_id TEXT NOT NULL, visitor TEXT NOT NULL,
            start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL,
            entry_page TEXT, exit_page TEXT, pageviews INTEGER NOT NULL, events INTEGER NOT NULL,
            bounce INTEGER NOT NULL, channel TEXT, ref_host TEXT, device TEXT, country TEXT,
            converted INTEGER NOT NULL, revenue REAL NOT NULL, is_bot INTEGER NOT NULL
        );
        CREATE UNIQUE INDEX sessions_visitor ON sessions(site_id, visitor, start_ms);
        CREATE INDEX sessions_site_start ON sessions(site_id, start_ms);
        CREATE TABLE rollup_minute (
            site_id TEXT NOT NULL, minute_ms INTEGER NOT NULL,
            events INTEGER NOT NULL, pageviews INTEGER NOT NULL, visitors INTEGER NOT NULL,
            sessions INTEGER NOT NULL DEFAULT 0, bounces INTEGER NOT NULL DEFAULT 0,
            purchases INTEGER NOT NULL, revenue REAL NOT NULL, bot_events INTEGER NOT NULL,
            PRIMARY KEY (site_id, minute_ms)
        ) WITHOUT ROWID;
        CREATE TABLE rollup_page_hour (
            site_id TEXT NOT NULL, hour_ms INTEGER NOT NULL, url_path TEXT NOT NULL,
            pageviews INTEGER NOT NULL DEFAULT 0, visitors INTEGER NOT NULL DEFAULT 0,
            entries INTEGER NOT NULL DEFAULT 0, exits INTEGER NOT NULL DEFAULT 0, bounces INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (site_id, hour_ms, url_path)
        ) WITHOUT ROWID;
        CREATE TABLE rollup_channel_day (
            site_id TEXT NOT NULL, day TEXT NOT NULL, channel TEXT NOT NULL, ref_host TEXT NOT NULL,
            sessions INTEGER NOT NULL DEFAULT 0, bounces INTEGER NOT NULL DEFAULT 0, pageviews INTEGER NOT NULL DEFAULT 0,
            conversions INTEGER NOT NULL DEFAULT 0, revenue REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (site_id, day, channel, ref_host)
        ) WITHOUT ROWID;
        CREATE TABLE rollup_geo_device_day (
            site_id TEXT NOT NULL, day TEXT NOT NULL, country TEXT NOT NULL, device TEXT NOT NULL,
            events INTEGER NOT NULL DEFAULT 0, pageviews INTEGER NOT NULL DEFAULT 0,
            sessions INTEGER NOT NULL DEFAULT 0, bounces INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (site_id, day, country, device)
        ) WITHOUT ROWID;
        """),
        (3, "distinct visitors per site and day", """
        CREATE TABLE visitor_days (
            site_id TEXT NOT NULL, day TEXT NOT NULL, visitor TEXT NOT NULL,
            PRIMARY KEY (site_id, day, visitor)
        ) WITHOUT ROWID;
        CREATE TABLE rollup_site_day (
            site_id TEXT NOT NULL, day TEXT NOT NULL, visitors INTEGER NOT NULL,
            PRIMARY KEY (site_id, day)
        ) WITHOUT ROWID;
        """),
        // Rollups are maintained from in-memory batch deltas, not recounted from `events` by time
        // bucket, so nothing needs (site_id, ts) any more; a filter on site_id alone uses
        // (site_id, visitor, ts). One index fewer on every insert.
        (4, "drop events(site_id, ts)", """
        DROP INDEX IF EXISTS events_site_ts;
        """),
        // The ledger's totals, kept in the transaction that adds its rows, so stats read one row
        // instead of summing every object ever loaded (several times a second, for a node's life).
        (5, "ledger totals", """
        CREATE TABLE load_totals (
            id INTEGER PRIMARY KEY CHECK (id = 1), rows_inserted INTEGER NOT NULL, newest_ts INTEGER
        );
        INSERT INTO load_totals SELECT 1, coalesce(sum(rows_inserted), 0), max(newest_ts) FROM loaded_objects;
        """),
        // An event is unique by (ts, event_id) instead of event_id alone. A redelivered or replayed
        // record carries the same ts, so it is still loaded once; but new rows now land at the
        // index's recent end instead of at random pages all over it. With random ids every load
        // transaction dirtied pages across the whole index: at 3M rows (2.2 GB database) inserting
        // 50k rows cost 2.4 CPU-s with the old index and 1.25 with this one (same run, sqlite3 CLI).
        (6, "events unique by (ts, event_id)", """
        DROP INDEX IF EXISTS events_event_id;
        CREATE UNIQUE INDEX events_ts_event_id ON events(ts, event_id);
        """),
        // What the loader needs of a visitor's past, kept with their sessions (`SessionMarks`): the
        // entry and exit page views' ts, and the minutes and page-hours with human events. Existing
        // sessions are filled from their events (`fills[7]`), through the visitor index migration 8
        // then drops.
        (7, "session marks", """
        ALTER TABLE sessions ADD COLUMN entry_ms INTEGER;
        ALTER TABLE sessions ADD COLUMN exit_ms INTEGER;
        ALTER TABLE sessions ADD COLUMN marks BLOB;
        """),
        // events(site_id, visitor, ts) took every new row at a random page, and reading a visitor's
        // old events fetched random pages of `events`: in a 7-minute soak at 6.9k events/s the
        // loader's CPU grew by a third, mostly in page reads (pread, WAL lookups). Sessions carry
        // what was read there (migration 7). (site_id, ts) takes each site's rows at its recent
        // end, and serves queries on one site.
        (8, "events by (site_id, ts) instead of by visitor", """
        CREATE INDEX IF NOT EXISTS events_site_ts ON events(site_id, ts);
        DROP INDEX IF EXISTS events_site_visitor_ts;
        """),
    ]

    /// Steps in Swift that run after a migration's SQL, in its transaction.
    static let fills: [Int: @Sendable (SQLiteConnection) throws -> Void] = [7: { try fillSessionMarks($0) }]

    /// Entry/exit ts and marks of sessions stored before migration 7, from their events. A session
    /// whose early events retention already deleted takes its start and end as the entry and exit ts.
    static func fillSessionMarks(_ c: SQLiteConnection) throws {
        let total = try c.scalarInt("SELECT count(*) FROM sessions") ?? 0
        guard total > 0 else { return }
        let page = try c.statement("SELECT id, site_id, visitor, start_ms, end_ms, entry_page, exit_page FROM sessions WHERE id > ? ORDER BY id LIMIT 10000")
        let events = try c.statement("""
            SELECT ts, type = 'page_view', url_path, is_bot FROM events WHERE site_id = ? AND visitor = ? AND ts >= ? AND ts <= ? ORDER BY ts, id
            """)
        let update = try c.statement("UPDATE sessions SET entry_ms = ?, exit_ms = ?, marks = ? WHERE id = ?")
        var strings = ByteInterner()
        var marks = SessionMarks()
        var blob: [UInt8] = []
        var last: Int64 = 0, done: Int64 = 0, shown = Date()
        struct Todo { var id: Int64; var site: String; var visitor: String; var start: Int64; var end: Int64; var entry: Bool; var exit: Bool }
        while true {
            var todo: [Todo] = []
            sqlite3_reset(page.s)
            page.bind(1, last)
            while try page.step() {
                todo.append(Todo(id: page.int(0), site: page.text(1) ?? "", visitor: page.text(2) ?? "", start: page.int(3), end: page.int(4),
                                 entry: !page.isNull(5), exit: !page.isNull(6)))
            }
            sqlite3_reset(page.s)
            guard let tail = todo.last else { break }
            last = tail.id
            for t in todo {
                marks.removeAll()
                var entryMs: Int64?, exitMs: Int64?
                sqlite3_reset(events.s)
                events.bind(1, t.site); events.bind(2, t.visitor); events.bind(3, t.start); events.bind(4, t.end)
                while try events.step() {
                    let ts = events.int(0), pageView = events.int(1) != 0
                    if pageView { entryMs = entryMs ?? ts; exitMs = ts }
                    let path = strings.intern(column: 2, of: events.s)
                    marks.add(BatchRow(site: -1, visitor: -1, path: path, channel: -1, ref: -1, device: -1, country: -1,
                                       kind: pageView ? 1 : 0, bot: events.int(3) != 0, ts: ts, value: 0, seq: 0),
                              empty: strings.intern(""))
                }
                sqlite3_reset(events.s)
                marks.encode(into: &blob, strings: strings)
                sqlite3_reset(update.s)
                if t.entry { update.bind(1, entryMs ?? t.start) } else { update.bindNull(1) }
                if t.exit { update.bind(2, exitMs ?? t.end) } else { update.bindNull(2) }
                _ = blob.withUnsafeBytes { sqlite3_bind_blob(update.s, 3, $0.baseAddress, Int32($0.count), SQLITE_TRANSIENT_PTR) }
                update.bind(4, t.id)
                _ = try update.step()
                done += 1
            }
            // Interned paths only grow; start again now and then on a long fill.
            if strings.count > 1_000_000 { strings = ByteInterner() }
            if Date().timeIntervalSince(shown) > 5 {
                shown = Date()
                FileHandle.standardError.write(Data("eddy: session marks \(done)/\(total)…\n".utf8))
            }
        }
    }

    static func migrate(_ c: SQLiteConnection) throws {
        try c.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)")
        let have = try c.scalarInt("SELECT coalesce(max(version), 0) FROM schema_migrations") ?? 0
        for m in migrations where m.version > have {
            // Index rebuilds on a large existing database take a while: say what is happening.
            if have > 0 { FileHandle.standardError.write(Data("eddy: warehouse migration \(m.version) (\(m.name))…\n".utf8)) }
            try c.transaction {
                try c.exec(m.sql)
                try fills[m.version]?(c)
                try c.statement("INSERT INTO schema_migrations VALUES (?, ?, ?)")
                    .run(.integer(Int64(m.version)), .text(m.name), .integer(Int64(Date().timeIntervalSince1970 * 1000)))
            }
        }
    }
}
