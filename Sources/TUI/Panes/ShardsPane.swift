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
            // Columns in display order, each with a priority: on a narrow terminal the lag per
            // consumer (what on-call looks for) stays and the hash range / lineage go first.
            struct Col { var col: Table.Column; var prio: Int; var key: String; var value: (ShardStats, Style) -> Table.Item }
            func text(_ s: String, _ st: Style) -> Table.Item { .text(s, st) }
            var all: [Col] = [
                Col(col: .init("shard", width: 12), prio: 0, key: "shard") { sh, b in text(sh.shardId, sh.hot ? t.fg("bad", .bold) : b) },
                Col(col: .init("state", width: 6), prio: 0, key: "state") { sh, b in
                    text(sh.state == "CLOSED" ? "closed" : (sh.hot ? "HOT" : "open"), sh.hot ? t.fg("bad", .bold) : b) },
                Col(col: .init("hash range", width: 12), prio: 5, key: "hash") { sh, b in text(Derived.hashRange(sh), b) },
                Col(col: .init("rec/s", width: 6, align: .right), prio: 0, key: "rate") { sh, b in text(Fmt.si(sh.recordsPerSec), b) },
                Col(col: .init("MB/s", width: 5, align: .right), prio: 3, key: "mbs") { sh, b in text(Fmt.fixed(sh.bytesPerSec / 1e6, 2), b) },
                Col(col: .init("records", width: 7, align: .right), prio: 4, key: "records") { sh, b in text(Fmt.int(sh.records), b) },
                Col(col: .init("size", width: 8, align: .right), prio: 2, key: "size") { sh, b in text(Fmt.bytes(sh.sizeBytes), b) },
                Col(col: .init("thr", width: 4, align: .right), prio: 2, key: "thr") { sh, b in
                    text(String(sh.throttles), sh.throttles > 0 ? t.fg("warn") : b) },
                Col(col: .init("lineage", width: 20, flex: true), prio: 6, key: "lineage") { sh, _ in text(lineage(sh, ctx: ctx), t.dim) },
            ]
            for a in apps {
                all.append(Col(col: .init("\(a) lag", width: 12, align: .right), prio: 1, key: "lag") { sh, b in
                    guard let cs = s.consumers.first(where: { $0.shardId == sh.shardId && $0.app == a }) else { return text("-", t.dim) }
                    let st = cs.millisBehindLatest > 5000 ? t.fg("bad") : (cs.millisBehindLatest > 1000 ? t.fg("warn") : b)
                    return text("\(Fmt.int(cs.recordsBehind))/\(Fmt.ms(cs.millisBehindLatest))", st)
                })
            }
            // drop the lowest-priority columns until the rest fit
            var keep = all
            while keep.count > 1 && keep.reduce(-1, { $0 + $1.col.width + 1 }) > inner.width {
                let worst = keep.indices.max { keep[$0].prio < keep[$1].prio || (keep[$0].prio == keep[$1].prio && $0 < $1) }!
                keep.remove(at: worst)
            }
            let cols = keep.map(\.col)
            let sel = rows.firstIndex { $0.shardId == state.selectedShardId() } ?? 0
            let items: [[Table.Item]] = rows.map { sh in
                let base = sh.state == "CLOSED" ? t.dim : t.base
                return keep.map { $0.value(sh, base) }
            }
            let sortKey = ["shard", "rate", "lag", "size"][min(3, state.shards.sortIndex)]
            let sortCol = keep.firstIndex { $0.key == sortKey }
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
