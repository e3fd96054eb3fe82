import Metrics

/// Where a pane's scrollable list landed, so clicks and the scroll offset can find it again.
struct ListPlacement {
    var top = 0, rows = 0, offset = 0, x0 = 0, x1 = 0
}

/// Overview: KPI strip, site leaderboard (left), shard strip, delivery buffers and warehouse (right).
enum OverviewPane {
    static func draw(_ c: inout Canvas, snapshot s: NodeSnapshot, state: DashboardState, rect: Rect, ctx: DrawContext) -> ListPlacement {
        let t = ctx.theme
        // KPI strip
        let kpi: [(String, String, Style?)] = [
            ("events/s", Fmt.si(s.collector.eventsPerSec), nil),
            ("MB/s", Fmt.fixed(s.collector.bytesPerSec / 1e6, 2), nil),
            ("active sites", "\(Derived.activeSites(s))/\(s.sites.count)", nil),
            ("visitors now", Fmt.int(Derived.visitorsNow(s)), nil),
            ("error rate", Fmt.percent(Derived.errorRate(s), digits: 2), Derived.errorRate(s) > 0.01 ? t.fg("bad", .bold) : nil),
            (ctx.ascii ? "click>dash" : "click→dash", "p99 " + Fmt.ms(s.clickToDashboard.p99Ms), nil),
        ]
        let (kpiRect, rest) = rect.splitTop(4)
        ctx.box(&c, kpiRect, "Now")
        Chrome.kpis(&c, kpi, rect: kpiRect.inset(1).splitTop(2).0, ctx: ctx)

        // right column width: enough for shard strip and gauges, leaderboard gets the rest
        let rightW = rest.width >= 160 ? 64 : (rest.width >= 110 ? 50 : max(36, rest.width * 9 / 20))
        let (left, right) = rest.splitLeft(rest.width - rightW)
        let placement = leaderboard(&c, s, state: state, rect: left, ctx: ctx)

        // right column: shards (as many rows as shards, capped), delivery, warehouse
        let shardH = min(s.shards.count + 3, max(4, right.height / 2))
        let (shardRect, r2) = right.splitTop(shardH)
        shardStrip(&c, s, rect: shardRect, ctx: ctx)
        let whH = 4
        let (delRect, whRect) = r2.splitTop(max(0, r2.height - whH))
        deliveryGauges(&c, s, rect: delRect, ctx: ctx)
        warehouse(&c, s.warehouse, rect: whRect, ctx: ctx)
        return placement
    }

    static func leaderboard(_ c: inout Canvas, _ s: NodeSnapshot, state: DashboardState, rect: Rect, ctx: DrawContext) -> ListPlacement {
        let rows = state.siteRows()
        let title = "Sites \(rows.count)" + (state.filter.isEmpty ? "" : " of \(s.sites.count) (filter \(state.filter))")
        ctx.box(&c, rect, title)
        let inner = rect.inset(1)
        guard inner.height > 1, !rows.isEmpty else {
            Chrome.empty(&c, inner, s.sites.isEmpty ? "no sites yet" : "no site matches the filter", ctx: ctx)
            return ListPlacement()
        }
        let w = inner.width
        // columns appear as width allows: rank, site, ev/s, visitors always; spark, bar, pv/s when room
        // the site name gets what the longest visible name needs (12...24), extras share the rest
        let nameW = min(24, max(12, rows.prefix(200).map { CharWidth.of($0.siteId) }.max() ?? 12))
        var cols: [Table.Column] = [.init("#", width: 3, align: .right), .init("site", width: 12, flex: true),
                                    .init("ev/s", width: 6, align: .right)]
        // base: # site ev/s visitors = 3+12+6+8 + 3 gaps; extras in priority order
        var room = w - 32
        func take(_ n: Int) -> Bool { if room >= n + 1 { room -= n + 1; return true }; return false }
        let withSpark = take(8)
        let extraName = min(max(0, nameW - 12), room)
        room -= extraName
        cols[1] = .init("site", width: 12 + extraName)
        let withBar = take(10), withPV = take(6), withTotal = take(7)
        if withBar { cols.append(.init("", width: 10, flex: true)) }
        if withSpark { cols.append(.init("10 min", width: 8, flex: true)) }
        if withPV { cols.append(.init("pv/s", width: 6, align: .right)) }
        cols.append(.init("visitors", width: 8, align: .right))
        if withTotal { cols.append(.init("events", width: 7, align: .right)) }
        let top = rows.map(\.eventsPerSec).max() ?? 1
        let visible = inner.height - 1
        let selIdx = rows.firstIndex { $0.siteId == state.sites.selectedId } ?? 0
        let off = Table.scrollOffset(current: state.sites.offset, selected: selIdx, visible: visible, count: rows.count)
        // only the visible rows are built: 320 sites, ~50 on screen
        var items: [[Table.Item]] = []
        items.reserveCapacity(visible)
        let end = min(rows.count, off + visible)
        for i in off..<end {
            let site = rows[i]
            var r: [Table.Item] = [.text(String(i + 1), ctx.theme.dim), .text(site.siteId), .text(Fmt.si(site.eventsPerSec))]
            if withBar { r.append(.bar(top > 0 ? site.eventsPerSec / top : 0, ctx.theme.fg("bar"))) }
            if withSpark { r.append(.spark(site.eventsPerSecHistory, max: nil, capacity: 600)) }
            if withPV { r.append(.text(Fmt.si(site.pageviewsPerSec))) }
            r.append(.text(Fmt.int(site.activeVisitors)))
            if withTotal { r.append(.text(Fmt.int(site.eventsTotal))) }
            items.append(r)
        }
        // sort marker on the column the list is sorted by
        let sortCol: Int?
        switch state.sites.sortIndex {
        case 0: sortCol = 2
        case 1: sortCol = 1
        case 2: sortCol = cols.count - (withTotal ? 2 : 1)
        case 3: sortCol = withPV ? 3 + (withBar ? 1 : 0) + (withSpark ? 1 : 0) : nil
        default: sortCol = withTotal ? cols.count - 1 : nil
        }
        let table = Table(columns: cols, rows: items, selected: selIdx - off, offset: 0, sortColumn: sortCol,
                          sortAscending: state.sites.ascending, ascii: ctx.ascii, styles: ctx.theme.table)
        table.draw(in: &c, rect: inner)
        // scroll marker for the whole list (the table only saw the visible slice)
        if rows.count > visible && visible >= 2 {
            let pos = (off * (visible - 1)) / max(1, rows.count - visible)
            c.put(x: rect.maxX - 1, y: inner.y + 1 + min(visible - 1, pos), scalar: ctx.ascii ? 0x23 : 0x2588, width: 1, style: ctx.theme.hi)
        }
        return ListPlacement(top: inner.y + 1, rows: visible, offset: off, x0: inner.x, x1: inner.maxX)
    }

