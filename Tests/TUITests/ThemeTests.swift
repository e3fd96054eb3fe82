import XCTest
import Foundation
@testable import TUI

final class ThemeTests: XCTestCase {
    func testParsesBtopStyleLinesIgnoresUnknownKeysAndFallsBack() throws {
        let text = """
        # a comment
        theme[main_bg]="#2E3440"
        theme[hi_fg] = "#88c0d0"
        theme[cpu_box]="#FF0000"
        theme[graph]="3"
        theme[title]=""
        not a theme line
        """
        let t = try Theme.parse(text, name: "t")
        XCTAssertEqual(t["main_bg"], .rgb(0x2E, 0x34, 0x40))
        XCTAssertEqual(t["hi_fg"], .rgb(0x88, 0xC0, 0xD0))
        XCTAssertEqual(t["graph"], .index(3))
        XCTAssertEqual(t["title"], .default)
        XCTAssertNil(t.colors["cpu_box"], "unknown key ignored")
        XCTAssertEqual(t["bad"], Theme.builtInDefault["bad"], "missing key from the built-in default")
    }

    func testUnreadableColourIsAnErrorNamingTheLine() {
        XCTAssertThrowsError(try Theme.parse("theme[main_fg]=\"#GG0000\"", name: "broken")) { e in
            XCTAssertTrue("\(e)".contains("line 1"))
            XCTAssertTrue("\(e)".contains("main_fg"))
        }
    }

    func testShippedThemeFilesMatchTheCompiledInCopies() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../themes").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".theme") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 4)
        XCTAssertEqual(files.map { String($0.dropLast(6)) }, ThemeCatalog.shipped.keys.sorted())
        for f in files {
            let text = try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8)
            XCTAssertEqual(text, ThemeCatalog.shipped[String(f.dropLast(6))]! + "\n", "\(f): run themes/gen-catalog.py")
            let t = try Theme.parse(text, name: f)
            for k in Theme.keys { XCTAssertNotNil(t.colors[k.key], "\(f) sets \(k.key)") }
        }
    }

    func testSolarized16UsesOnlyTheSixteenANSIColours() throws {
        let t = try Theme.load(named: "solarized-16", searchPaths: [])
        for (k, c) in t.colors where !c.isDefault {
            XCTAssertNotNil(c.paletteIndex, k)
            XCTAssertLessThan(Int(c.paletteIndex!), 16, k)
        }
    }

    func testMonoUsesOnlyTerminalDefaultsAndReverseForSelection() throws {
        let t = try Theme.load(named: "mono", searchPaths: [])
        XCTAssertTrue(t.colors.values.allSatisfy(\.isDefault))
        XCTAssertTrue(t.selected.attrs.contains(.reverse))
        XCTAssertTrue(t.activeTab.attrs.contains(.reverse))
    }

    func testUserThemeDirectoryWinsAndUnknownNameFails() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-themes-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "theme[main_fg]=\"#010203\"\n".write(to: dir.appendingPathComponent("nord.theme"), atomically: true, encoding: .utf8)
        let t = try Theme.load(named: "nord", searchPaths: [dir.path])
        XCTAssertEqual(t["main_fg"], .rgb(1, 2, 3))
        XCTAssertEqual(t["main_bg"], Theme.builtInDefault["main_bg"])
        XCTAssertThrowsError(try Theme.load(named: "nope", searchPaths: [dir.path]))
        XCTAssertTrue(Theme.available(searchPaths: [dir.path]).contains("solarized-16"))
    }

    func testDegradationTo256And16() {
        // exact cube and grey hits
        XCTAssertEqual(ColorDepth.xterm256.degrade(.rgb(255, 0, 0)), .index(196))
        XCTAssertEqual(ColorDepth.xterm256.degrade(.rgb(0x87, 0xAF, 0x5F)), .index(107))
        XCTAssertEqual(ColorDepth.xterm256.degrade(.rgb(0x30, 0x30, 0x30)), .index(236))
        XCTAssertEqual(ColorDepth.xterm256.degrade(.rgb(0x2E, 0x34, 0x40)), .index(236))
        // 16 colours: nearest ANSI
        XCTAssertEqual(ColorDepth.ansi16.degrade(.rgb(250, 10, 10)), .index(9))
        XCTAssertEqual(ColorDepth.ansi16.degrade(.rgb(0, 190, 0)), .index(2))
        XCTAssertEqual(ColorDepth.ansi16.degrade(.rgb(20, 20, 20)), .index(0))
        XCTAssertEqual(ColorDepth.ansi16.degrade(.index(196)), .index(9), "a 256 index goes through its RGB")
        XCTAssertEqual(ColorDepth.ansi16.degrade(.index(12)), .index(12), "ANSI indexes stay")
        XCTAssertEqual(ColorDepth.ansi8.degrade(.index(12)), .index(4))
        XCTAssertEqual(ColorDepth.mono.degrade(.rgb(1, 2, 3)), .default)
        XCTAssertEqual(ColorDepth.truecolor.degrade(.rgb(1, 2, 3)), .rgb(1, 2, 3))
        XCTAssertEqual(ColorDepth.truecolor.degrade(.index(3)), .index(3), "ANSI 0-7 stay indexes in direct colour")
        XCTAssertEqual(ColorDepth.truecolor.degrade(.index(196)), .rgb(255, 0, 0))
        XCTAssertEqual(ColorDepth.truecolor.degrade(.rgb(0, 0, 5)), .rgb(0, 0, 8), "would be read as ANSI 5")
        XCTAssertEqual(ColorDepth.xterm256.degrade(.default), .default)
        // every default-theme colour lands on a 256 index and a 16 index
        for (_, c) in Theme.builtInDefault.colors where !c.isDefault {
            XCTAssertGreaterThanOrEqual(ColorDepth.xterm256.degrade(c).paletteIndex!, 16)
            XCTAssertLessThan(ColorDepth.ansi16.degrade(c).paletteIndex!, 16)
        }
    }

    func testDepthDetection() {
        XCTAssertEqual(ColorDepth.detect(colors: 16_777_216, canChangeColor: false, colorterm: "truecolor"), .truecolor)
        XCTAssertEqual(ColorDepth.detect(colors: 256, canChangeColor: true, colorterm: "truecolor"), .xterm256)
        XCTAssertEqual(ColorDepth.detect(colors: 256, canChangeColor: false, colorterm: nil), .xterm256)
        XCTAssertEqual(ColorDepth.detect(colors: 16, canChangeColor: false, colorterm: nil), .ansi16)
        XCTAssertEqual(ColorDepth.detect(colors: 8, canChangeColor: false, colorterm: nil), .ansi8)
        XCTAssertEqual(ColorDepth.detect(colors: 0, canChangeColor: false, colorterm: nil), .mono)
    }

    func testThemeColoursReachTheCanvas() {
        let s = Fixture.state()
        let nord = try! Theme.load(named: "nord", searchPaths: [])
        let (c, _) = Frame.render(s, width: 80, height: 24, ctx: DrawContext(theme: nord))
        XCTAssertEqual(c[40, 12].style.bg, nord["main_bg"])
        XCTAssertEqual(c[0, 1].style.fg, nord["div_line"], "box border colour")
    }
}
