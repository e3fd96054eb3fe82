import Foundation
import Metrics

public enum Screen: Hashable, Sendable {
    case overview, shards, delivery, query
    case site(String)

    /// Top-level screens in tab order (number keys 1...4).
    public static let tabs: [Screen] = [.overview, .shards, .delivery, .query]
    public var title: String {
        switch self {
        case .overview: return "Overview"
        case .shards: return "Shards"
        case .delivery: return "Delivery"
        case .query: return "Query"
        case .site(let id): return id
        }
    }
    /// The tab a screen belongs to (a site panel lives under Overview).
    public var tabIndex: Int {
        switch self {
        case .overview, .site: return 0
        case .shards: return 1
        case .delivery: return 2
        case .query: return 3
        }
    }
}

public enum InputMode: Equatable, Sendable { case normal, filter, command }

/// What the owner of the terminal must do after a key: the state machine stays pure and the
/// loop in `Dashboard` performs these (start a task, load a file, exit).
public enum Effect: Equatable, Sendable {
    case quit
    case runQuery(String)
    case cancelQuery
    case loadTheme(String)
    case listThemes
    case setRefresh(milliseconds: Int)
}

/// Selection, scroll and sort of one list.
public struct ListState: Equatable, Sendable {
    public var selectedId: String?       // sites and shards are followed by id as their rank changes
    public var selectedIndex: Int = 0    // partitions and result rows by position
    public var offset: Int = 0
    public var sortIndex: Int = 0
    public var ascending: Bool = false
    public init() {}
}

public enum ChartRange: Sendable, Equatable { case tenMinutes, day }

public struct QueryPaneState: Equatable, Sendable {
    public var editor = TextEditor("", multiline: true)
    public var editing = true
    public var running = false
    public var startedAtMs: Int64?
    public var result: QueryResult?
    public var error: String?
    public var history: [String] = []
    public var historyIndex: Int?
    public var showChart = false
    public var rows = ListState()
    public init() {}
}

/// Where things landed on screen in the last frame, for mouse hit-testing. Written by the renderer.
public struct Layout: Equatable, Sendable {
    public var tabs: [(screen: Screen, x0: Int, x1: Int)] = []
    /// First data row of the current screen's list, how many rows are visible, and its offset.
    public var listTop: Int = 0
    public var listRows: Int = 0
    public var listOffset: Int = 0
    public var listX0: Int = 0
    public var listX1: Int = 0
    public init() {}
    public static func == (a: Layout, b: Layout) -> Bool {
        a.tabs.map(\.screen) == b.tabs.map(\.screen) && a.tabs.map(\.x0) == b.tabs.map(\.x0)
            && a.listTop == b.listTop && a.listRows == b.listRows && a.listOffset == b.listOffset
    }
}

/// Everything the dashboard shows besides the data, as one value. `handle(_:)` is the whole
/// key → behaviour story and runs without a terminal; the loop applies the returned effects.
public struct DashboardState: Sendable {
    public var screen: Screen = .overview
    /// Screens to go back to (Esc/Backspace); shown as the breadcrumb.
    public var trail: [Screen] = []
    public var mode: InputMode = .normal
    public var showHelp = false
    public var filterEditor = TextEditor()
    /// The applied filter of the current screen (regex; a leading `!` keeps rows that do NOT
    /// match). Each top-level screen keeps its own, so a site filter does not empty the shard list.
    public var filter: String {
        get { filters[screen.tabIndex] ?? "" }
        set { filters[screen.tabIndex] = newValue.isEmpty ? nil : newValue }
    }
    public private(set) var filters: [Int: String] = [:]
    /// The filter as it was when `/` was pressed, restored by Esc.
    private var filterBeforeEdit = ""
    public var commandEditor = TextEditor()
    public var message: String?
    public var paused = false
    /// The snapshot on screen, and the newest one held back while paused.
    public private(set) var snapshot: NodeSnapshot?
    public private(set) var held: NodeSnapshot?
    public var themeName = "default"
    public var refreshMs = 1000
    public var nowMs: Int64 = 0

