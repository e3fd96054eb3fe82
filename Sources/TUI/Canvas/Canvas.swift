/// A pure frame buffer: a grid of cells that panes and widgets draw into. It knows nothing of
/// ncurses; the terminal layer receives `Canvas.diff(old:new:)` runs and writes only those.
/// Every drawing call is clipped to `clip`, so a widget cannot scribble outside the rect it was given.
public struct Canvas: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public private(set) var cells: [Cell]
    /// Drawing outside this rect is dropped. Set with `withClip`.
    public private(set) var clip: Rect
    /// Multi-scalar graphemes drawn in this frame; cells refer to them by index + 1.
    public private(set) var clusters: [String] = []

    public init(width: Int, height: Int, fill: Cell = .blank) {
        self.width = max(0, width); self.height = max(0, height)
        self.cells = Array(repeating: fill, count: self.width * self.height)
        self.clip = Rect(x: 0, y: 0, width: self.width, height: self.height)
    }

    public var bounds: Rect { Rect(x: 0, y: 0, width: width, height: height) }

    public subscript(x: Int, y: Int) -> Cell {
        get { (x >= 0 && y >= 0 && x < width && y < height) ? cells[y * width + x] : .blank }
    }

    /// Runs `body` with drawing restricted to `rect` (intersected with the current clip).
    @discardableResult
    public mutating func withClip<T>(_ rect: Rect, _ body: (inout Canvas) -> T) -> T {
        let saved = clip
        clip = clip.intersection(rect)
        defer { clip = saved }
        return body(&self)
    }

    @inline(__always) private func inClip(_ x: Int, _ y: Int) -> Bool {
        x >= clip.x && x < clip.maxX && y >= clip.y && y < clip.maxY
    }

    /// Writes one cell, keeping wide characters whole: overwriting either half of a wide glyph
    /// blanks the other half, and a wide glyph that would straddle the clip edge becomes a space.
    public mutating func put(x: Int, y: Int, scalar: UInt32, width w: Int, style: Style, cluster clusterText: String? = nil) {
        guard inClip(x, y) else { return }
        var cluster: UInt32 = 0
        if let t = clusterText { clusters.append(t); cluster = UInt32(clusters.count) }
        let i = y * width + x
        // Break up any wide glyph we are about to overwrite.
        if cells[i].width == 0, x > 0 { cells[i - 1] = Cell(scalar: 0x20, width: 1, style: cells[i - 1].style) }
        if cells[i].width == 2, x + 1 < width { cells[i + 1] = Cell(scalar: 0x20, width: 1, style: cells[i + 1].style) }
        if w == 2 {
            guard inClip(x + 1, y) else { cells[i] = Cell(scalar: 0x20, width: 1, style: style); return }
            if cells[i + 1].width == 2, x + 2 < width {
                cells[i + 2] = Cell(scalar: 0x20, width: 1, style: cells[i + 2].style)
            }
            cells[i] = Cell(scalar: scalar, width: 2, style: style, cluster: cluster)
            cells[i + 1] = Cell(scalar: 0, width: 0, style: style)
        } else {
            cells[i] = Cell(scalar: scalar, width: 1, style: style, cluster: cluster)
        }
    }

    /// Sets a cell verbatim, with no wide-glyph bookkeeping (what a terminal does with a diff run).
    mutating func setRaw(x: Int, y: Int, _ cell: Cell, cluster text: String? = nil) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        var c = cell
        if let t = text { clusters.append(t); c.cluster = UInt32(clusters.count) } else { c.cluster = 0 }
        cells[y * width + x] = c
    }

    /// What the terminal prints for a cell: its cluster text or its scalar ("" for a continuation).
    public func glyph(of cell: Cell) -> String {
        if cell.width == 0 { return "" }
        if cell.cluster != 0 { return clusters[Int(cell.cluster) - 1] }
        return String(Character(Unicode.Scalar(cell.scalar) ?? " "))
    }
    public func glyph(_ x: Int, _ y: Int) -> String { glyph(of: self[x, y]) }

    /// Same content and style, comparing cluster text rather than table indexes.
    @inline(__always)
    static func same(_ a: Cell, _ ao: Canvas, _ b: Cell, _ bo: Canvas) -> Bool {
        if a.cluster == 0 && b.cluster == 0 { return a == b }
        guard a.scalar == b.scalar, a.width == b.width, a.style == b.style else { return false }
        return ao.glyph(of: a) == bo.glyph(of: b)
    }

    /// Content equality (what is on screen), independent of cluster table order.
    public func sameContent(as o: Canvas) -> Bool {
        guard width == o.width, height == o.height else { return false }
        for i in 0..<cells.count where !Canvas.same(cells[i], self, o.cells[i], o) { return false }
        return true
    }

    /// Draws `text` from (x, y) on one line, at most `maxWidth` columns (default: to the clip edge).
    /// Returns the number of columns used. Control characters are shown as `?`.
    @discardableResult
    public mutating func text(_ text: String, x: Int, y: Int, style: Style = .plain, maxWidth: Int? = nil) -> Int {
        guard y >= clip.y && y < clip.maxY else { return 0 }
        let limit = x + (maxWidth ?? (clip.maxX - x))
        var cx = x
        // Fast path: pure ASCII needs no grapheme breaking.
        var allASCII = true
        for b in text.utf8 where b >= 0x80 { allASCII = false; break }
        if allASCII {
            for b in text.utf8 {
                if cx >= limit { break }
                put(x: cx, y: y, scalar: (b < 0x20 || b == 0x7F) ? 0x3F : UInt32(b), width: 1, style: style)
                cx += 1
            }
            return cx - x
        }
        for ch in text {
            let scalars = ch.unicodeScalars
            var w = CharWidth.of(ch)
            let first = scalars.first!.value
            if w == 0 {
                if first < 0x20 || (first >= 0x7F && first < 0xA0) { w = 1 } else { continue }
                if cx >= limit { break }
                put(x: cx, y: y, scalar: 0x3F, width: 1, style: style); cx += 1; continue
            }
            if cx + w > limit {
                if w == 2 && cx < limit { put(x: cx, y: y, scalar: 0x20, width: 1, style: style); cx += 1 }
                break
            }
            let cluster: String? = scalars.count > 1 ? String(ch) : nil
            put(x: cx, y: y, scalar: first, width: w, style: style, cluster: cluster)
            cx += w
        }
        return cx - x
    }

    /// Text aligned inside a field of `width` columns (truncated with an ellipsis when too long).
    @discardableResult
    public mutating func text(_ s: String, in rect: Rect, align: Align = .left, style: Style = .plain,
                              ellipsis: String = "…") -> Int {
        guard rect.width > 0, rect.height > 0 else { return 0 }
        let t = CharWidth.truncate(s, to: rect.width, ellipsis: ellipsis)
        let tw = CharWidth.of(t)
        let x: Int
        switch align {
        case .left: x = rect.x
        case .right: x = rect.maxX - tw
        case .center: x = rect.x + (rect.width - tw) / 2
        }
        return withClip(rect) { $0.text(t, x: x, y: rect.y, style: style, maxWidth: rect.width) }
    }

    public mutating func fill(_ rect: Rect, char: Character = " ", style: Style = .plain) {
        let r = rect.intersection(clip)
        guard !r.isEmpty else { return }
        let v = char.unicodeScalars.first!.value
        let w = max(1, CharWidth.of(char))
        for y in r.y..<r.maxY {
            var x = r.x
            while x < r.maxX { put(x: x, y: y, scalar: v, width: w, style: style); x += w }
        }
    }

    /// Changes the style of cells already drawn (e.g. a selection highlight over a table row).
    public mutating func restyle(_ rect: Rect, _ transform: (Style) -> Style) {
        let r = rect.intersection(clip)
        guard !r.isEmpty else { return }
        for y in r.y..<r.maxY { for x in r.x..<r.maxX { cells[y * width + x].style = transform(cells[y * width + x].style) } }
    }

    /// A box border around `rect` with an optional title in the top edge.
    public mutating func box(_ rect: Rect, title: String? = nil, style: Style = .plain, titleStyle: Style? = nil,
                             ascii: Bool = false) {
        guard rect.width >= 2, rect.height >= 2 else { return }
        let g: [UInt32] = ascii ? [0x2B, 0x2B, 0x2B, 0x2B, 0x2D, 0x7C] : [0x256D, 0x256E, 0x2570, 0x256F, 0x2500, 0x2502]
        for x in rect.x + 1..<rect.maxX - 1 {
            put(x: x, y: rect.y, scalar: g[4], width: 1, style: style)
            put(x: x, y: rect.maxY - 1, scalar: g[4], width: 1, style: style)
        }
        for y in rect.y + 1..<rect.maxY - 1 {
            put(x: rect.x, y: y, scalar: g[5], width: 1, style: style)
            put(x: rect.maxX - 1, y: y, scalar: g[5], width: 1, style: style)
        }
        put(x: rect.x, y: rect.y, scalar: g[0], width: 1, style: style)
        put(x: rect.maxX - 1, y: rect.y, scalar: g[1], width: 1, style: style)
        put(x: rect.x, y: rect.maxY - 1, scalar: g[2], width: 1, style: style)
        put(x: rect.maxX - 1, y: rect.maxY - 1, scalar: g[3], width: 1, style: style)
        if let title, rect.width > 4 {
            let t = CharWidth.truncate(" " + title + " ", to: rect.width - 4, ellipsis: ascii ? "~" : "…")
            text(t, x: rect.x + 2, y: rect.y, style: titleStyle ?? style, maxWidth: rect.width - 4)
        }
    }

    public mutating func hline(x: Int, y: Int, width w: Int, style: Style = .plain, ascii: Bool = false) {
        for i in 0..<max(0, w) { put(x: x + i, y: y, scalar: ascii ? 0x2D : 0x2500, width: 1, style: style) }
    }

    /// The frame as text, one line per row, trailing spaces trimmed: what golden tests compare.
    public func plainText() -> String {
        var lines: [String] = []
        lines.reserveCapacity(height)
        for y in 0..<height {
            var line = ""
            for x in 0..<width {
                let c = cells[y * width + x]
                if c.width == 0 { continue }
                line += glyph(of: c)
            }
            while line.hasSuffix(" ") { line.removeLast() }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}

public enum Align: Sendable { case left, right, center }
