/// Query: SQL editor on top, a status line (running / rows / time / bytes scanned / price), and
/// the result as a scrollable table or a bar chart of the first two columns.
enum QueryPane {
    static func draw(_ c: inout Canvas, state: DashboardState, rect: Rect, ctx: DrawContext) -> ListPlacement {
        let t = ctx.theme
        let q = state.query
        let edH = max(4, min(10, rect.height / 3))
        let (edRect, rest) = rect.splitTop(edH)
        let names = state.namedQueries.prefix(5).enumerated().map { "F\($0.offset + 6) \($0.element.name)" }.joined(separator: "  ")
        ctx.box(&c, edRect, "SQL" + (q.editing ? " (editing)" : " (i to edit)") + "  " + names)
        var editor = q.editor
        editor.draw(in: &c, rect: edRect.inset(1), style: t.base, cursorStyle: Style(attrs: .reverse), focused: q.editing)
        if q.editor.isEmpty && !q.editing {
            c.text("type SQL, or press a named-query key", x: edRect.x + 2, y: edRect.y + 1, style: t.dim)
        }

        // status row
        let (statusRect, resRect) = rest.splitTop(1)
        var x = statusRect.x + 1
        if q.running {
            let el = q.startedAtMs.map { Double(state.nowMs - $0) } ?? 0
            x += c.text("running " + Fmt.ms(max(0, el)) + "  (Ctrl-C cancels)", x: x, y: statusRect.y, style: t.fg("warn", .bold))
        } else if let e = q.error {
            c.text("error: " + e, x: x, y: statusRect.y, style: t.fg("bad", .bold), maxWidth: statusRect.width - 2)
        } else if let r = q.result {
            x += c.text("\(r.rows.count) rows", x: x, y: statusRect.y, style: t.hi)
            x += c.text("  in " + Fmt.ms(r.elapsedMs), x: x, y: statusRect.y, style: t.base)
            if let b = r.bytesScanned { x += c.text("  scanned " + Fmt.bytes(b), x: x, y: statusRect.y, style: t.base) }
            if let p = r.priceUSD { x += c.text("  ≈ $" + Fmt.fixed(p, p < 0.01 ? 6 : 4), x: x, y: statusRect.y, style: t.base) }
        } else {
            c.text("no query run yet", x: x, y: statusRect.y, style: t.dim)
        }

        guard let r = q.result, !r.columns.isEmpty else {
            ctx.box(&c, resRect, "Result")
            Chrome.empty(&c, resRect.inset(1), "Ctrl-R or F5 runs the query", ctx: ctx)
            return ListPlacement()
        }
        if q.showChart { chart(&c, r, rect: resRect, ctx: ctx); return ListPlacement() }
        ctx.box(&c, resRect, "Result (c: chart)")
        let inner = resRect.inset(1)
        // column widths from the content (header and the first 200 rows), capped
        let sample = r.rows.prefix(200)
        var widths = r.columns.map { CharWidth.of($0) }
        var numeric = Array(repeating: true, count: r.columns.count)
        for row in sample {
            for (i, v) in row.enumerated() where i < widths.count {
                widths[i] = max(widths[i], min(40, CharWidth.of(v)))
                if Double(v) == nil && !v.isEmpty { numeric[i] = false }
            }
        }
        let cols = r.columns.enumerated().map { i, name in
            Table.Column(name, width: max(3, widths[i]), align: numeric[i] ? .right : .left)
        }
        let items: [[Table.Item]] = r.rows.map { $0.map { .text($0) } }
        let table = Table(columns: cols, rows: items, selected: q.editing ? nil : q.rows.selectedIndex,
                          offset: q.rows.offset, ascii: ctx.ascii, styles: t.table)
        // keep the selection's scroll even without a highlighted row
        var tt = table
        if q.editing { tt.offset = Table.scrollOffset(current: q.rows.offset, selected: q.rows.selectedIndex, visible: inner.height - 1, count: r.rows.count) }
        let off = tt.draw(in: &c, rect: inner)
        return ListPlacement(top: inner.y + 1, rows: inner.height - 1, offset: off, x0: inner.x, x1: inner.maxX)
    }