    public var sites = ListState()
    public var shards = ListState()
    public var partitions = ListState()
    public var siteChart: ChartRange = .tenMinutes
    public var query = QueryPaneState()
    /// Max ms-behind over consumers per shard, one sample per received snapshot (oldest first).
    public private(set) var lagHistory: [String: [Double]] = [:]
    /// Splits and merges seen while watching ("HH:MM:SS shard-5 split from shard-2").
    public private(set) var reshardEvents: [String] = []
    public var layout = Layout()
    public let keymap: Keymap
    public let namedQueries: [NamedQuery]
    public static let lagHistoryLength = 600

    public init(namedQueries: [NamedQuery] = NamedQuery.defaults, keymap: Keymap? = nil) {
        self.namedQueries = namedQueries
        self.keymap = keymap ?? Keymap.standard(namedQueries: namedQueries)
        shards.ascending = true        // shards and partitions start sorted by name, A→Z
        partitions.ascending = true
    }

    // MARK: data in

    /// A new snapshot from the source. While paused it is held, not shown.
    public mutating func receive(_ s: NodeSnapshot) {
        if paused { held = s; return }
        apply(s)
    }

    private mutating func apply(_ s: NodeSnapshot) {
        let before = Set(snapshot?.shards.map(\.shardId) ?? [])
        if snapshot != nil {
            for sh in s.shards where !before.contains(sh.shardId) {
                let when = Fmt.clock(s.takenAtMs)
                if let p = sh.parentShardId, let q = sh.adjacentParentShardId {
                    reshardEvents.append("\(when) \(sh.shardId) merged from \(p) + \(q)")
                } else if let p = sh.parentShardId {
                    reshardEvents.append("\(when) \(sh.shardId) split from \(p)")
                } else {
                    reshardEvents.append("\(when) \(sh.shardId) opened")
                }
            }
            if reshardEvents.count > 50 { reshardEvents.removeFirst(reshardEvents.count - 50) }
        }
        var lagNow: [String: Double] = [:]
        for c in s.consumers { lagNow[c.shardId] = max(lagNow[c.shardId] ?? 0, Double(c.millisBehindLatest)) }
        for sh in s.shards {
            var h = lagHistory[sh.shardId] ?? []
            h.append(lagNow[sh.shardId] ?? 0)
            if h.count > DashboardState.lagHistoryLength { h.removeFirst(h.count - DashboardState.lagHistoryLength) }
            lagHistory[sh.shardId] = h
        }
        snapshot = s
    }

    public mutating func queryFinished(_ r: QueryResult) {
        query.running = false; query.result = r; query.error = nil; query.rows = ListState()
        query.editing = false
        message = "\(r.rows.count) rows in \(Fmt.ms(r.elapsedMs))"
    }
    public mutating func queryFailed(_ message: String) {
        query.running = false; query.error = message; self.message = "query failed"
    }
    public mutating func queryCancelled() {
        query.running = false; query.error = "cancelled"; message = "query cancelled"
    }

    // MARK: keys

    public mutating func handle(_ key: Key) -> [Effect] {
        if case .resize = key { return [] }
        if case .mouse(let m) = key { return handleMouse(m) }
        switch mode {
        case .filter: return handleFilterKey(key)
        case .command: return handleCommandKey(key)
        case .normal: break
        }
        if showHelp {
            showHelp = false
            return key == .char("q") ? [.quit] : []
        }
        message = nil
        if case .query = screen, query.editing {
            if let a = keymap.action(for: key, in: .query), isEditorAction(a, key) { return perform(a) }
            if key == .tab || key == .backTab { return perform(key == .tab ? .nextScreen : .prevScreen) }
            if query.editor.handle(key) { query.historyIndex = nil; return [] }
            return []
        }
        // the query pane's result table scrolls with the list keys
        let contexts: [KeyContext] = context == .query ? [.query, .lists] : [context]
        guard let action = keymap.action(for: key, in: contexts) else { return [] }
        if context == .query, [.drillIn, .filter, .sort, .reverseSort].contains(action) {
            return action == .drillIn ? perform(.editQuery) : []
        }
        return perform(action)
    }

