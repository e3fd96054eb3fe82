import Metrics

/// Delivery: one summary line per delivery stream, every buffer partition with its fill against
/// the size hint and its age against the interval hint, and the warehouse loader.
enum DeliveryPane {
    static func draw(_ c: inout Canvas, snapshot s: NodeSnapshot, state: DashboardState, rect: Rect, ctx: DrawContext) -> ListPlacement {
        let t = ctx.theme
        let sumH = min(rect.height / 3, max(1, s.deliveries.count) * 2 + 2)
        let (sumRect, rest) = rect.splitTop(sumH)
        let (partRect, whRect) = rest.splitTop(rest.height - 4)

        ctx.box(&c, sumRect, "Delivery streams \(s.deliveries.count)")
        let si = sumRect.inset(1)
        if s.deliveries.isEmpty { Chrome.empty(&c, si, "no delivery streams", ctx: ctx) }
        var y = si.y
        c.withClip(si) { c in
        for d in s.deliveries where y < si.maxY {
            var x = si.x
            x += c.text(d.name, x: x, y: y, style: t.hi)
            x += c.text("  objects ", x: x, y: y, style: t.dim)
            x += c.text(Fmt.int(d.objectsWritten), x: x, y: y, style: t.base)
            x += c.text("  in ", x: x, y: y, style: t.dim)
            x += c.text(Fmt.bytes(d.bytesIn), x: x, y: y, style: t.base)
            x += c.text("  out ", x: x, y: y, style: t.dim)
            x += c.text(Fmt.bytes(d.bytesWritten), x: x, y: y, style: t.base)
            x += c.text("  ratio ", x: x, y: y, style: t.dim)
            x += c.text(Fmt.fixed(d.compressionRatio, 1) + (ctx.ascii ? "x" : "×"), x: x, y: y, style: t.base)
            x += c.text("  p99 ", x: x, y: y, style: t.dim)
            c.text(Fmt.ms(d.deliveryLatency.p99Ms), x: x, y: y, style: t.base)
            y += 1
            guard y < si.maxY else { break }
            var ex = si.x + 2
            ex += c.text("hints ", x: ex, y: y, style: t.dim)
            ex += c.text("\(Fmt.bytes(d.sizeHintBytes)) / \(Fmt.ms(d.intervalHintMs))", x: ex, y: y, style: t.base)
            ex += c.text("  errors ", x: ex, y: y, style: t.dim)
            if d.errorsByType.isEmpty {
                c.text("none", x: ex, y: y, style: t.fg("ok"))
            } else {
                let errs = d.errorsByType.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                    .map { "\($0.key) \(Fmt.int($0.value))" }.joined(separator: ", ")
                c.text(errs, x: ex, y: y, style: t.fg("bad"), maxWidth: si.maxX - ex)
            }
            y += 1
        }
        }

        let rows = state.partitionRows()
        ctx.box(&c, partRect, "Buffers \(rows.count)" + (state.filter.isEmpty ? "" : " (filter \(state.filter))"))
        let inner = partRect.inset(1)
        var placement = ListPlacement()
        if rows.isEmpty {
            Chrome.empty(&c, inner, "no open buffers", ctx: ctx)
        } else {
            let multi = s.deliveries.count > 1
            let wide = inner.width >= 100
            var cols: [Table.Column] = []
            if multi { cols.append(.init("delivery", width: wide ? 12 : 8)) }
            cols += [.init("partition", width: 16, flex: true), .init("bytes", width: 8, align: .right),
                     .init("fill vs size", width: 8, flex: true), .init("age", width: 6, align: .right)]
            if wide { cols.append(.init("age vs interval", width: 8, flex: true)) }
            cols += [.init("records", width: 7, align: .right), .init("flush in", width: 8, align: .right)]
            let items: [[Table.Item]] = rows.map { r in
                let fill = r.delivery.sizeHintBytes > 0 ? Double(r.buffer.fillBytes) / Double(r.delivery.sizeHintBytes) : 0
                let age = r.delivery.intervalHintMs > 0 ? Double(r.buffer.ageMs) / Double(r.delivery.intervalHintMs) : 0
                func st(_ f: Double) -> Style { f >= 1 ? t.fg("bad", .bold) : (f >= 0.75 ? t.fg("warn") : t.fg("ok")) }
                var row: [Table.Item] = multi ? [.text(r.delivery.name)] : []
                row += [.text(r.buffer.partition), .text(Fmt.bytes(r.buffer.bytes)), .bar(fill, st(fill)),
                        .text(Fmt.ms(r.buffer.ageMs))]
                if wide { row.append(.bar(age, st(age))) }
                row += [.text(Fmt.int(r.buffer.records)),
                        .text(r.buffer.msToNextFlush <= 0 ? "due" : Fmt.ms(r.buffer.msToNextFlush),
                              r.buffer.msToNextFlush <= 0 ? t.fg("warn") : nil)]
                return row
            }
            let p = multi ? 1 : 0
            let sortCol = [p, p + 2, p + 4, p + (wide ? 6 : 5)][min(3, state.partitions.sortIndex)]
            let sel = min(state.partitions.selectedIndex, rows.count - 1)
            let table = Table(columns: cols, rows: items, selected: sel, offset: state.partitions.offset, sortColumn: sortCol,
                              sortAscending: state.partitions.ascending, ascii: ctx.ascii, styles: t.table)
            let off = table.draw(in: &c, rect: inner)
            placement = ListPlacement(top: inner.y + 1, rows: inner.height - 1, offset: off, x0: inner.x, x1: inner.maxX)
        }
        OverviewPane.warehouse(&c, s.warehouse, rect: whRect, ctx: ctx)
        return placement
    }
}
