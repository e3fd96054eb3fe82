import CSQLite
import Foundation

/// Sessions and rollups, maintained in memory per batch and upserted once per key.
extension Warehouse {
    // MARK: Sessions and rollups

    static func dayString(_ ms: Int64) -> String {
        let d = RFC3339.civilFromDays(Int((ms >= 0 ? ms : ms - 86_399_999) / 86_400_000))
        return String(format: "%04d-%02d-%02d", d.year, d.month, d.day)
    }

    /// A visitor's stored sessions starting at or before ?3, newest first. The caller stops at the
    /// first one that ended before its window: a visitor's sessions are disjoint, so their ends are
    /// ordered as their starts, and every older one ended earlier still. (With `end_ms >= ?` in the
    /// WHERE clause instead, SQLite walked the visitor's whole history on every batch: a loyal
    /// visitor's thousands of sessions, every time they come back.)
    static let findSessionsSQL = """
        SELECT id, start_ms, end_ms, entry_page, exit_page, pageviews, events, channel, ref_host, device, country,
               converted, revenue, is_bot, entry_ms, exit_ms, marks FROM sessions WHERE site_id = ? AND visitor = ? AND start_ms <= ?
        ORDER BY start_ms DESC
        """

    /// Sessions and rollups for the rows of one batch (already inserted), computed in memory and
    /// written once per session and once per rollup key.
    ///
    /// Per visitor (rows sorted by ts, then load order), the stored sessions within a gap (or the
    /// same hours) of the new rows are read, and new rows and stored sessions are merged in order of
    /// their start; a late row inside a stored session merges into it like any other (see
    /// `BatchSession.absorb`), so no stored event is read. Each changed session subtracts its old
    /// contribution from the session-based rollups and adds its new one. Distinct visitors per
    /// minute and per page-hour count a (visitor, bucket) only when none of the visitor's stored
    /// sessions has a human mark there (`SessionMarks`).
    func maintainDerived(rows: inout [BatchRow], strings: inout ByteInterner) throws {
        let c = writer
        let gap = config.sessionGapMs
        let empty = strings.intern("")
        var d = DerivedDeltas()

        // Event-level aggregates.
        for r in rows {
            let site = r.site < 0 ? empty : r.site
            var st = d.sites[site, default: DerivedDeltas.Site()]
            st.events += 1; st.first = min(st.first, r.ts); st.last = max(st.last, r.ts)
            d.sites[site] = st
            let mk = DerivedDeltas.MinuteKey(site: site, ms: r.ts / 60_000 * 60_000)
            if r.bot { d.minute[mk, default: DerivedDeltas.Minute()].botEvents += 1; continue }
            var m = d.minute[mk, default: DerivedDeltas.Minute()]
            m.events += 1
            if r.kind == 1 { m.pageviews += 1 }
            if r.kind == 2 { m.purchases += 1; m.revenue += r.value }
            d.minute[mk] = m
            let gk = DerivedDeltas.DayKey(site: site, day: DerivedDeltas.day(r.ts), a: r.country < 0 ? empty : r.country, b: r.device < 0 ? empty : r.device)
            d.geo[gk, default: DerivedDeltas.Geo()].events += 1
            if r.kind == 1 {
                d.geo[gk, default: DerivedDeltas.Geo()].pageviews += 1
                d.page[DerivedDeltas.PageKey(site: site, hour: r.ts / 3_600_000 * 3_600_000, path: r.path < 0 ? empty : r.path), default: DerivedDeltas.Page()].pageviews += 1
            }
        }

        rows.sort { a, b in
            if a.site != b.site { return a.site < b.site }
            if a.visitor != b.visitor { return a.visitor < b.visitor }
            if a.ts != b.ts { return a.ts < b.ts }
            return a.seq < b.seq
        }

        let findOld = try c.statement(Self.findSessionsSQL)
        let delSession = try c.statement("DELETE FROM sessions WHERE id = ?")
        let insSession = try c.statement("""
            INSERT INTO sessions (site_id, visitor, start_ms, end_ms, duration_ms, entry_page, exit_page, pageviews, events,
              bounce, channel, ref_host, device, country, converted, revenue, is_bot, entry_ms, exit_ms, marks)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let updSession = try c.statement("""
            UPDATE sessions SET start_ms = ?3, end_ms = ?4, duration_ms = ?5, entry_page = ?6, exit_page = ?7, pageviews = ?8,
              events = ?9, bounce = ?10, channel = ?11, ref_host = ?12, device = ?13, country = ?14, converted = ?15,
              revenue = ?16, is_bot = ?17, entry_ms = ?18, exit_ms = ?19, marks = ?20 WHERE id = ?21 AND site_id = ?1 AND visitor = ?2
            """)
        let insVisitorDay = try c.statement("INSERT OR IGNORE INTO visitor_days VALUES (?, ?, ?)")
        var dayCache: [Int32: String] = [:]
        func dayString(_ day: Int32) -> String {
            if let s = dayCache[day] { return s }
            let s = Self.dayString(Int64(day) * 86_400_000)
            dayCache[day] = s
            return s
        }

        var marksBlob: [UInt8] = []
        func bindSession(_ st: Statement, _ site: Int32, _ visitor: Int32, _ s: BatchSession) {
            let h = st.s
            sqlite3_reset(h)
            strings.bind(h, 1, site); strings.bind(h, 2, visitor)
            sqlite3_bind_int64(h, 3, s.start); sqlite3_bind_int64(h, 4, s.end); sqlite3_bind_int64(h, 5, s.end - s.start)
            strings.bind(h, 6, s.entry); strings.bind(h, 7, s.exit)
            sqlite3_bind_int64(h, 8, s.pageviews); sqlite3_bind_int64(h, 9, s.events); sqlite3_bind_int64(h, 10, s.bounce ? 1 : 0)
            strings.bind(h, 11, s.channel); strings.bind(h, 12, s.ref); strings.bind(h, 13, s.device); strings.bind(h, 14, s.country)
            sqlite3_bind_int64(h, 15, s.converted ? 1 : 0); sqlite3_bind_double(h, 16, s.revenue); sqlite3_bind_int64(h, 17, s.bot ? 1 : 0)
            if s.entry >= 0 { sqlite3_bind_int64(h, 18, s.entryMs) } else { sqlite3_bind_null(h, 18) }
            if s.exit >= 0 { sqlite3_bind_int64(h, 19, s.exitMs) } else { sqlite3_bind_null(h, 19) }
            _ = marksBlob.withUnsafeBytes { sqlite3_bind_blob(h, 20, $0.baseAddress, Int32($0.count), SQLITE_TRANSIENT_PTR) }
        }
        /// Stores `s` with the marks in `marksBlob`; it replaces the stored sessions `old` (their
        /// contributions already removed).
        func store(_ site: Int32, _ visitor: Int32, _ s: BatchSession, replacing old: [Int64]) throws {
            d.account(s, site: site, empty: empty, sign: 1)
            if let keep = old.first {
                for id in old.dropFirst() { try delSession.run(.integer(id)) }
                bindSession(updSession, site, visitor, s)
                sqlite3_bind_int64(updSession.s, 21, keep)
                try updSession.step()
            } else {
                bindSession(insSession, site, visitor, s)
                try insSession.step()
            }
        }

        var lo = 0
        var visitorDays = Set<Int32>()
        var old: [BatchSession] = []
        // The stored sessions' encoded marks (`BatchSession.marks` ranges), all of them decoded into
        // `oldMarks`, and a merged session's marks, built in `curMarks` and encoded into `marksBlob`.
        var oldBlobs: [UInt8] = []
        // The new rows' own marks (the buckets they could add a distinct visitor to).
        var oldMarks = SessionMarks(), curMarks = SessionMarks(), newMarks = SessionMarks()
        while lo < rows.count {
            var hi = lo + 1
            while hi < rows.count, rows[hi].site == rows[lo].site, rows[hi].visitor == rows[lo].visitor { hi += 1 }
            defer { lo = hi }
            let siteId = rows[lo].site, site = siteId < 0 ? empty : siteId, visitor = rows[lo].visitor
            let first = rows[lo].ts, last = rows[hi - 1].ts
            // Hours of the new rows: the visitor's stored sessions there decide distinct visitors.
            let hourLo = DerivedDeltas.floorDiv(first, 3_600_000) * 3_600_000
            let hourHi = DerivedDeltas.floorDiv(last, 3_600_000) * 3_600_000 + 3_600_000

            // Stored sessions near the new rows (within a gap, or overlapping their hours): every
            // stored event of this visitor in those hours belongs to one of them.
            old.removeAll(keepingCapacity: true)
            oldBlobs.removeAll(keepingCapacity: true)
            oldMarks.removeAll()
            let fh = findOld.s
            sqlite3_reset(fh)
            strings.bind(fh, 1, site); strings.bind(fh, 2, visitor)
            let windowLo = min(first - gap, hourLo)
            sqlite3_bind_int64(fh, 3, max(last + gap, hourHi))
            while try findOld.step() {
                if findOld.int(2) < windowLo { break }
                let from = oldBlobs.count
                if let p = sqlite3_column_blob(fh, 16) {
                    let b = UnsafeRawBufferPointer(start: p, count: Int(sqlite3_column_bytes(fh, 16)))
                    oldBlobs.append(contentsOf: b)
                    oldMarks.decode(b, strings: &strings)
                }
                old.append(BatchSession(id: findOld.int(0), start: findOld.int(1), end: findOld.int(2),
                                        entry: strings.intern(column: 3, of: fh), exit: strings.intern(column: 4, of: fh),
                                        entryMs: findOld.int(14), exitMs: findOld.int(15),
                                        pageviews: findOld.int(5), events: findOld.int(6),
                                        channel: strings.intern(column: 7, of: fh), ref: strings.intern(column: 8, of: fh),
                                        device: strings.intern(column: 9, of: fh), country: strings.intern(column: 10, of: fh),
                                        converted: findOld.int(11) != 0, revenue: findOld.double(12), bot: findOld.int(13) != 0,
                                        marks: from..<oldBlobs.count))
            }
            sqlite3_reset(fh)
            old.reverse()

            // Distinct visitors per minute / page-hour / day: only (visitor, bucket) pairs new to the warehouse.
            newMarks.removeAll(); visitorDays.removeAll(keepingCapacity: true)
            for k in lo..<hi where !rows[k].bot {
                newMarks.add(rows[k], empty: empty)
                visitorDays.insert(DerivedDeltas.day(rows[k].ts))
            }
            for m in newMarks.minutes where !oldMarks.minutes.contains(m) {
                d.minute[DerivedDeltas.MinuteKey(site: site, ms: m), default: DerivedDeltas.Minute()].visitors += 1
            }
            for p in newMarks.pages where !oldMarks.pages.contains(p) {
                d.page[DerivedDeltas.PageKey(site: site, hour: p.hour, path: p.path), default: DerivedDeltas.Page()].visitors += 1
            }
            for day in visitorDays {
                // A stored session without bot events spanning that day means an earlier load
                // already put this (site, day, visitor) in visitor_days (a session has events on
                // every day it spans: its gaps are under 30 minutes). The usual case, a visitor in
                // the middle of a session, so it skips a write at a random place in that index.
                if old.contains(where: { !$0.bot && DerivedDeltas.day($0.start) <= day && day <= DerivedDeltas.day($0.end) }) { continue }
                let vh = insVisitorDay.s
                sqlite3_reset(vh)
                strings.bind(vh, 1, site); _ = dayString(day).withCString { sqlite3_bind_text(vh, 2, $0, -1, SQLITE_TRANSIENT_PTR) }
                strings.bind(vh, 3, visitor)
                try insVisitorDay.step()
                if c.changes == 1 { d.siteDay[DerivedDeltas.SiteDayKey(site: site, day: day), default: 0] += 1 }
            }

            // Sessions: new rows and stored sessions merged in order of start (stored first on a
            // tie); an item within a gap of the current session's end, or inside it, joins it.
            var i = lo, j = 0
            var cur: BatchSession?
            var curOld: [BatchSession] = []
            var curRows = lo..<lo
            func emit() throws {
                // A stored session that merged with nothing new stays as it is.
                guard let s = cur, !curRows.isEmpty else { return }
                for o in curOld { d.account(o, site: site, empty: empty, sign: -1) }
                curMarks.removeAll()
                for o in curOld where !o.marks.isEmpty {
                    oldBlobs.withUnsafeBytes { curMarks.decode(UnsafeRawBufferPointer(rebasing: $0[o.marks]), strings: &strings) }
                }
                for k in curRows { curMarks.add(rows[k], empty: empty) }
                curMarks.encode(into: &marksBlob, strings: strings)
                try store(site, visitor, s, replacing: curOld.map { $0.id })
            }
            while i < hi || j < old.count {
                let takeOld = j < old.count && (i >= hi || old[j].start <= rows[i].ts)
                let item = takeOld ? old[j] : BatchSession(row: rows[i])
                if var s = cur, item.start - s.end <= gap {
                    s.absorb(item)
                    cur = s
                } else {
                    try emit()
                    cur = item; curOld = []; curRows = i..<i
                }
                if takeOld { curOld.append(old[j]); j += 1 } else { curRows = curRows.lowerBound..<(i + 1); i += 1 }
            }
            try emit()
        }
        try writeDeltas(d, strings: strings, dayString: dayString)
    }

    /// Upserts the batch's rollup deltas, once per key.
    func writeDeltas(_ d: DerivedDeltas, strings: ByteInterner, dayString: (Int32) -> String) throws {
        let c = writer
        func bindDay(_ h: OpaquePointer, _ i: Int32, _ day: Int32) {
            _ = dayString(day).withCString { sqlite3_bind_text(h, i, $0, -1, SQLITE_TRANSIENT_PTR) }
        }
        let upSite = try c.statement("""
            INSERT INTO sites VALUES (?, ?, ?, ?)
            ON CONFLICT(site_id) DO UPDATE SET first_event_ms = min(first_event_ms, excluded.first_event_ms),
              last_event_ms = max(last_event_ms, excluded.last_event_ms), events = events + excluded.events
            """)
        for (k, s) in d.sites {
            let h = upSite.s
            sqlite3_reset(h)
            strings.bind(h, 1, k); sqlite3_bind_int64(h, 2, s.first); sqlite3_bind_int64(h, 3, s.last); sqlite3_bind_int64(h, 4, s.events)
            try upSite.step()
        }
        let upMinute = try c.statement("""
            INSERT INTO rollup_minute (site_id, minute_ms, events, pageviews, visitors, sessions, bounces, purchases, revenue, bot_events)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(site_id, minute_ms) DO UPDATE SET events = events + excluded.events, pageviews = pageviews + excluded.pageviews,
              visitors = visitors + excluded.visitors, sessions = sessions + excluded.sessions, bounces = bounces + excluded.bounces,
              purchases = purchases + excluded.purchases, revenue = revenue + excluded.revenue, bot_events = bot_events + excluded.bot_events
            """)
        for (k, m) in d.minute {
            let h = upMinute.s
            sqlite3_reset(h)
            strings.bind(h, 1, k.site); sqlite3_bind_int64(h, 2, k.ms)
            sqlite3_bind_int64(h, 3, m.events); sqlite3_bind_int64(h, 4, m.pageviews); sqlite3_bind_int64(h, 5, m.visitors)
            sqlite3_bind_int64(h, 6, m.sessions); sqlite3_bind_int64(h, 7, m.bounces); sqlite3_bind_int64(h, 8, m.purchases)
            sqlite3_bind_double(h, 9, m.revenue); sqlite3_bind_int64(h, 10, m.botEvents)
            try upMinute.step()
        }
        let upPage = try c.statement("""
            INSERT INTO rollup_page_hour (site_id, hour_ms, url_path, pageviews, visitors, entries, exits, bounces) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(site_id, hour_ms, url_path) DO UPDATE SET pageviews = pageviews + excluded.pageviews,
              visitors = visitors + excluded.visitors, entries = entries + excluded.entries, exits = exits + excluded.exits,
              bounces = bounces + excluded.bounces
            """)
        for (k, p) in d.page where p.pageviews != 0 || p.visitors != 0 || p.entries != 0 || p.exits != 0 || p.bounces != 0 {
            let h = upPage.s
            sqlite3_reset(h)
            strings.bind(h, 1, k.site); sqlite3_bind_int64(h, 2, k.hour); strings.bind(h, 3, k.path)
            sqlite3_bind_int64(h, 4, p.pageviews); sqlite3_bind_int64(h, 5, p.visitors); sqlite3_bind_int64(h, 6, p.entries)
            sqlite3_bind_int64(h, 7, p.exits); sqlite3_bind_int64(h, 8, p.bounces)
            try upPage.step()
        }
        // A page-hour row whose every count went back to zero is removed (as a recount would not have it).
        let delPage = try c.statement("""
            DELETE FROM rollup_page_hour WHERE site_id = ? AND hour_ms = ? AND url_path = ?
              AND pageviews = 0 AND visitors = 0 AND entries = 0 AND exits = 0 AND bounces = 0
            """)
        for k in d.pageDecremented {
            let h = delPage.s
            sqlite3_reset(h)
            strings.bind(h, 1, k.site); sqlite3_bind_int64(h, 2, k.hour); strings.bind(h, 3, k.path)
            try delPage.step()
        }
        let upChannel = try c.statement("""
            INSERT INTO rollup_channel_day VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(site_id, day, channel, ref_host) DO UPDATE SET sessions = sessions + excluded.sessions,
              bounces = bounces + excluded.bounces, pageviews = pageviews + excluded.pageviews,
              conversions = conversions + excluded.conversions, revenue = revenue + excluded.revenue
            """)
        for (k, v) in d.channel where v.sessions != 0 || v.bounces != 0 || v.pageviews != 0 || v.conversions != 0 || v.revenue != 0 {
            let h = upChannel.s
            sqlite3_reset(h)
            strings.bind(h, 1, k.site); bindDay(h, 2, k.day); strings.bind(h, 3, k.a); strings.bind(h, 4, k.b)
            sqlite3_bind_int64(h, 5, v.sessions); sqlite3_bind_int64(h, 6, v.bounces); sqlite3_bind_int64(h, 7, v.pageviews)
            sqlite3_bind_int64(h, 8, v.conversions); sqlite3_bind_double(h, 9, v.revenue)
            try upChannel.step()
        }
        let upGeo = try c.statement("""
            INSERT INTO rollup_geo_device_day (site_id, day, country, device, events, pageviews, sessions, bounces) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(site_id, day, country, device) DO UPDATE SET events = events + excluded.events,
              pageviews = pageviews + excluded.pageviews, sessions = sessions + excluded.sessions, bounces = bounces + excluded.bounces
            """)
        for (k, v) in d.geo where v.events != 0 || v.pageviews != 0 || v.sessions != 0 || v.bounces != 0 {
            let h = upGeo.s
            sqlite3_reset(h)
            strings.bind(h, 1, k.site); bindDay(h, 2, k.day); strings.bind(h, 3, k.a); strings.bind(h, 4, k.b)
            sqlite3_bind_int64(h, 5, v.events); sqlite3_bind_int64(h, 6, v.pageviews); sqlite3_bind_int64(h, 7, v.sessions)
            sqlite3_bind_int64(h, 8, v.bounces)
            try upGeo.step()
        }
        let upSiteDay = try c.statement("""
            INSERT INTO rollup_site_day VALUES (?, ?, ?) ON CONFLICT(site_id, day) DO UPDATE SET visitors = visitors + excluded.visitors
            """)
        for (k, n) in d.siteDay where n != 0 {
            let h = upSiteDay.s
            sqlite3_reset(h)
            strings.bind(h, 1, k.site); bindDay(h, 2, k.day); sqlite3_bind_int64(h, 3, n)
            try upSiteDay.step()
        }
    }
}