    /// In the SQL editor only keys that cannot be text are commands (Ctrl-, F-keys, Esc).
    private func isEditorAction(_ a: Action, _ key: Key) -> Bool {
        switch key {
        case .char: return false
        case .ctrl, .f, .esc: return true
        default: return false
        }
    }

    var context: KeyContext {
        switch screen {
        case .overview, .shards, .delivery: return .lists
        case .site: return .site
        case .query: return .query
        }
    }

    mutating func perform(_ action: Action) -> [Effect] {
        switch action {
        case .quit: return [.quit]
        case .help: showHelp = true
        case .nextScreen, .prevScreen:
            let i = screen.tabIndex
            let n = Screen.tabs.count
            go(to: Screen.tabs[(i + (action == .nextScreen ? 1 : n - 1)) % n])
        case .screen(let n): go(to: Screen.tabs[max(1, min(n, Screen.tabs.count)) - 1])
        case .drillIn:
            if case .overview = screen, let id = selectedSiteId() { trail.append(screen); screen = .site(id) }
        case .back:
            if let prev = trail.popLast() { screen = prev }
            else if !filter.isEmpty { filter = ""; filterEditor = TextEditor() }
            else if screen != .overview { screen = .overview }
        case .filter:
            mode = .filter; filterEditor = TextEditor(filter); filterBeforeEdit = filter
        case .command:
            mode = .command; commandEditor = TextEditor()
        case .sort, .reverseSort: sort(reverse: action == .reverseSort)
        case .pause:
            paused.toggle()
            if !paused, let h = held { held = nil; apply(h) }
            message = paused ? "display paused (ingest continues); p to resume" : nil
        case .up: move(by: -1)
        case .down: move(by: 1)
        case .pageUp: move(by: -max(1, layout.listRows - 1))
        case .pageDown: move(by: max(1, layout.listRows - 1))
        case .top: move(by: -1_000_000)
        case .bottom: move(by: 1_000_000)
        case .toggleRange: siteChart = siteChart == .tenMinutes ? .day : .tenMinutes
        case .chart: query.showChart.toggle()
        case .runQuery: return runQuery()
        case .cancelQuery:
            if query.running { return [.cancelQuery] }
            if !query.editing { return [.quit] }
        case .historyPrev, .historyNext:
            guard !query.history.isEmpty else { break }
            let last = query.history.count - 1
            var i = query.historyIndex ?? (action == .historyPrev ? last + 1 : last)
            i += action == .historyPrev ? -1 : 1
            if i > last { query.historyIndex = nil; query.editor.setText(""); break }
            i = max(0, i)
            query.historyIndex = i
            query.editor.setText(query.history[i])
        case .editQuery: query.editing = true
        case .leaveEditor:
            if query.editing { query.editing = false } else { return perform(.back) }
        case .namedQuery(let i):
            guard i < namedQueries.count else { break }
            query.editor.setText(namedQueries[i].sql)
            query.editing = true
            message = "named query: \(namedQueries[i].name) (Ctrl-R runs it)"
        }
        return []
    }

    private mutating func go(to s: Screen) {
        trail = []
        screen = s
        if s == .query { query.editing = true }
    }

    private mutating func runQuery() -> [Effect] {
        let sql = query.editor.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !sql.isEmpty else { message = "nothing to run"; return [] }
        guard !query.running else { message = "a query is already running (Ctrl-C cancels it)"; return [] }
        if query.history.last != sql { query.history.append(sql) }
        query.historyIndex = nil
        query.running = true; query.error = nil; query.startedAtMs = nowMs
        message = "running…"
        return [.runQuery(sql)]
    }

    // MARK: filter and command line

