/// Editable text: one line (filter, command prompt) or many (the SQL editor). Pure value type;
/// `handle` returns whether it consumed the key so the owner can route the rest.
public struct TextEditor: Sendable, Equatable {
    public private(set) var lines: [[Character]]
    public private(set) var row: Int
    public private(set) var col: Int
    public var multiline: Bool
    /// First visible line when the editor is taller than its rect.
    public private(set) var scroll: Int = 0

    public init(_ text: String = "", multiline: Bool = false) {
        self.multiline = multiline
        let ls = multiline ? text.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0) } : [Array(text.filter { $0 != "\n" })]
        self.lines = ls.isEmpty ? [[]] : ls
        self.row = lines.count - 1
        self.col = lines[row].count
    }

    public var text: String { lines.map { String($0) }.joined(separator: "\n") }
    public var isEmpty: Bool { lines.count == 1 && lines[0].isEmpty }

    public mutating func setText(_ s: String) { self = TextEditor(s, multiline: multiline) }

    public mutating func insert(_ ch: Character) {
        if ch == "\n" { newline(); return }
        lines[row].insert(ch, at: col); col += 1
    }
    public mutating func insert(_ s: String) { for ch in s { insert(ch) } }

    mutating func newline() {
        guard multiline else { return }
        let rest = Array(lines[row][col...])
        lines[row].removeSubrange(col...)
        lines.insert(rest, at: row + 1)
        row += 1; col = 0
    }

    /// Applies an editing key. Returns false for keys an editor does not use (Esc, Tab, F-keys...).
    public mutating func handle(_ key: Key) -> Bool {
        switch key {
        case .char(let c): insert(c)
        case .enter: guard multiline else { return false }; newline()
        case .backspace:
            if col > 0 { lines[row].remove(at: col - 1); col -= 1 } else if row > 0 {
                let cur = lines.remove(at: row); row -= 1; col = lines[row].count; lines[row].append(contentsOf: cur)
            }
        case .delete:
            if col < lines[row].count { lines[row].remove(at: col) } else if row + 1 < lines.count {
                let next = lines.remove(at: row + 1); lines[row].append(contentsOf: next)
            }
        case .left:
            if col > 0 { col -= 1 } else if row > 0 { row -= 1; col = lines[row].count }
        case .right:
            if col < lines[row].count { col += 1 } else if row + 1 < lines.count { row += 1; col = 0 }
        case .up:
            guard multiline, row > 0 else { return multiline }
            row -= 1; col = min(col, lines[row].count)
        case .down:
            guard multiline, row + 1 < lines.count else { return multiline }
            row += 1; col = min(col, lines[row].count)
        case .home, .ctrl("a"): col = 0
        case .end, .ctrl("e"): col = lines[row].count
        case .ctrl("u"): lines[row].removeSubrange(0..<col); col = 0
        case .ctrl("k"): lines[row].removeSubrange(col...)
        default: return false
        }
        return true
    }

    /// Draws the visible lines in `rect`; the cursor cell is shown reversed when `focused`.
    /// Horizontal scrolling keeps the cursor visible on long lines.
    public mutating func draw(in c: inout Canvas, rect: Rect, style: Style = .plain, cursorStyle: Style = Style(attrs: .reverse),
                              focused: Bool = true, prefix: String = "") {
        guard rect.width > 0, rect.height > 0 else { return }
        if row < scroll { scroll = row }
        if row >= scroll + rect.height { scroll = row - rect.height + 1 }
        let pw = CharWidth.of(prefix)
        c.withClip(rect) { c in
            for i in 0..<rect.height {
                let li = scroll + i
                guard li < lines.count else { break }
                let y = rect.y + i
                var x = rect.x
                if !prefix.isEmpty { c.text(i == 0 && scroll == 0 ? prefix : String(repeating: " ", count: pw), x: x, y: y, style: style); x += pw }
                let avail = rect.width - pw
                let line = lines[li]
                // horizontal scroll: ensure cursor column fits
                var start = 0
                if li == row {
                    var w = 0
                    for j in stride(from: col - 1, through: 0, by: -1) {
                        w += max(1, CharWidth.of(line[j]))
                        if w >= avail { start = j + 1; break }
                    }
                }
                var cx = x
                for j in start..<line.count {
                    let ch = line[j]
                    let w = max(1, CharWidth.of(ch))
                    if cx + w > rect.maxX { break }
                    let st = (focused && li == row && j == col) ? cursorStyle : style
                    c.text(String(ch), x: cx, y: y, style: st)
                    cx += w
                }
                if focused && li == row && col >= line.count && cx < rect.maxX {
                    c.put(x: cx, y: y, scalar: 0x20, width: 1, style: cursorStyle)
                }
            }
        }
    }
}
