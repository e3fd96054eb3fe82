import Metrics

/// What every pane is drawn with besides its data: the theme and whether to stay in ASCII.
public struct DrawContext: Sendable {
    public var theme: Theme
    public var ascii: Bool
    public init(theme: Theme = .builtInDefault, ascii: Bool = false) { self.theme = theme; self.ascii = ascii }

    var ellipsis: String { ascii ? "~" : "…" }
    var sep: String { ascii ? "|" : "│" }
    var arrow: String { ascii ? ">" : "›" }

    func box(_ c: inout Canvas, _ r: Rect, _ title: String) {
        c.box(r, title: title, style: theme.border, titleStyle: theme.title, ascii: ascii)
    }
}

/// Screen furniture: the tab bar with the breadcrumb, the KPI strip, the status line.
enum Chrome {
    /// Row 0: `eddy │ 1 Overview  2 Shards  3 Delivery  4 Query │ Overview › shop-seoul   ⏸ 12:00:01`.
    /// Returns where each tab landed, for mouse clicks.
    static func tabBar(_ c: inout Canvas, state: DashboardState, ctx: DrawContext) -> [(screen: Screen, x0: Int, x1: Int)] {
        let t = ctx.theme
        c.fill(Rect(x: 0, y: 0, width: c.width, height: 1), style: t.base)
        var x = 0
        x += c.text(" eddy ", x: x, y: 0, style: t.hi)
        x += c.text(ctx.sep, x: x, y: 0, style: t.border)
        var tabs: [(screen: Screen, x0: Int, x1: Int)] = []
        for (i, s) in Screen.tabs.enumerated() {
            let label = " \(i + 1) \(s.title) "
            let active = state.screen.tabIndex == i
            let x0 = x
            x += c.text(label, x: x, y: 0, style: active ? t.activeTab : t.base)
            tabs.append((s, x0, x))
        }
        x += c.text(ctx.sep, x: x, y: 0, style: t.border)
        // right side: pause marker, node, clock
        var right = ""
        if state.paused { right += ctx.ascii ? "PAUSED " : "⏸ paused " }
        if let s = state.snapshot {
            right += (s.node.nodeId.isEmpty ? s.node.mode : s.node.nodeId) + " " + Fmt.clock(s.takenAtMs) + " "
        } else {
            right += "waiting for data "
        }
        let rw = CharWidth.of(right)
        let rightX = c.width - rw
        // breadcrumb in the middle, cut to fit
        let crumbs = (state.trail + [state.screen]).map(\.title).joined(separator: " \(ctx.arrow) ")
        let avail = rightX - x - 2
        if avail > 3 { c.text(" " + CharWidth.truncate(crumbs, to: avail, ellipsis: ctx.ellipsis), x: x, y: 0, style: t.title) }
        if rightX > x { c.text(right, x: rightX, y: 0, style: state.paused ? t.fg("warn", .bold) : t.dim) }
        return tabs
    }

    /// Bottom row: the filter or command prompt while typing, else a message, else key hints.
    static func statusLine(_ c: inout Canvas, state: DashboardState, ctx: DrawContext) {
        let y = c.height - 1
        let t = ctx.theme
        let r = Rect(x: 0, y: y, width: c.width, height: 1)
        c.fill(r, style: t.status)
        switch state.mode {
        case .filter:
            var e = state.filterEditor
            e.draw(in: &c, rect: r, style: t.status, cursorStyle: t.status.adding(.reverse), prefix: "/")
            let f = RowFilter(e.text)
            if !f.isValidRegex && !e.text.isEmpty {
                let note = " (not a regex: plain text) "
                c.text(note, x: c.width - CharWidth.of(note), y: y, style: t.status)
            }
            return
        case .command:
            var e = state.commandEditor
            e.draw(in: &c, rect: r, style: t.status, cursorStyle: t.status.adding(.reverse), prefix: ":")
            return
        case .normal: break
        }
        var left = ""
        if let m = state.message { left = " " + m }
        else if !state.filter.isEmpty { left = " filter: \(state.filter)  (Esc clears)" }
        let hints: String
        switch state.screen {
        case .query:
            hints = state.query.editing ? "Ctrl-R run  Ctrl-C cancel  F6-F10 named  Ctrl-P/N history  Esc results  ? help "
                                        : "i edit  c chart  ↑↓ scroll  Tab screens  ? help  q quit "
        case .site: hints = "m 10m/24h  Esc back  : cmd  p pause  ? help  q quit "
        default: hints = "Enter open  / filter  s sort  : cmd  p pause  ? help  q quit "
        }
        let hintText = ctx.ascii ? hints.replacingOccurrences(of: "↑↓", with: "up/down") : hints
        let hw = CharWidth.of(hintText)
        if CharWidth.of(left) + hw + 2 <= c.width {
            c.text(hintText, x: c.width - hw, y: y, style: t.status)
        }
        c.text(left, x: 0, y: y, style: t.status.adding(.bold), maxWidth: c.width)
    }

