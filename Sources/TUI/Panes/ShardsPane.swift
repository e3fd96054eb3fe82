import Metrics

/// Shards: one row per shard (hash range, rates, size, throttles, lineage, lag per consumer),
/// the selected shard's lag history below, and splits/merges seen while watching.
enum ShardsPane {
    static func draw(_ c: inout Canvas, snapshot s: NodeSnapshot, state: DashboardState, rect: Rect, ctx: DrawContext) -> ListPlacement {
        let t = ctx.theme
        let rows = state.shardRows()
        let apps = Derived.apps(s)
        let eventsH = state.reshardEvents.isEmpty ? 0 : min(4, state.reshardEvents.count + 2)
        let chartH = max(6, min(12, rect.height / 3))
        let tableH = max(4, rect.height - chartH - eventsH)
        let (tableRect, rest) = rect.splitTop(tableH)
        let (chartRect, eventsRect) = rest.splitTop(chartH)

        ctx.box(&c, tableRect, "Shards of \(s.node.streamName): \(rows.count)" + (state.filter.isEmpty ? "" : " (filter \(state.filter))"))
        let inner = tableRect.inset(1)
        var placement = ListPlacement()
        if rows.isEmpty {
            Chrome.empty(&c, inner, s.shards.isEmpty ? "no shards" : "no shard matches the filter", ctx: ctx)
        } else {
            var cols: [Table.Column] = [.init("shard", width: 12), .init("state", width: 6),
                                        .init("hash range", width: 12), .init("rec/s", width: 6, align: .right),
                                        .init("MB/s", width: 5, align: .right), .init("records", width: 7, align: .right),
                                        .init("size", width: 8, align: .right), .init("thr", width: 4, align: .right)]
            let wide = inner.width >= 110
            if wide { cols.append(.init("lineage", width: 22, flex: true)) }
            let lagW = 12
            let room = inner.width - cols.reduce(0) { $0 + $1.width + 1 }
            let lagApps = Array(apps.prefix(max(0, room / (lagW + 1))))
            for a in lagApps { cols.append(.init("\(a) lag", width: lagW, align: .right)) }
            let sel = rows.firstIndex { $0.shardId == state.selectedShardId() } ?? 0
            let items: [[Table.Item]] = rows.map { sh in
                let closed = sh.state == "CLOSED"
                let base = closed ? t.dim : t.base
                var r: [Table.Item] = [
                    .text(sh.shardId, sh.hot ? t.fg("bad", .bold) : base),
                    .text(closed ? "closed" : (sh.hot ? "HOT" : "open"), sh.hot ? t.fg("bad", .bold) : base),
                    .text(Derived.hashRange(sh), base),
                    .text(Fmt.si(sh.recordsPerSec), base),
                    .text(Fmt.fixed(sh.bytesPerSec / 1e6, 2), base),
                    .text(Fmt.int(sh.records), base),
                    .text(Fmt.bytes(sh.sizeBytes), base),
                    .text(String(sh.throttles), sh.throttles > 0 ? t.fg("warn") : base),
                ]
                if wide { r.append(.text(lineage(sh, ctx: ctx), t.dim)) }
                let cons = Derived.consumers(of: sh.shardId, in: s)
                for a in lagApps {
                    if let cs = cons.first(where: { $0.app == a }) {
                        let st = cs.millisBehindLatest > 5000 ? t.fg("bad") : (cs.millisBehindLatest > 1000 ? t.fg("warn") : base)
                        r.append(.text("\(Fmt.int(cs.recordsBehind))/\(Fmt.ms(cs.millisBehindLatest))", st))
                    } else { r.append(.text("-", t.dim)) }
                }
                return r
            }
            let sortCol: Int
            switch state.shards.sortIndex {
            case 1: sortCol = 3
            case 2: sortCol = lagApps.isEmpty ? 0 : cols.count - lagApps.count
            case 3: sortCol = 6
            default: sortCol = 0
            }
            let table = Table(columns: cols, rows: items, selected: sel, offset: state.shards.offset, sortColumn: sortCol,
                              sortAscending: state.shards.ascending, ascii: ctx.ascii, styles: t.table)
            let off = table.draw(in: &c, rect: inner)
            placement = ListPlacement(top: inner.y + 1, rows: inner.height - 1, offset: off, x0: inner.x, x1: inner.maxX)
        }

        // lag history of the selected shard, kept in UI state (one sample per snapshot received)
        let shardId = state.selectedShardId() ?? ""
        let hist = state.lagHistory[shardId] ?? []
        ctx.box(&c, chartRect, "lag of \(shardId) (max over consumers, ms), \(hist.count) samples")
        if hist.count < 2 {
            Chrome.empty(&c, chartRect.inset(1), "collecting lag history…", ctx: ctx)
        } else {
            LineChart(series: hist, xLabels: ["-\(hist.count)", "now"], formatY: { Fmt.ms($0) },
                      style: t.fg("graph"), axisStyle: t.dim, ascii: ctx.ascii).draw(in: &c, rect: chartRect.inset(1))
        }
        if eventsH > 0 {
            ctx.box(&c, eventsRect, "Splits and merges")
            let inner = eventsRect.inset(1)
            for (i, e) in state.reshardEvents.suffix(inner.height).enumerated() {
                c.text(e, x: inner.x, y: inner.y + i, style: t.base)
            }
        }
        return placement
    }

    /// "split of A" / "merge of A+B" from the parent ids the shard map records.
    static func lineage(_ sh: ShardStats, ctx: DrawContext) -> String {
        if let p = sh.parentShardId, let q = sh.adjacentParentShardId { return "merge of \(p)+\(q)" }
        if let p = sh.parentShardId { return "split of \(p)" }
        return ""
    }
}