    private mutating func handleFilterKey(_ key: Key) -> [Effect] {
        switch key {
        case .enter: mode = .normal; filter = filterEditor.text; clampSelections()
        case .esc: mode = .normal; filter = filterBeforeEdit; filterEditor = TextEditor(filter)
        default:
            _ = filterEditor.handle(key)
            filter = filterEditor.text        // live: rows narrow as you type
        }
        return []
    }

    private mutating func handleCommandKey(_ key: Key) -> [Effect] {
        switch key {
        case .enter:
            mode = .normal
            return execute(command: commandEditor.text)
        case .esc: mode = .normal
        case .backspace where commandEditor.isEmpty: mode = .normal
        default: _ = commandEditor.handle(key)
        }
        return []
    }

    /// `:site NAME`, `:theme NAME`, `:refresh 500ms`, `:sql [SELECT ...]`, `:q`, `:help`, `:pause`.
    public mutating func execute(command line: String) -> [Effect] {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        let parts = trimmed.split(separator: " ", maxSplits: 1).map(String.init)
        guard let verb = parts.first else { return [] }
        let arg = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        switch verb {
        case "q", "quit": return [.quit]
        case "help": showHelp = true
        case "pause": return perform(.pause)
        case "site":
            guard !arg.isEmpty else { message = "usage: :site NAME"; return [] }
            if let s = snapshot, !s.sites.contains(where: { $0.siteId == arg }) { message = "no data for site \(arg) yet" }
            trail = [.overview]
            sites.selectedId = arg
            screen = .site(arg)
        case "theme":
            return arg.isEmpty ? [.listThemes] : [.loadTheme(arg)]
        case "refresh":
            guard let ms = DashboardState.parseDuration(arg) else { message = "usage: :refresh 500ms | 2s"; return [] }
            let clamped = min(max(ms, 100), 60_000)
            refreshMs = clamped
            message = "refresh every \(Fmt.ms(Double(clamped)))"
            return [.setRefresh(milliseconds: clamped)]
        case "sql":
            go(to: .query)
            if !arg.isEmpty { query.editor.setText(arg); return runQuery() }
        case "sort":
            sort(reverse: false)
        default:
            message = "unknown command :\(verb) (site, theme, refresh, sql, q)"
        }
        return []
    }

    /// "500ms", "2s", "1.5s", "1m", "750" (ms).
    public static func parseDuration(_ s: String) -> Int? {
        let t = s.lowercased().trimmingCharacters(in: .whitespaces)
        func num(_ x: Substring) -> Double? { Double(x) }
        if t.hasSuffix("ms"), let v = num(t.dropLast(2)) { return Int(v) }
        if t.hasSuffix("s"), let v = num(t.dropLast()) { return Int(v * 1000) }
        if t.hasSuffix("m"), let v = num(t.dropLast()) { return Int(v * 60_000) }
        if let v = num(Substring(t)) { return Int(v) }
        return nil
    }

    // MARK: mouse

    private mutating func handleMouse(_ m: Key.Mouse) -> [Effect] {
        if showHelp { showHelp = false; return [] }
        switch m.kind {
        case .wheelUp: move(by: -3)
        case .wheelDown: move(by: 3)
        case .press:
            if let t = layout.tabs.first(where: { m.y == 0 && m.x >= $0.x0 && m.x < $0.x1 }) { go(to: t.screen); return [] }
            guard layout.listRows > 0, m.y >= layout.listTop, m.y < layout.listTop + layout.listRows,
                  m.x >= layout.listX0, m.x < layout.listX1 else { return [] }
            let idx = layout.listOffset + (m.y - layout.listTop)
            let before = currentIndex()
            guard idx < rowCount() else { return [] }
            select(index: idx)
            // a click on the row that is already selected opens it, like a double click
            if before == idx, case .overview = screen { return perform(.drillIn) }
        }
        return []
    }

    // MARK: lists