    static func shardStrip(_ c: inout Canvas, _ s: NodeSnapshot, rect: Rect, ctx: DrawContext) {
        let t = ctx.theme
        let open = s.shards.filter { $0.state != "CLOSED" }
        ctx.box(&c, rect, "Shards \(open.count)" + (open.count != s.shards.count ? " (+\(s.shards.count - open.count) closed)" : ""))
        let inner = rect.inset(1)
        guard inner.height > 0 else { return }
        if s.shards.isEmpty { Chrome.empty(&c, inner, "no shards", ctx: ctx); return }
        let apps = Derived.apps(s)
        let top = open.map(\.recordsPerSec).max() ?? 1
        // header: id, rate, bar, lag per consumer app (records behind)
        let idW = min(12, max(5, open.map { CharWidth.of($0.shardId) }.max() ?? 5))
        let lagW = 7
        let lagCols = min(apps.count, max(0, (inner.width - idW - 6 - 8) / (lagW + 1)))
        let barW = max(0, inner.width - idW - 1 - 6 - 1 - lagCols * (lagW + 1) - 4)
        var x = inner.x
        c.text("shard", x: x, y: inner.y, style: t.title); x += idW + 1
        c.text(CharWidth.pad("rec/s", to: 6, right: true), x: x, y: inner.y, style: t.title); x += 7 + barW
        for a in apps.prefix(lagCols) {
            c.text(CharWidth.pad(CharWidth.truncate(a, to: lagW, ellipsis: ctx.ellipsis), to: lagW, right: true), x: x + 1, y: inner.y, style: t.title)
            x += lagW + 1
        }
        // more shards than rows: the hottest and busiest win the space, the rest are counted
        let fits = inner.height - 1
        let shown = open.count <= fits ? open
            : Array(open.sorted { ($0.hot ? 1 : 0, $0.recordsPerSec) > ($1.hot ? 1 : 0, $1.recordsPerSec) }.prefix(max(0, fits - 1)))
                .sorted { $0.shardId < $1.shardId }
        if shown.count < open.count {
            c.text("+\(open.count - shown.count) more (2: Shards)", x: inner.x, y: inner.maxY - 1, style: t.dim)
        }
        for (i, sh) in shown.enumerated() {
            let y = inner.y + 1 + i
            var x = inner.x
            c.text(CharWidth.truncate(sh.shardId, to: idW, ellipsis: ctx.ellipsis), x: x, y: y, style: t.base); x += idW + 1
            c.text(CharWidth.pad(Fmt.si(sh.recordsPerSec), to: 6, right: true), x: x, y: y, style: t.base); x += 7
            HBar(fraction: top > 0 ? sh.recordsPerSec / top : 0, style: t.fg(sh.hot ? "bad" : "bar"), ascii: ctx.ascii).draw(in: &c, x: x, y: y, width: barW)
            x += barW
            let cons = Derived.consumers(of: sh.shardId, in: s)
            for a in apps.prefix(lagCols) {
                let lag = cons.first { $0.app == a }
                let text = lag.map { Fmt.int($0.recordsBehind) } ?? "-"
                let st = (lag?.millisBehindLatest ?? 0) > 5000 ? t.fg("bad") : ((lag?.millisBehindLatest ?? 0) > 1000 ? t.fg("warn") : t.base)
                c.text(CharWidth.pad(text, to: lagW, right: true), x: x + 1, y: y, style: st)
                x += lagW + 1
            }
            if sh.hot { c.text(" HOT", x: inner.maxX - 4, y: y, style: t.fg("bad", .bold)) }
        }
    }

