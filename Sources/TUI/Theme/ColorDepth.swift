/// How many colours the terminal can show, and how a theme colour is brought down to that.
public enum ColorDepth: Int, Sendable, Comparable {
    case mono = 0, ansi8 = 8, ansi16 = 16, xterm256 = 256, truecolor = 16_777_216

    public static func < (a: ColorDepth, b: ColorDepth) -> Bool { a.rawValue < b.rawValue }

    /// What the terminal reports: terminfo's `colors` (ncurses COLORS), `can_change_color`, and
    /// `$COLORTERM`. Truecolor needs a direct-colour terminfo (COLORS ≥ 2^24, e.g. TERM=xterm-direct):
    /// ncurses cannot send 24-bit colour through a 256-colour entry, so `COLORTERM=truecolor` alone
    /// keeps 256 colours (said in the status line so the user knows why).
    public static func detect(colors: Int, canChangeColor: Bool, colorterm: String?) -> ColorDepth {
        if colors >= 16_777_216 { return .truecolor }
        if colors >= 256 { return .xterm256 }
        if colors >= 16 { return .ansi16 }
        if colors >= 8 { return .ansi8 }
        return .mono
    }

    /// `c` as this depth can show it: rgb → nearest xterm-256 → nearest ANSI 16 → nearest 8.
    public func degrade(_ c: Color) -> Color {
        if c.isDefault { return c }
        switch self {
        case .truecolor:
            // Direct-colour terminfo (xterm-direct) sends numbers below 8 as the ANSI colours and
            // everything else as 24-bit RGB, so palette entries 8-255 must travel as their RGB and
            // an RGB value that packs below 8 (near-black blue) is nudged out of the ANSI range.
            if let i = c.paletteIndex {
                if i < 8 { return c }
                let (r, g, b) = Palette.rgb(of: i)
                return .rgb(r, g, b)
            }
            if let (r, g, b) = c.rgbComponents, r == 0, g == 0, b < 8 { return .rgb(0, 0, 8) }
            return c
        case .xterm256:
            if c.paletteIndex != nil { return c }
            let (r, g, b) = c.rgbComponents!
            return .index(Palette.nearest256(r, g, b))
        case .ansi16, .ansi8:
            let limit = self == .ansi16 ? 16 : 8
            if let i = c.paletteIndex, Int(i) < limit { return c }
            let (r, g, b) = c.rgbComponents ?? Palette.rgb(of: c.paletteIndex!)
            return .index(Palette.nearestANSI(r, g, b, count: limit))
        case .mono:
            return .default
        }
    }
}

/// The xterm palette: 16 ANSI colours (xterm's defaults), a 6×6×6 cube and 24 greys.
public enum Palette {
    public static let ansi: [(UInt8, UInt8, UInt8)] = [
        (0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205), (0, 205, 205), (229, 229, 229),
        (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0), (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255),
    ]
    static let cubeLevels: [Int] = [0, 95, 135, 175, 215, 255]

    public static func rgb(of index: UInt8) -> (UInt8, UInt8, UInt8) {
        let i = Int(index)
        if i < 16 { return ansi[i] }
        if i >= 232 { let v = UInt8(8 + (i - 232) * 10); return (v, v, v) }
        let n = i - 16
        return (UInt8(cubeLevels[n / 36]), UInt8(cubeLevels[n / 6 % 6]), UInt8(cubeLevels[n % 6]))
    }

    static func dist(_ a: (UInt8, UInt8, UInt8), _ b: (UInt8, UInt8, UInt8)) -> Int {
        // weighted for the eye's sensitivity (green > red > blue)
        let dr = Int(a.0) - Int(b.0), dg = Int(a.1) - Int(b.1), db = Int(a.2) - Int(b.2)
        return 3 * dr * dr + 4 * dg * dg + 2 * db * db
    }

    /// Nearest of the cube (16–231) and the grey ramp (232–255); the 16 ANSI slots are skipped
    /// because terminals redefine them.
    public static func nearest256(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        func level(_ v: UInt8) -> Int {
            var best = 0
            for (i, l) in cubeLevels.enumerated() where abs(l - Int(v)) < abs(cubeLevels[best] - Int(v)) { best = i }
            return best
        }
        let cube = 16 + 36 * level(r) + 6 * level(g) + level(b)
        let target = (r, g, b)
        var best = cube, bestD = dist(rgb(of: UInt8(cube)), target)
        for grey in 232...255 {
            let d = dist(rgb(of: UInt8(grey)), target)
            if d < bestD { bestD = d; best = grey }
        }
        return UInt8(best)
    }

    public static func nearestANSI(_ r: UInt8, _ g: UInt8, _ b: UInt8, count: Int = 16) -> UInt8 {
        var best = 0, bestD = Int.max
        for i in 0..<count {
            let d = dist(ansi[i], (r, g, b))
            if d < bestD { bestD = d; best = i }
        }
        return UInt8(best)
    }
}