    mutating func move(by delta: Int) {
        if case .query = screen { query.rows.selectedIndex = clamp(query.rows.selectedIndex + delta, rowCount()); return }
        let n = rowCount()
        guard n > 0 else { return }
        select(index: clamp((currentIndex() ?? 0) + delta, n))
    }

    private func clamp(_ i: Int, _ n: Int) -> Int { max(0, min(i, n - 1)) }

    func rowCount() -> Int {
        switch screen {
        case .overview: return siteRows().count
        case .shards: return shardRows().count
        case .delivery: return partitionRows().count
        case .query: return query.result?.rows.count ?? 0
        case .site: return 0
        }
    }

    func currentIndex() -> Int? {
        switch screen {
        case .overview: return siteRows().firstIndex { $0.siteId == sites.selectedId } ?? (siteRows().isEmpty ? nil : 0)
        case .shards: return shardRows().firstIndex { $0.shardId == shards.selectedId } ?? (shardRows().isEmpty ? nil : 0)
        case .delivery: return partitionRows().isEmpty ? nil : min(partitions.selectedIndex, partitionRows().count - 1)
        case .query: return query.rows.selectedIndex
        case .site: return nil
        }
    }

    mutating func select(index i: Int) {
        switch screen {
        case .overview: let r = siteRows(); if i < r.count { sites.selectedId = r[i].siteId }
        case .shards: let r = shardRows(); if i < r.count { shards.selectedId = r[i].shardId }
        case .delivery: partitions.selectedIndex = i
        case .query: query.rows.selectedIndex = i
        case .site: break
        }
    }

    private mutating func clampSelections() {
        if partitions.selectedIndex >= partitionRows().count { partitions.selectedIndex = max(0, partitionRows().count - 1) }
    }

    public func selectedSiteId() -> String? {
        let rows = siteRows()
        if let id = sites.selectedId, rows.contains(where: { $0.siteId == id }) { return id }
        return rows.first?.siteId
    }

    public func selectedShardId() -> String? {
        let rows = shardRows()
        if let id = shards.selectedId, rows.contains(where: { $0.shardId == id }) { return id }
        return rows.first?.shardId
    }

    private mutating func sort(reverse: Bool) {
        func cycle(_ l: inout ListState, _ columns: [SortKey]) {
            if reverse { l.ascending.toggle(); return }
            l.sortIndex = (l.sortIndex + 1) % columns.count
            l.ascending = columns[l.sortIndex].ascendingFirst
        }
        switch screen {
        case .overview: cycle(&sites, SortKey.sites)
        case .shards: cycle(&shards, SortKey.shards)
        case .delivery: cycle(&partitions, SortKey.partitions)
        default: return
        }
        let name: String
        switch screen {
        case .overview: name = SortKey.sites[sites.sortIndex].title; message = "sort: \(name)\(sites.ascending ? " ↑" : " ↓")"
        case .shards: name = SortKey.shards[shards.sortIndex].title; message = "sort: \(name)\(shards.ascending ? " ↑" : " ↓")"
        default: name = SortKey.partitions[partitions.sortIndex].title; message = "sort: \(name)\(partitions.ascending ? " ↑" : " ↓")"
        }
    }
}

public struct SortKey: Sendable {
    public var title: String
    public var ascendingFirst: Bool
    public static let sites = [SortKey(title: "events/s", ascendingFirst: false), SortKey(title: "site", ascendingFirst: true),
                               SortKey(title: "visitors", ascendingFirst: false), SortKey(title: "pageviews/s", ascendingFirst: false),
                               SortKey(title: "events total", ascendingFirst: false)]
    public static let shards = [SortKey(title: "shard", ascendingFirst: true), SortKey(title: "records/s", ascendingFirst: false),
                                SortKey(title: "lag", ascendingFirst: false), SortKey(title: "size", ascendingFirst: false)]
    public static let partitions = [SortKey(title: "partition", ascendingFirst: true), SortKey(title: "fill", ascendingFirst: false),
                                    SortKey(title: "age", ascendingFirst: false), SortKey(title: "records", ascendingFirst: false)]
}

