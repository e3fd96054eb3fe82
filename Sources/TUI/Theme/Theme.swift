import Foundation

/// A colour theme, loaded from btop-style lines `theme[key]="#RRGGBB"`.
///
/// Values: `"#RRGGBB"`, `"#RGB"`, a palette index `"0"`–`"255"` (for themes that must stay inside
/// the 16 ANSI colours), or `""` for the terminal's own default. Unknown keys are ignored (so a
/// theme written for a newer eddy still loads); missing keys come from the built-in default.
public struct Theme: Sendable, Equatable {
    public var name: String
    public var colors: [String: Color]

    /// Every key a theme may set, with what it colours. Help for theme authors and the fallback set.
    public static let keys: [(key: String, meaning: String)] = [
        ("main_bg", "background of every screen"),
        ("main_fg", "ordinary text"),
        ("title", "box titles and headers"),
        ("hi_fg", "highlighted text: hot keys, breadcrumb, KPI values"),
        ("inactive_fg", "labels, axes, dimmed rows"),
        ("div_line", "box borders and dividers"),
        ("selected_bg", "selected row background"),
        ("selected_fg", "selected row text"),
        ("tab_active_bg", "active screen tab background"),
        ("tab_active_fg", "active screen tab text"),
        ("graph", "sparklines and chart lines"),
        ("bar", "bars in tables"),
        ("meter_bg", "empty part of gauges"),
        ("ok", "healthy gauges, low lag"),
        ("warn", "filling gauges, growing lag"),
        ("bad", "full or late gauges, errors, hot shards"),
        ("status_bg", "bottom status line background"),
        ("status_fg", "bottom status line text"),
    ]

    public static let builtInDefault: Theme = try! Theme.parse(ThemeCatalog.shipped["default"]!, name: "default", base: nil)

    public subscript(_ key: String) -> Color {
        colors[key] ?? Theme.builtInDefault.colors[key] ?? .default
    }

    /// Parses theme text. Lines that are not `theme[...]=...` (comments, blanks) are skipped;
    /// a key with an unreadable value is an error that names the line, since silently showing
    /// the wrong colour is worse than refusing the theme.
    public static func parse(_ text: String, name: String, base: Theme? = Theme.builtInDefault) throws -> Theme {
        var colors = base?.colors ?? [:]
        let known = Set(keys.map(\.key))
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard line.hasPrefix("theme["), let close = line.firstIndex(of: "]") else { continue }
            let key = String(line[line.index(line.startIndex, offsetBy: 6)..<close])
            var rest = line[line.index(after: close)...].trimmingCharacters(in: .whitespaces)
            guard rest.hasPrefix("=") else { continue }
            rest = String(rest.dropFirst()).trimmingCharacters(in: .whitespaces)
            if rest.hasPrefix("\"") && rest.hasSuffix("\"") && rest.count >= 2 { rest = String(rest.dropFirst().dropLast()) }
            guard known.contains(key) else { continue }
            guard let c = parseColor(rest) else {
                throw ThemeError(message: "theme \(name) line \(n + 1): cannot read colour \"\(rest)\" for \(key) (want #RRGGBB, 0-255 or \"\")")
            }
            colors[key] = c
        }
        return Theme(name: name, colors: colors)
    }

    public static func parseColor(_ s: String) -> Color? {
        let t = s.trimmingCharacters(in: .whitespaces)
        if t.isEmpty { return .default }
        if t.hasPrefix("#") {
            let hex = Array(t.dropFirst())
            func h(_ a: ArraySlice<Character>) -> UInt8? { UInt8(String(a), radix: 16) }
            if hex.count == 6, let r = h(hex[0..<2]), let g = h(hex[2..<4]), let b = h(hex[4..<6]) { return .rgb(r, g, b) }
            if hex.count == 3, let r = h(hex[0..<1]), let g = h(hex[1..<2]), let b = h(hex[2..<3]) { return .rgb(r * 17, g * 17, b * 17) }
            return nil
        }
        if let i = Int(t), (0...255).contains(i) { return .index(UInt8(i)) }
        return nil
    }

    /// Loads `name` from the first directory holding `<name>.theme`, else from the shipped set.
    public static func load(named name: String, searchPaths: [String] = Theme.defaultSearchPaths()) throws -> Theme {
        for dir in searchPaths {
            let path = (dir as NSString).appendingPathComponent(name + ".theme")
            if let text = try? String(contentsOfFile: path, encoding: .utf8) { return try parse(text, name: name) }
        }
        if let text = ThemeCatalog.shipped[name] { return try parse(text, name: name) }
        throw ThemeError(message: "no theme named \(name) (have: \(available(searchPaths: searchPaths).joined(separator: ", ")))")
    }

    /// Names of every theme a user can pick: shipped ones plus `*.theme` files in the search paths.
    public static func available(searchPaths: [String] = Theme.defaultSearchPaths()) -> [String] {
        var names = Set(ThemeCatalog.shipped.keys)
        for dir in searchPaths {
            for f in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where f.hasSuffix(".theme") {
                names.insert(String(f.dropLast(6)))
            }
        }
        return names.sorted()
    }

    /// `$EDDY_THEMES`, `~/.config/eddy/themes`, `./themes`: user files win over the shipped copies.
    public static func defaultSearchPaths() -> [String] {
        let env = ProcessInfo.processInfo.environment
        var paths: [String] = []
        if let p = env["EDDY_THEMES"] { paths.append(p) }
        if let home = env["HOME"] { paths.append(home + "/.config/eddy/themes") }
        paths.append("themes")
        return paths
    }

    // MARK: styles the panes use

    public var base: Style { Style(fg: self["main_fg"], bg: self["main_bg"]) }
    public func fg(_ key: String, _ attrs: Attr = []) -> Style { Style(fg: self[key], bg: self["main_bg"], attrs: attrs) }
    public var title: Style { fg("title", .bold) }
    public var hi: Style { fg("hi_fg", .bold) }
    public var dim: Style { fg("inactive_fg") }
    public var border: Style { fg("div_line") }
    /// Monochrome themes leave selected_bg at the terminal default; reverse video keeps the row visible.
    public var selected: Style {
        let bg = self["selected_bg"]
        return bg.isDefault ? Style(attrs: [.reverse, .bold]) : Style(fg: self["selected_fg"], bg: bg, attrs: .bold)
    }
    public var activeTab: Style {
        let bg = self["tab_active_bg"]
        return bg.isDefault ? Style(attrs: [.reverse, .bold]) : Style(fg: self["tab_active_fg"], bg: bg, attrs: .bold)
    }
    public var status: Style {
        let bg = self["status_bg"]
        return bg.isDefault ? Style(fg: self["status_fg"], attrs: .reverse) : Style(fg: self["status_fg"], bg: bg)
    }
    public var gauge: GaugeStyles {
        GaugeStyles(label: base, track: fg("meter_bg"), ok: fg("ok"), warn: fg("warn"), bad: fg("bad", .bold))
    }
    public var table: TableStyles {
        TableStyles(header: fg("title", .bold), row: base, selected: selected, spark: fg("graph"))
    }
}

public struct ThemeError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
