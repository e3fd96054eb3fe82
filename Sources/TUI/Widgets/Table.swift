/// A scrollable table with a header, right/left aligned columns, a sort marker and a selected row.
/// Cells are text, a bar or a sparkline, so the leaderboard's bars live in ordinary columns.
public struct Table: Sendable {
    public struct Column: Sendable {
        public var title: String
        /// Fixed width in columns; `flex` columns share what is left.
        public var width: Int
        public var flex: Bool
        public var align: Align
        public init(_ title: String, width: Int, align: Align = .left, flex: Bool = false) {
            self.title = title; self.width = width; self.align = align; self.flex = flex
        }
    }
    public enum Item: Sendable {
        case text(String, Style? = nil)
        case bar(Double, Style? = nil)
        case spark([Double], max: Double? = nil, capacity: Int? = nil)
    }

    public var columns: [Column]
    public var rows: [[Item]]
    public var selected: Int?
    /// First visible row; adjust with `scrolled(toShow:visible:)`.
    public var offset: Int
    public var sortColumn: Int?
    public var sortAscending: Bool
    public var ascii: Bool
    public var styles: TableStyles

    public init(columns: [Column], rows: [[Item]], selected: Int? = nil, offset: Int = 0, sortColumn: Int? = nil,
                sortAscending: Bool = false, ascii: Bool = false, styles: TableStyles = TableStyles()) {
        self.columns = columns; self.rows = rows; self.selected = selected; self.offset = offset
        self.sortColumn = sortColumn; self.sortAscending = sortAscending; self.ascii = ascii; self.styles = styles
    }

    /// The offset that keeps `selected` inside a window of `visible` rows, moving as little as possible.
    public static func scrollOffset(current: Int, selected: Int?, visible: Int, count: Int) -> Int {
        guard visible > 0 else { return 0 }
        var off = min(max(0, current), max(0, count - visible))
        if let s = selected {
            if s < off { off = s }
            if s >= off + visible { off = s - visible + 1 }
        }
        return max(0, off)
    }

    /// Resolved column widths for a total width (one space between columns).
    public func layout(width: Int) -> [Int] {
        let gaps = max(0, columns.count - 1)
        let fixed = columns.filter { !$0.flex }.reduce(0) { $0 + $1.width }
        let flexCount = columns.filter(\.flex).count
        let spare = max(0, width - gaps - fixed)
        var widths: [Int] = []
        var flexSeen = 0
        for col in columns {
            if col.flex {
                flexSeen += 1
                let share = spare / max(1, flexCount) + (flexSeen <= spare % max(1, flexCount) ? 1 : 0)
                widths.append(max(min(col.width, 3), share))
            } else { widths.append(col.width) }
        }
        // flex columns ask for at least their width; honour that only when it fits
        var total = widths.reduce(0, +) + gaps
        var i = 0
        while i < columns.count {
            if columns[i].flex && widths[i] < columns[i].width && total < width {
                let add = min(columns[i].width - widths[i], width - total)
                widths[i] += add; total += add
            }
            i += 1
        }
        return widths
    }

    /// Draws into `rect`; returns the offset actually used (so the caller can keep it in state).
    @discardableResult
    public func draw(in c: inout Canvas, rect: Rect) -> Int {
        guard rect.height >= 1, rect.width >= 1 else { return offset }
        let widths = layout(width: rect.width)
        return c.withClip(rect) { c in
            // header
            var x = rect.x
            for (i, col) in columns.enumerated() {
                var title = col.title
                if sortColumn == i { title += ascii ? (sortAscending ? "+" : "-") : (sortAscending ? "▲" : "▼") }
                c.text(title, in: Rect(x: x, y: rect.y, width: widths[i], height: 1), align: col.align, style: styles.header,
                       ellipsis: ascii ? "~" : "…")
                x += widths[i] + 1
            }
            let visible = rect.height - 1
            let off = Table.scrollOffset(current: offset, selected: selected, visible: visible, count: rows.count)
            if visible <= 0 { return off }
            for r in 0..<visible {
                let idx = off + r
                guard idx < rows.count else { break }
                let y = rect.y + 1 + r
                let isSel = idx == selected
                let base = isSel ? styles.selected : styles.row
                if isSel { c.fill(Rect(x: rect.x, y: y, width: rect.width, height: 1), style: base) }
                var x = rect.x
                for (i, item) in rows[idx].enumerated() where i < columns.count {
                    let cellRect = Rect(x: x, y: y, width: widths[i], height: 1)
                    switch item {
                    case .text(let s, let st):
                        var style = st ?? base
                        if isSel { style.bg = styles.selected.bg; style.attrs.formUnion(styles.selected.attrs) }
                        c.text(s, in: cellRect, align: columns[i].align, style: style, ellipsis: ascii ? "~" : "…")
                    case .bar(let f, let st):
                        var style = st ?? base
                        if isSel { style.bg = styles.selected.bg }
                        HBar(fraction: f, style: style, trackStyle: base, ascii: ascii).draw(in: &c, x: x, y: y, width: widths[i])
                    case .spark(let v, let m, let cap):
                        var style = styles.spark
                        if isSel { style.bg = styles.selected.bg }
                        Sparkline(values: v, maxValue: m, style: style, ascii: ascii, capacity: cap).draw(in: &c, x: x, y: y, width: widths[i])
                    }
                    x += widths[i] + 1
                }
            }
            // scroll position marker on the right edge when rows overflow
            if rows.count > visible && visible >= 2 {
                let pos = rows.count <= 1 ? 0 : (off * (visible - 1)) / max(1, rows.count - visible)
                c.put(x: rect.maxX - 1, y: rect.y + 1 + min(visible - 1, pos), scalar: ascii ? 0x23 : 0x2590, width: 1, style: styles.header)
            }
            return off
        }
    }
}

public struct TableStyles: Sendable {
    public var header: Style, row: Style, selected: Style, spark: Style
    public init(header: Style = Style(attrs: .bold), row: Style = .plain, selected: Style = Style(attrs: .reverse), spark: Style = .plain) {
        self.header = header; self.row = row; self.selected = selected; self.spark = spark
    }
}
