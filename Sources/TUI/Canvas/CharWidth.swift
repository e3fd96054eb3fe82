/// Display width of text in terminal columns, the way wcwidth(3) counts it: combining marks and
/// format characters take 0 columns, East-Asian Wide/Fullwidth and most emoji take 2, everything
/// else 1. Kept in Swift (not wcwidth) so golden tests give the same answer under any locale.
public enum CharWidth {
    /// Ranges of East-Asian Wide (W) and Fullwidth (F) code points plus emoji presentation blocks.
    private static let wide: [ClosedRange<UInt32>] = [
        0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x23E9...0x23EC, 0x23F0...0x23F0,
        0x23F3...0x23F3, 0x25FD...0x25FE, 0x2614...0x2615, 0x2648...0x2653, 0x267F...0x267F,
        0x2693...0x2693, 0x26A1...0x26A1, 0x26AA...0x26AB, 0x26BD...0x26BE, 0x26C4...0x26C5,
        0x26CE...0x26CE, 0x26D4...0x26D4, 0x26EA...0x26EA, 0x26F2...0x26F3, 0x26F5...0x26F5,
        0x26FA...0x26FA, 0x26FD...0x26FD, 0x2705...0x2705, 0x270A...0x270B, 0x2728...0x2728,
        0x274C...0x274C, 0x274E...0x274E, 0x2753...0x2755, 0x2757...0x2757, 0x2795...0x2797,
        0x27B0...0x27B0, 0x27BF...0x27BF, 0x2B1B...0x2B1C, 0x2B50...0x2B50, 0x2B55...0x2B55,
        0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
        0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F,
        0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x16FE0...0x16FE4, 0x17000...0x18CFF, 0x1B000...0x1B2FF,
        0x1F004...0x1F004, 0x1F0CF...0x1F0CF, 0x1F18E...0x1F18E, 0x1F191...0x1F19A,
        0x1F200...0x1F251, 0x1F300...0x1F320, 0x1F32D...0x1F335, 0x1F337...0x1F37C,
        0x1F37E...0x1F393, 0x1F3A0...0x1F3CA, 0x1F3CF...0x1F3D3, 0x1F3E0...0x1F3F0,
        0x1F3F4...0x1F3F4, 0x1F3F8...0x1F43E, 0x1F440...0x1F440, 0x1F442...0x1F4FC,
        0x1F4FF...0x1F53D, 0x1F54B...0x1F54E, 0x1F550...0x1F567, 0x1F57A...0x1F57A,
        0x1F595...0x1F596, 0x1F5A4...0x1F5A4, 0x1F5FB...0x1F64F, 0x1F680...0x1F6C5,
        0x1F6CC...0x1F6CC, 0x1F6D0...0x1F6D2, 0x1F6D5...0x1F6D7, 0x1F6EB...0x1F6EC,
        0x1F6F4...0x1F6FC, 0x1F7E0...0x1F7EB, 0x1F90C...0x1F93A, 0x1F93C...0x1F945,
        0x1F947...0x1F9FF, 0x1FA70...0x1FAFF, 0x20000...0x2FFFD, 0x30000...0x3FFFD,
    ]

    public static func of(scalar v: UInt32) -> Int {
        if v < 0x7F { return v >= 0x20 ? 1 : 0 }
        if v < 0xA0 { return 0 }                       // C1 controls
        if v < 0x300 { return 1 }                       // Latin-1 and friends: fast path
        if isZeroWidth(v) { return 0 }
        if v < 0x1100 { return 1 }
        // binary search over the sorted wide ranges
        var lo = 0, hi = wide.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            let r = wide[mid]
            if v < r.lowerBound { hi = mid - 1 } else if v > r.upperBound { lo = mid + 1 } else { return 2 }
        }
        return 1
    }

    static func isZeroWidth(_ v: UInt32) -> Bool {
        switch v {
        case 0x0300...0x036F, 0x0483...0x0489, 0x0591...0x05BD, 0x0610...0x061A, 0x064B...0x065F,
             0x0E31, 0x0E34...0x0E3A, 0x0E47...0x0E4E, 0x1AB0...0x1AFF, 0x1DC0...0x1DFF,
             0x200B...0x200F, 0x2028...0x202E, 0x2060...0x2064, 0x20D0...0x20FF, 0xFE00...0xFE0F,
             0xFE20...0xFE2F, 0xFEFF, 0x1F3FB...0x1F3FF, 0xE0000...0xE0FFF:
            return true
        case 0x1160...0x11FF:                          // Hangul medial vowels / final consonants
            return true
        default:
            guard let s = Unicode.Scalar(v) else { return true }
            switch s.properties.generalCategory {
            case .nonspacingMark, .enclosingMark, .format: return true
            default: return false
            }
        }
    }

    /// Width of one grapheme cluster: the width of its widest scalar (0 only for pure marks).
    public static func of(_ ch: Character) -> Int {
        var w = 0
        for s in ch.unicodeScalars { w = max(w, of(scalar: s.value)) }
        return min(w, 2)
    }

    public static func of(_ s: String) -> Int {
        var ascii = 0
        var allASCII = true
        for b in s.utf8 {
            if b >= 0x80 { allASCII = false; break }
            if b >= 0x20 && b < 0x7F { ascii += 1 }
        }
        if allASCII { return ascii }
        var total = 0
        for ch in s {
            if ch.isASCII { total += (ch.asciiValue! >= 0x20 && ch.asciiValue! < 0x7F) ? 1 : 0 } else { total += of(ch) }
        }
        return total
    }

    /// `s` cut to at most `width` columns; appends `ellipsis` when something was cut.
    public static func truncate(_ s: String, to width: Int, ellipsis: String = "…") -> String {
        if width <= 0 { return "" }
        if s.utf8.count <= width && s.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return s }
        if of(s) <= width { return s }
        let ew = of(ellipsis)
        var out = ""; var used = 0
        for ch in s {
            let w = of(ch)
            if used + w > width - ew { break }
            out.append(ch); used += w
        }
        return out + (ew <= width ? ellipsis : "")
    }

    /// `s` padded or truncated to exactly `width` columns.
    public static func pad(_ s: String, to width: Int, right: Bool = false, ellipsis: String = "…") -> String {
        let t = truncate(s, to: width, ellipsis: ellipsis)
        let gap = width - of(t)
        if gap <= 0 { return t }
        let pad = String(repeating: " ", count: gap)
        return right ? pad + t : t + pad
    }
}
