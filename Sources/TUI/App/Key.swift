/// A key or mouse event as the state machine sees it, decoupled from ncurses key codes so the
/// keymap and every transition can be tested without a terminal.
public enum Key: Hashable, Sendable {
    case char(Character)
    case ctrl(Character)        // lower-case letter: .ctrl("c")
    case enter, esc, backspace, delete, tab, backTab
    case up, down, left, right, pageUp, pageDown, home, end
    case f(Int)
    case resize(width: Int, height: Int)
    case mouse(Mouse)

    public struct Mouse: Hashable, Sendable {
        public enum Kind: Hashable, Sendable { case press, wheelUp, wheelDown }
        public var kind: Kind
        public var x: Int
        public var y: Int
        public init(_ kind: Kind, x: Int, y: Int) { self.kind = kind; self.x = x; self.y = y }
    }

    /// How the key is written in help and the status line.
    public var label: String {
        switch self {
        case .char(" "): return "Space"
        case .char(let c): return String(c)
        case .ctrl(let c): return "Ctrl-" + String(c).uppercased()
        case .enter: return "Enter"
        case .esc: return "Esc"
        case .backspace: return "Backspace"
        case .delete: return "Del"
        case .tab: return "Tab"
        case .backTab: return "Shift-Tab"
        case .up: return "↑"
        case .down: return "↓"
        case .left: return "←"
        case .right: return "→"
        case .pageUp: return "PgUp"
        case .pageDown: return "PgDn"
        case .home: return "Home"
        case .end: return "End"
        case .f(let n): return "F\(n)"
        case .resize: return "resize"
        case .mouse: return "mouse"
        }
    }
}
