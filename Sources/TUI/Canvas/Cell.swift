/// A colour as a pane asks for it. The terminal layer decides how much of it the terminal can show
/// (see `ColorDepth`); the canvas only stores it. Packed in one word so comparing two frames is cheap.
public struct Color: Hashable, Sendable, CustomStringConvertible {
    public let raw: UInt32
    private static let tagDefault: UInt32 = 0
    private static let tagIndex: UInt32 = 1 << 24
    private static let tagRGB: UInt32 = 2 << 24

    /// The terminal's own foreground or background.
    public static let `default` = Color(raw: 0)
    /// One of the terminal palette colours (0–15 ANSI, 16–255 xterm cube and greys).
    public static func index(_ i: UInt8) -> Color { Color(raw: tagIndex | UInt32(i)) }
    public static func rgb(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> Color {
        Color(raw: tagRGB | UInt32(r) << 16 | UInt32(g) << 8 | UInt32(b))
    }
    public init(raw: UInt32) { self.raw = raw }

    public var isDefault: Bool { raw == 0 }
    public var paletteIndex: UInt8? { raw & 0xFF00_0000 == Color.tagIndex ? UInt8(raw & 0xFF) : nil }
    public var rgbComponents: (r: UInt8, g: UInt8, b: UInt8)? {
        guard raw & 0xFF00_0000 == Color.tagRGB else { return nil }
        return (UInt8(raw >> 16 & 0xFF), UInt8(raw >> 8 & 0xFF), UInt8(raw & 0xFF))
    }
    public var description: String {
        if isDefault { return "default" }
        if let i = paletteIndex { return "\(i)" }
        let c = rgbComponents!
        return "#" + [c.r, c.g, c.b].map { h in
            let s = String(h, radix: 16, uppercase: true); return s.count == 1 ? "0" + s : s
        }.joined()
    }
}

public struct Attr: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let bold = Attr(rawValue: 1)
    public static let dim = Attr(rawValue: 2)
    public static let underline = Attr(rawValue: 4)
    public static let reverse = Attr(rawValue: 8)
    public static let italic = Attr(rawValue: 16)
}

public struct Style: Hashable, Sendable {
    public var fg: Color
    public var bg: Color
    public var attrs: Attr
    public init(fg: Color = .default, bg: Color = .default, attrs: Attr = []) {
        self.fg = fg; self.bg = bg; self.attrs = attrs
    }
    public static let plain = Style()
    public func with(fg: Color) -> Style { var s = self; s.fg = fg; return s }
    public func with(bg: Color) -> Style { var s = self; s.bg = bg; return s }
    public func adding(_ a: Attr) -> Style { var s = self; s.attrs.formUnion(a); return s }
}

/// One terminal cell. A wide (East-Asian, emoji) grapheme occupies its cell with `width == 2` and
/// the cell to its right with `width == 0` (a continuation the terminal layer never writes).
/// Single-scalar graphemes (nearly all of them) live in `scalar`. A multi-scalar cluster (base +
/// combining marks, ZWJ emoji) is kept in its canvas's side table and `cluster` holds its index + 1,
/// so a cell is plain data: copying and comparing frames never touches the heap.
public struct Cell: Equatable, Sendable {
    public var scalar: UInt32
    public var width: UInt8
    public var style: Style
    /// 0: none; else 1 + index into the owning canvas's `clusters`.
    public var cluster: UInt32

    public static let blank = Cell(scalar: 0x20, width: 1, style: .plain)
    public init(scalar: UInt32, width: UInt8, style: Style, cluster: UInt32 = 0) {
        self.scalar = scalar; self.width = width; self.style = style; self.cluster = cluster
    }
    public var isContinuation: Bool { width == 0 }
    /// The cell's base character ("" for a continuation). For clusters use `Canvas.glyph(x:y:)`.
    public var text: String {
        if width == 0 { return "" }
        return String(Character(Unicode.Scalar(scalar) ?? " "))
    }
}

public struct Rect: Equatable, Sendable {
    public var x: Int, y: Int, width: Int, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = max(0, width); self.height = max(0, height)
    }
    public var maxX: Int { x + width }
    public var maxY: Int { y + height }
    public var isEmpty: Bool { width <= 0 || height <= 0 }
    public func intersection(_ o: Rect) -> Rect {
        let x0 = max(x, o.x), y0 = max(y, o.y), x1 = min(maxX, o.maxX), y1 = min(maxY, o.maxY)
        return Rect(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }
    /// The rect less `n` cells on every side (the inside of a box when n == 1).
    public func inset(_ n: Int) -> Rect { Rect(x: x + n, y: y + n, width: width - 2 * n, height: height - 2 * n) }
    public func contains(x px: Int, y py: Int) -> Bool { px >= x && px < maxX && py >= y && py < maxY }
    /// Splits off the top `h` rows: (top, rest).
    public func splitTop(_ h: Int) -> (Rect, Rect) {
        let hh = min(max(0, h), height)
        return (Rect(x: x, y: y, width: width, height: hh), Rect(x: x, y: y + hh, width: width, height: height - hh))
    }
    /// Splits off the left `w` columns: (left, rest).
    public func splitLeft(_ w: Int) -> (Rect, Rect) {
        let ww = min(max(0, w), width)
        return (Rect(x: x, y: y, width: ww, height: height), Rect(x: x + ww, y: y, width: width - ww, height: height))
    }
}
