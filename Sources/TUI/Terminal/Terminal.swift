import CNcurses
import Foundation

/// The only code that touches ncurses. Owned by one thread (the dashboard's UI thread): it turns
/// diff runs into curses writes and curses input into `Key`s. `close()` (also run by deinit) calls
/// endwin, so the terminal is restored on every path out, errors included.
final class Terminal {
    private var screen: OpaquePointer?
    private(set) var depth: ColorDepth = .mono
    private var pairs: [UInt64: Int32] = [:]
    private var nextPair: Int32 = 1
    private var maxPairs: Int32 = 0
    private var closed = false
    /// Why the colour depth is what it is, for the status line on start.
    private(set) var colorNote: String?

    init(mouse: Bool) throws {
        guard let scr = eddy_newterm() else {
            throw DashboardError(message: "cannot start the terminal (TERM=\(ProcessInfo.processInfo.environment["TERM"] ?? "unset") unknown to terminfo?)")
        }
        screen = scr
        raw()                      // Ctrl-C arrives as a key (cancels a query) instead of killing us mid-frame
        noecho()
        nonl()
        keypad(eddy_stdscr(), true)
        set_escdelay(25)
        curs_set(0)
        if has_colors() {
            start_color()
            use_default_colors()
            let colorterm = ProcessInfo.processInfo.environment["COLORTERM"]
            depth = ColorDepth.detect(colors: Int(eddy_colors()), canChangeColor: can_change_color(), colorterm: colorterm)
            maxPairs = eddy_color_pairs()
            if depth < .truecolor, let ct = colorterm, ct == "truecolor" || ct == "24bit" {
                colorNote = "COLORTERM=\(ct) but terminfo has \(eddy_colors()) colours: using \(depth.rawValue) (TERM=xterm-direct for 24-bit)"
            }
        }
        if mouse { mousemask(eddy_mouse_mask(), nil); mouseinterval(0) }
    }

    deinit { close() }

    func close() {
        guard !closed else { return }
        closed = true
        curs_set(1)
        endwin()
        if let s = screen { delscreen(s) }
        screen = nil
    }

    var size: (width: Int, height: Int) { (Int(eddy_cols()), Int(eddy_lines())) }

    /// Waits up to `timeoutMs` for input. nil on timeout.
    func readKey(timeoutMs: Int32) -> Key? {
        wtimeout(eddy_stdscr(), timeoutMs)
        var ch: wint_t = 0
        let r = wget_wch(eddy_stdscr(), &ch)
        if r == ERR { return nil }
        if r == KEY_CODE_YES { return functionKey(Int32(ch)) }
        switch ch {
        case 9: return .tab
        case 10, 13: return .enter
        case 27: return .esc
        case 127, 8: return .backspace
        case 1...26: return .ctrl(Character(Unicode.Scalar(UInt8(ch) + 96)))
        default:
            guard let u = Unicode.Scalar(UInt32(ch)) else { return nil }
            return .char(Character(u))
        }
    }

    private func functionKey(_ k: Int32) -> Key? {
        switch k {
        case KEY_UP: return .up
        case KEY_DOWN: return .down
        case KEY_LEFT: return .left
        case KEY_RIGHT: return .right
        case KEY_PPAGE: return .pageUp
        case KEY_NPAGE: return .pageDown
        case KEY_HOME: return .home
        case KEY_END: return .end
        case KEY_DC: return .delete
        case KEY_BACKSPACE: return .backspace
        case KEY_ENTER: return .enter
        case KEY_BTAB: return .backTab
        case KEY_RESIZE: return .resize(width: size.width, height: size.height)
        case KEY_MOUSE:
            var ev = MEVENT()
            guard getmouse(&ev) == OK else { return nil }
            switch eddy_mouse_kind(ev.bstate) {
            case 1: return .mouse(.init(.press, x: Int(ev.x), y: Int(ev.y)))
            case 2: return .mouse(.init(.wheelUp, x: Int(ev.x), y: Int(ev.y)))
            case 3: return .mouse(.init(.wheelDown, x: Int(ev.x), y: Int(ev.y)))
            default: return nil
            }
        default:
            for n in 1...12 where k == eddy_key_f(Int32(n)) { return .f(n) }
            return nil
        }
    }

    /// Writes the changed runs and flushes once: one terminal write per frame.
    func write(_ runs: [CellRun]) {
        let scr = eddy_stdscr()
        for run in runs {
            wmove(scr, Int32(run.y), Int32(run.x))
            var text = ""
            var style: Style? = nil
            for (i, cell) in run.cells.enumerated() {
                if cell.width == 0 { continue }
                if cell.style != style {
                    if let s = style, !text.isEmpty { put(text, s) }
                    text = ""
                    style = cell.style
                }
                if cell.cluster != 0 || cell.width == 2 {
                    // the C library may count this glyph's width differently from CharWidth:
                    // write it alone and put the cursor where our grid says the next cell is
                    if let s = style, !text.isEmpty { put(text, s) }
                    put(run.glyph(i), cell.style)
                    text = ""
                    wmove(scr, Int32(run.y), Int32(run.x + i + Int(cell.width)))
                } else {
                    text.unicodeScalars.append(Unicode.Scalar(cell.scalar) ?? " ")
                }
            }
            if let s = style, !text.isEmpty { put(text, s) }
        }
        wnoutrefresh(scr)
        doupdate()
    }

    /// Forget what is on screen (after a resize the next frame repaints everything).
    func invalidate() {
        clearok(eddy_stdscr(), true)
    }

    private func put(_ text: String, _ style: Style) {
        var bits = UInt32(style.attrs.rawValue)
        var pair: Int32 = 0
        if depth == .mono {
            // without colour, a coloured background would vanish: keep highlights as reverse video
            if !style.bg.isDefault { bits |= 8 }
        } else {
            pair = pairFor(fg: depth.degrade(style.fg), bg: depth.degrade(style.bg))
        }
        _ = eddy_set_style(eddy_attrs(bits), pair)
        _ = text.withCString { waddnstr(eddy_stdscr(), $0, -1) }
    }

    private func number(_ c: Color) -> Int32 {
        if c.isDefault { return -1 }
        if let i = c.paletteIndex { return Int32(i) }
        let (r, g, b) = c.rgbComponents!
        return Int32(r) << 16 | Int32(g) << 8 | Int32(b)
    }

    private func pairFor(fg: Color, bg: Color) -> Int32 {
        if fg.isDefault && bg.isDefault { return 0 }
        let key = UInt64(fg.raw) << 32 | UInt64(bg.raw)
        if let p = pairs[key] { return p }
        guard nextPair < maxPairs else { return 0 }
        let p = nextPair
        nextPair += 1
        init_extended_pair(p, number(fg), number(bg))
        pairs[key] = p
        return p
    }
}

public struct DashboardError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

enum TerminalEnvironment {
    static func isTTY() -> Bool { isatty(0) == 1 && isatty(1) == 1 }

    /// Sets the locale from the environment and tells whether it is UTF-8 (else: ASCII fallback).
    static func setLocaleIsUTF8() -> Bool {
        setlocale(LC_ALL, "")
        guard let cs = eddy_codeset() else { return false }
        let name = String(cString: cs).uppercased()
        return name == "UTF-8" || name == "UTF8"
    }
}