/// The `/` filter: a case-insensitive regex; a leading `!` keeps rows that do not match. A pattern
/// that is not a valid regex is matched as plain text, so typing `shop(` mid-word does not blank the list.
public struct RowFilter {
    let regex: NSRegularExpression?
    let literal: String
    let invert: Bool
    let isEmpty: Bool
    public init(_ pattern: String) {
        var p = pattern
        invert = p.hasPrefix("!")
        if invert { p.removeFirst() }
        isEmpty = p.isEmpty
        literal = p.lowercased()
        regex = try? NSRegularExpression(pattern: p, options: [.caseInsensitive])
    }
    public var isValidRegex: Bool { regex != nil }
    public func matches(_ s: String) -> Bool {
        if isEmpty { return true }
        let hit: Bool
        if let r = regex {
            hit = r.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
        } else {
            hit = s.lowercased().contains(literal)
        }
        return hit != invert
    }
}

extension DashboardState {
    /// Sites after filter and sort: what the leaderboard shows and what Enter opens.
    public func siteRows() -> [SiteStats] {
        guard let s = snapshot else { return [] }
        var rows = s.sites
        if !filter.isEmpty { let f = RowFilter(filter); rows = rows.filter { f.matches($0.siteId) } }
        let asc = sites.ascending
        func by<T: Comparable>(_ k: (SiteStats) -> T) {
            rows.sort { a, b in
                let x = k(a), y = k(b)
                if x == y { return a.siteId < b.siteId }
                return asc ? x < y : x > y
            }
        }
        switch sites.sortIndex {
        case 1: by { $0.siteId }
        case 2: by { $0.activeVisitors }
        case 3: by { $0.pageviewsPerSec }
        case 4: by { $0.eventsTotal }
        default: by { $0.eventsPerSec }
        }
        return rows
    }

    public func shardRows() -> [ShardStats] {
        guard let s = snapshot else { return [] }
        var rows = s.shards
        if !filter.isEmpty { let f = RowFilter(filter); rows = rows.filter { f.matches($0.shardId) } }
        var lag: [String: Int64] = [:]
        for c in s.consumers { lag[c.shardId] = max(lag[c.shardId] ?? 0, c.millisBehindLatest) }
        let asc = shards.ascending
        func by<T: Comparable>(_ k: (ShardStats) -> T) {
            rows.sort { a, b in
                let x = k(a), y = k(b)
                if x == y { return a.shardId < b.shardId }
                return asc ? x < y : x > y
            }
        }
        switch shards.sortIndex {
        case 1: by { $0.recordsPerSec }
        case 2: by { lag[$0.shardId] ?? 0 }
        case 3: by { $0.sizeBytes }
        default: by { $0.shardId }
        }
        return rows
    }

    public func partitionRows() -> [(delivery: DeliveryStats, buffer: BufferStats)] {
        guard let s = snapshot else { return [] }
        let f = filter.isEmpty ? nil : RowFilter(filter)
        var rows: [(delivery: DeliveryStats, buffer: BufferStats)] = []
        for d in s.deliveries { for b in d.buffers where f?.matches(d.name + " " + b.partition) ?? true { rows.append((d, b)) } }
        let asc = partitions.ascending
        func by<T: Comparable>(_ k: ((delivery: DeliveryStats, buffer: BufferStats)) -> T) {
            rows.sort { a, b in
                let x = k(a), y = k(b)
                if x == y { return (a.delivery.name, a.buffer.partition) < (b.delivery.name, b.buffer.partition) }
                return asc ? x < y : x > y
            }
        }
        switch partitions.sortIndex {
        case 1: by { $0.delivery.sizeHintBytes > 0 ? Double($0.buffer.fillBytes) / Double($0.delivery.sizeHintBytes) : 0 }
        case 2: by { $0.buffer.ageMs }
        case 3: by { $0.buffer.records }
        default: by { $0.delivery.name + " " + $0.buffer.partition }
        }
        return rows
    }
}
