import Foundation

/// Renders a query result as an aligned table (terminal column widths: East-Asian wide characters
/// and emoji take two cells, combining marks none), CSV (RFC 4180) or JSON.
public enum ResultFormat: String, Sendable, CaseIterable {
    case table, csv, json

    public func render(_ r: SQLQueryResult) -> String {
        switch self {
        case .table: return Self.table(r)
        case .csv: return Self.csv(r)
        case .json: return Self.json(r)
        }
    }

    /// Cells a string takes in a terminal.
    public static func displayWidth(_ s: String) -> Int {
        var w = 0
        for sc in s.unicodeScalars { w += scalarWidth(sc) }
        return w
    }

    static func scalarWidth(_ sc: Unicode.Scalar) -> Int {
        let v = sc.value
        if v == 0 { return 0 }
        if v < 0x20 || (v >= 0x7F && v < 0xA0) { return 0 }
        switch sc.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        if v == 0x200B || (v >= 0xFE00 && v <= 0xFE0F) { return 0 }
        if sc.properties.isEmojiPresentation { return 2 }
        if (v >= 0x1100 && v <= 0x115F) || (v >= 0x2E80 && v <= 0x303E) || (v >= 0x3041 && v <= 0x33FF)
            || (v >= 0x3400 && v <= 0x4DBF) || (v >= 0x4E00 && v <= 0x9FFF) || (v >= 0xA000 && v <= 0xA4CF)
            || (v >= 0xAC00 && v <= 0xD7A3) || (v >= 0xF900 && v <= 0xFAFF) || (v >= 0xFE30 && v <= 0xFE4F)
            || (v >= 0xFF00 && v <= 0xFF60) || (v >= 0xFFE0 && v <= 0xFFE6) || (v >= 0x20000 && v <= 0x3FFFD) {
            return 2
        }
        return 1
    }

    static func cell(_ v: SQLValue) -> String {
        // Keep one row per line: control characters show as spaces.
        String(v.description.map { $0 == "\n" || $0 == "\t" || $0 == "\r" ? " " : $0 })
    }

    static func table(_ r: SQLQueryResult) -> String {
        let cells = r.rows.map { $0.map(cell) }
        var widths = r.columns.map(displayWidth)
        for row in cells { for (i, c) in row.enumerated() { widths[i] = max(widths[i], displayWidth(c)) } }
        let numeric = r.columns.indices.map { i in
            !r.rows.isEmpty && r.rows.allSatisfy { row in
                switch row[i] { case .integer, .real, .null: return true; default: return false }
            }
        }
        func pad(_ s: String, _ i: Int) -> String {
            let fill = String(repeating: " ", count: max(0, widths[i] - displayWidth(s)))
            return numeric[i] ? fill + s : s + fill
        }
        var out = ""
        out += r.columns.enumerated().map { pad($1, $0) }.joined(separator: " │ ") + "\n"
        out += widths.map { String(repeating: "─", count: $0) }.joined(separator: "─┼─") + "\n"
        for row in cells { out += row.enumerated().map { pad($1, $0) }.joined(separator: " │ ") + "\n" }
        out += "(\(r.rows.count) row\(r.rows.count == 1 ? "" : "s")\(r.truncated ? ", truncated" : "") · \(String(format: "%.1f", r.elapsedMs)) ms)\n"
        return out
    }

    static func csv(_ r: SQLQueryResult) -> String {
        func q(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        var out = r.columns.map(q).joined(separator: ",") + "\r\n"
        for row in r.rows {
            out += row.map { v in if case .null = v { return "" } else { return q(v.description) } }.joined(separator: ",") + "\r\n"
        }
        return out
    }

    static func json(_ r: SQLQueryResult) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return (try? String(decoding: enc.encode(r), as: UTF8.self)) ?? "{}"
    }
}