    /// Bars of the second column (or the first numeric one) labelled by the first column.
    static func chart(_ c: inout Canvas, _ r: QueryResult, rect: Rect, ctx: DrawContext) {
        let t = ctx.theme
        let valueCol = r.columns.indices.dropFirst().first { i in r.rows.contains { Double($0.count > i ? $0[i] : "") != nil } }
        ctx.box(&c, rect, "Chart: \(r.columns.first ?? "") by \(valueCol.map { r.columns[$0] } ?? "-") (c: table)")
        let inner = rect.inset(1)
        guard let vc = valueCol else { Chrome.empty(&c, inner, "no numeric column to chart", ctx: ctx); return }
        let pairs = r.rows.prefix(inner.height).map { ($0.first ?? "", Double($0.count > vc ? $0[vc] : "") ?? 0) }
        let top = pairs.map(\.1).max() ?? 1
        let labelW = min(max(4, pairs.map { CharWidth.of($0.0) }.max() ?? 4), inner.width / 3)
        let numW = 8
        let barW = max(0, inner.width - labelW - numW - 2)
        for (i, p) in pairs.enumerated() {
            let y = inner.y + i
            c.text(CharWidth.pad(p.0, to: labelW, ellipsis: ctx.ellipsis), x: inner.x, y: y, style: t.base)
            HBar(fraction: top > 0 ? p.1 / top : 0, style: t.fg("bar"), ascii: ctx.ascii).draw(in: &c, x: inner.x + labelW + 1, y: y, width: barW)
            c.text(CharWidth.pad(Fmt.si(p.1), to: numW, right: true), x: inner.maxX - numW, y: y, style: t.hi)
        }
    }
}

/// The help overlay: every binding of the keymap, grouped by where it applies.
enum HelpOverlay {
    static func lines(_ keymap: Keymap, ascii: Bool) -> [(String, Bool)] {
        var out: [(String, Bool)] = []
        for sec in keymap.helpSections() {
            out.append((sec.title, true))
            for row in sec.rows {
                let keys = ascii ? asciiKeys(row.keys) : row.keys
                out.append((" " + CharWidth.pad(keys, to: 14) + " " + (ascii ? asciiKeys(row.help) : row.help), false))
            }
        }
        return out
    }

    static func asciiKeys(_ s: String) -> String {
        s.replacingOccurrences(of: "↑", with: "Up").replacingOccurrences(of: "↓", with: "Down")
            .replacingOccurrences(of: "←", with: "Left").replacingOccurrences(of: "→", with: "Right")
            .replacingOccurrences(of: "↔", with: "<->")
    }

    static func draw(_ c: inout Canvas, keymap: Keymap, ctx: DrawContext) {
        let all = lines(keymap, ascii: ctx.ascii)
        // two columns when the list is taller than the screen
        // the overlay covers the whole body (between tab bar and status line) so no pane border
        // shows through; two columns when the list is taller than that
        let r = Rect(x: 0, y: 1, width: c.width, height: c.height - 2)
        let maxRows = r.height - 2
        let columns = all.count > maxRows ? 2 : 1
        let perCol = (all.count + columns - 1) / columns
        let colW = (r.width - 2) / columns
        let h = r.height
        c.fill(r, style: ctx.theme.base)
        ctx.box(&c, r, "Keys (any key closes)")
        for (i, l) in all.enumerated() {
            let col = i / perCol, row = i % perCol
            guard row < h - 2 else { continue }
            c.text(CharWidth.truncate(l.0, to: colW - 1, ellipsis: ctx.ellipsis), x: r.x + 1 + col * colW, y: r.y + 1 + row,
                   style: l.1 ? ctx.theme.title : ctx.theme.base)
        }
    }
}
