/// What a key does. The state machine dispatches on these, and the help overlay is generated
/// from the same table, so help cannot drift from behaviour.
public enum Action: Hashable, Sendable {
    case nextScreen, prevScreen, screen(Int)
    case drillIn, back
    case filter, command, sort, reverseSort, pause, quit, help
    case up, down, pageUp, pageDown, top, bottom
    case toggleRange            // site chart: 10 min per second ↔ 24 h per minute
    case chart                  // query: table ↔ bar chart of the result
    case runQuery, cancelQuery, historyPrev, historyNext, editQuery, leaveEditor
    case namedQuery(Int)
}

public enum KeyContext: String, Sendable, CaseIterable {
    case global = "Everywhere"
    case lists = "Lists (overview, shards, delivery)"
    case site = "Site panel"
    case query = "Query pane"
}

public struct Binding: Sendable {
    public var keys: [Key]
    public var action: Action
    public var help: String
    public var context: KeyContext
    public init(_ keys: [Key], _ action: Action, _ help: String, _ context: KeyContext) {
        self.keys = keys; self.action = action; self.help = help; self.context = context
    }
}

public struct Keymap: Sendable {
    public var bindings: [Binding]
    public init(bindings: [Binding]) { self.bindings = bindings }

    public static func standard(namedQueries: [NamedQuery] = NamedQuery.defaults) -> Keymap {
        var b: [Binding] = [
            Binding([.tab], .nextScreen, "next screen", .global),
            Binding([.backTab], .prevScreen, "previous screen", .global),
            Binding([.char("1")], .screen(1), "Overview", .global),
            Binding([.char("2")], .screen(2), "Shards", .global),
            Binding([.char("3")], .screen(3), "Delivery", .global),
            Binding([.char("4")], .screen(4), "Query", .global),
            Binding([.enter], .drillIn, "open the selected site", .lists),
            Binding([.esc, .backspace], .back, "back (breadcrumb)", .global),
            Binding([.char("/")], .filter, "filter rows (regex; leading ! inverts)", .lists),
            Binding([.char(":")], .command, "command (:site :theme :refresh :sql :q)", .global),
            Binding([.char("s")], .sort, "sort by next column", .lists),
            Binding([.char("S")], .reverseSort, "reverse sort order", .lists),
            Binding([.char("p")], .pause, "pause the display (ingest continues)", .global),
            Binding([.char("?"), .f(1)], .help, "this help", .global),
            Binding([.char("q"), .ctrl("c")], .quit, "quit", .global),
            Binding([.up, .char("k")], .up, "move up", .lists),
            Binding([.down, .char("j")], .down, "move down", .lists),
            Binding([.pageUp], .pageUp, "page up", .lists),
            Binding([.pageDown], .pageDown, "page down", .lists),
            Binding([.home, .char("g")], .top, "first row", .lists),
            Binding([.end, .char("G")], .bottom, "last row", .lists),
            Binding([.char("m")], .toggleRange, "chart: last 10 min ↔ last 24 h", .site),
            Binding([.ctrl("r"), .f(5)], .runQuery, "run the query", .query),
            Binding([.ctrl("c")], .cancelQuery, "cancel the running query", .query),
            Binding([.ctrl("p")], .historyPrev, "previous query in history", .query),
            Binding([.ctrl("n")], .historyNext, "next query in history", .query),
            Binding([.ctrl("g"), .char("c")], .chart, "chart result (bar by first 2 columns)", .query),
            Binding([.char("i")], .editQuery, "edit the query (results focus)", .query),
            Binding([.esc], .leaveEditor, "leave the editor to scroll results", .query),
        ]
        // F6... so that F1 (help) and F5 (run) keep their usual meaning
        for (i, q) in namedQueries.prefix(7).enumerated() {
            b.append(Binding([.f(i + 6)], .namedQuery(i), "named query: \(q.name)", .query))
        }
        return Keymap(bindings: b)
    }

    /// The action bound to `key` in `context`, falling back to a global binding.
    public func action(for key: Key, in context: KeyContext) -> Action? {
        action(for: key, in: [context])
    }

    /// The first binding of `key` among `contexts` in order, then the global one.
    public func action(for key: Key, in contexts: [KeyContext]) -> Action? {
        for ctx in contexts + [.global] {
            if let b = bindings.first(where: { $0.context == ctx && $0.keys.contains(key) }) { return b.action }
        }
        return nil
    }

    /// Lines of the help overlay, grouped by context: ("keys", "what it does").
    public func helpSections() -> [(title: String, rows: [(keys: String, help: String)])] {
        KeyContext.allCases.compactMap { ctx in
            let rows = bindings.filter { $0.context == ctx }.map { b in
                (keys: b.keys.map(\.label).joined(separator: " "), help: b.help)
            }
            return rows.isEmpty ? nil : (title: ctx.rawValue, rows: rows)
        }
    }
}