    static func deliveryGauges(_ c: inout Canvas, _ s: NodeSnapshot, rect: Rect, ctx: DrawContext) {
        guard rect.height >= 3 else { return }
        ctx.box(&c, rect, "Delivery buffers")
        let inner = rect.inset(1)
        if s.deliveries.isEmpty { Chrome.empty(&c, inner, "no delivery streams", ctx: ctx); return }
        var y = inner.y
        for d in s.deliveries {
            guard y < inner.maxY else { break }
            let fullest = d.buffers.max { $0.fillBytes < $1.fillBytes }
            let oldest = d.buffers.max { $0.ageMs < $1.ageMs }
            let wide = inner.width >= 48
            let lw = wide ? 12 : 11, tw = wide ? 17 : 11
            let name = CharWidth.truncate(d.name, to: lw, ellipsis: ctx.ellipsis)
            let fb = fullest?.fillBytes ?? 0
            let pct = d.sizeHintBytes > 0 ? Fmt.fixed(Double(fb) / Double(d.sizeHintBytes) * 100, 0) + "% " : ""
            let fillText = wide ? "\(Fmt.bytes(fb)) / \(Fmt.bytes(d.sizeHintBytes))" : pct + Fmt.bytes(d.sizeHintBytes)
            let fill = Gauge(label: name, value: Double(fb), hint: Double(d.sizeHintBytes), text: fillText, ascii: ctx.ascii,
                             labelWidth: lw, textWidth: tw)
            fill.draw(in: &c, x: inner.x, y: y, width: inner.width, styles: ctx.theme.gauge)
            y += 1
            guard y < inner.maxY else { break }
            let ageText = (wide ? "age " : "") + "\(Fmt.ms(oldest?.ageMs ?? 0))/\(Fmt.ms(d.intervalHintMs))"
            let age = Gauge(label: " \(d.buffers.count) part" + (d.buffers.count == 1 ? "" : "s"), value: Double(oldest?.ageMs ?? 0),
                            hint: Double(d.intervalHintMs), text: ageText, ascii: ctx.ascii, labelWidth: lw, textWidth: tw)
            age.draw(in: &c, x: inner.x, y: y, width: inner.width, styles: ctx.theme.gauge)
            y += 1
        }
    }

    static func warehouse(_ c: inout Canvas, _ w: WarehouseStats?, rect: Rect, ctx: DrawContext) {
        guard rect.height >= 3 else { return }
        ctx.box(&c, rect, "Warehouse loader")
        let inner = rect.inset(1)
        guard let w else {
            c.text("not running", x: inner.x, y: inner.y, style: ctx.theme.dim)
            return
        }
        let st = w.lagMs > 60_000 ? ctx.theme.fg("bad", .bold) : (w.lagMs > 10_000 ? ctx.theme.fg("warn") : ctx.theme.fg("ok"))
        c.withClip(inner) { c in
            var x = inner.x
            x += c.text("lag ", x: x, y: inner.y, style: ctx.theme.dim)
            x += c.text(Fmt.ms(w.lagMs), x: x, y: inner.y, style: st)
            x += c.text("  loaded ", x: x, y: inner.y, style: ctx.theme.dim)
            c.text(Fmt.int(w.rowsLoaded) + " rows", x: x, y: inner.y, style: ctx.theme.base)
            guard inner.height >= 2 else { return }
            x = inner.x
            x += c.text("pending ", x: x, y: inner.y + 1, style: ctx.theme.dim)
            x += c.text("\(w.objectsPending) objects, \(Fmt.int(w.recordsPending)) records", x: x, y: inner.y + 1, style: ctx.theme.base)
            if let n = w.newestEventLoadedMs, x + 17 <= inner.maxX {
                x += c.text("  newest ", x: x, y: inner.y + 1, style: ctx.theme.dim)
                c.text(Fmt.clock(n), x: x, y: inner.y + 1, style: ctx.theme.base)
            }
        }
    }
}