    /// KPIs as a strip of (label over value) cells; wraps onto more rows when narrow. Returns rows used.
    @discardableResult
    static func kpis(_ c: inout Canvas, _ items: [(String, String, Style?)], rect: Rect, ctx: DrawContext, cellWidth: Int = 13) -> Int {
        guard rect.width > 0 else { return 0 }
        let perRow = max(1, rect.width / cellWidth)
        let cw = rect.width / min(perRow, max(1, items.count))
        var row = 0
        for (i, item) in items.enumerated() {
            let col = i % perRow
            row = i / perRow
            let x = rect.x + col * cw
            let y = rect.y + row * 2
            guard y + 1 < rect.maxY + 1, y < rect.maxY else { break }
            c.text(CharWidth.truncate(item.0, to: cw - 1, ellipsis: ctx.ellipsis), x: x, y: y, style: ctx.theme.dim)
            if y + 1 < rect.maxY {
                c.text(CharWidth.truncate(item.1, to: cw - 1, ellipsis: ctx.ellipsis), x: x, y: y + 1, style: item.2 ?? ctx.theme.hi)
            }
        }
        return (row + 1) * 2
    }

    static func tooSmall(_ c: inout Canvas, min: (Int, Int), ctx: DrawContext) {
        let lines = ["terminal too small: \(c.width)×\(c.height)", "eddy needs at least \(min.0)×\(min.1)", "resize, or press q to quit"]
        for (i, l) in lines.enumerated() {
            let text = ctx.ascii ? l.replacingOccurrences(of: "×", with: "x") : l
            let y = c.height / 2 - 1 + i
            c.text(text, in: Rect(x: 0, y: y, width: c.width, height: 1), align: .center, style: i == 0 ? ctx.theme.fg("warn", .bold) : ctx.theme.base)
        }
    }

    /// "No data yet" inside a rect, centred.
    static func empty(_ c: inout Canvas, _ r: Rect, _ text: String, ctx: DrawContext) {
        guard r.height > 0 else { return }
        c.text(text, in: Rect(x: r.x, y: r.y + r.height / 2, width: r.width, height: 1), align: .center, style: ctx.theme.dim)
    }
}

/// Small derived figures shared by panes.
enum Derived {
    static func errorRate(_ s: NodeSnapshot) -> Double {
        let total = s.collector.eventsPerSec + s.collector.rejectsPerSec
        return total > 0 ? s.collector.rejectsPerSec / total : 0
    }
    static func activeSites(_ s: NodeSnapshot) -> Int { s.sites.filter { $0.eventsPerSec > 0 }.count }
    static func visitorsNow(_ s: NodeSnapshot) -> Int64 { s.sites.reduce(0) { $0 + $1.activeVisitors } }

    /// Consumers of one shard, by app name (stable order).
    static func consumers(of shard: String, in s: NodeSnapshot) -> [ConsumerStats] {
        s.consumers.filter { $0.shardId == shard }.sorted { $0.app < $1.app }
    }
    static func apps(_ s: NodeSnapshot) -> [String] { Array(Set(s.consumers.map(\.app))).sorted() }

    /// Share of the 128-bit hash key space a shard covers, as "12.5–25.0%". Hash keys are decimal
    /// strings up to 2^128, so Double keeps enough precision for a percentage.
    static func hashRange(_ sh: ShardStats) -> String {
        let ring = 340282366920938463463374607431768211456.0
        guard let a = Double(sh.startingHashKey), let b = Double(sh.endingHashKey) else { return "\(sh.startingHashKey)–\(sh.endingHashKey)" }
        return Fmt.fixed(a / ring * 100, 1) + "–" + Fmt.fixed((b + 1) / ring * 100, 1) + "%"
    }
}
