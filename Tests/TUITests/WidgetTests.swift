import XCTest
@testable import TUI

final class WidgetTests: XCTestCase {
    func render(_ w: Int, _ h: Int, _ body: (inout Canvas) -> Void) -> String {
        var c = Canvas(width: w, height: h)
        body(&c)
        return c.plainText()
    }

    func testHBarUsesEighthBlocksAndASCII() {
        XCTAssertEqual(render(10, 1) { HBar(fraction: 0.55).draw(in: &$0, x: 0, y: 0, width: 10) }, "█████▌")
        XCTAssertEqual(render(10, 1) { HBar(fraction: 0.55, ascii: true).draw(in: &$0, x: 0, y: 0, width: 10) }, "######")
        XCTAssertEqual(render(4, 1) { HBar(fraction: 3).draw(in: &$0, x: 0, y: 0, width: 4) }, "████")
        XCTAssertEqual(render(4, 1) { HBar(fraction: .nan).draw(in: &$0, x: 0, y: 0, width: 4) }, "")
    }

    func testSparklineScalesToMaxAndKeepsNewestRight() {
        let v: [Double] = [0, 1, 2, 3, 4, 5, 6, 7]
        XCTAssertEqual(render(8, 1) { Sparkline(values: v).draw(in: &$0, x: 0, y: 0, width: 8) }, "▁▂▃▄▅▆▇█")
        XCTAssertEqual(render(8, 1) { Sparkline(values: v, ascii: true).draw(in: &$0, x: 0, y: 0, width: 8) }, "_.-=+*#@")
        // fewer values than columns: padded on the left
        XCTAssertEqual(render(5, 1) { Sparkline(values: [7, 7]).draw(in: &$0, x: 0, y: 0, width: 5) }, "   ██")
        // more values than columns: averaged into buckets
        XCTAssertEqual(Sparkline.resample([1, 3, 5, 7], to: 2), [2, 6])
    }

    func testGaugeFillsAgainstHint() {
        let g = Gauge(label: "buf", value: 4, hint: 8, text: "4 B / 8 B", ascii: true, labelWidth: 4, textWidth: 9)
        XCTAssertEqual(render(30, 1) { g.draw(in: &$0, x: 0, y: 0, width: 30, styles: GaugeStyles()) },
                       "buf  [#######......] 4 B / 8 B")
        XCTAssertEqual(g.fraction, 0.5)
        let over = Gauge(label: "age", value: 90, hint: 60, text: "late", ascii: true, labelWidth: 4, textWidth: 4)
        XCTAssertEqual(render(20, 1) { over.draw(in: &$0, x: 0, y: 0, width: 20, styles: GaugeStyles()) },
                       "age  [########] late")
    }

    func testGaugeColourGoesOkWarnBad() {
        let styles = GaugeStyles(ok: Style(fg: .index(2)), warn: Style(fg: .index(3)), bad: Style(fg: .index(1)))
        for (v, want) in [(10.0, Color.index(2)), (80.0, .index(3)), (120.0, .index(1))] {
            var c = Canvas(width: 30, height: 1)
            Gauge(label: "", value: v, hint: 100, text: "", labelWidth: 0, textWidth: 0).draw(in: &c, x: 0, y: 0, width: 30, styles: styles)
            XCTAssertEqual(c[1, 0].style.fg, want, "value \(v)")
        }
    }

    func testBrailleLineChartGolden() {
        let series = (0..<60).map { i in 50 + 40 * sin(Double(i) / 6) }
        let text = render(40, 8) {
            LineChart(series: series, xLabels: ["-10m", "-5m", "now"]).draw(in: &$0, rect: Rect(x: 0, y: 0, width: 40, height: 8))
        }
        assertGolden(text, "linechart-braille-40x8")
        XCTAssertTrue(text.unicodeScalars.contains { $0.value >= 0x2801 && $0.value <= 0x28FF })
        let ascii = render(40, 8) {
            LineChart(series: series, xLabels: ["-10m", "now"], ascii: true).draw(in: &$0, rect: Rect(x: 0, y: 0, width: 40, height: 8))
        }
        assertGolden(ascii, "linechart-ascii-40x8")
        XCTAssertTrue(ascii.unicodeScalars.allSatisfy { $0.isASCII })
    }

    func testBrailleChartOfConstantSeriesIsAFlatLine() {
        var c = Canvas(width: 20, height: 5)
        LineChart(series: Array(repeating: 5, count: 40)).draw(in: &c, rect: c.bounds)
        // top row of the plot holds the line (value == max), and every plot column has a dot there
        let row0 = (0..<20).map { c[$0, 0].scalar }.filter { $0 >= 0x2800 && $0 <= 0x28FF }
        XCTAssertGreaterThanOrEqual(row0.count, 15)
        XCTAssertTrue(row0.allSatisfy { $0 & 0x09 == 0x09 }, "both dot columns lit in the top dot row")
    }

    func testTableAlignmentSortMarkerSelectionAndScroll() {
        let rows: [[Table.Item]] = (0..<10).map { i in [.text("site-\(i)"), .text(String(i * 100))] }
        var t = Table(columns: [.init("site", width: 8), .init("ev/s", width: 6, align: .right)],
                      rows: rows, selected: 7, offset: 0, sortColumn: 1, sortAscending: false)
        var c = Canvas(width: 15, height: 4)
        let off = t.draw(in: &c, rect: c.bounds)
        XCTAssertEqual(off, 5, "scrolled so the selected row is the last visible one")
        XCTAssertEqual(c.plainText(), "site      ev/s▼\nsite-5      500\nsite-6      60▐\nsite-7      700")
        XCTAssertTrue(c[0, 3].style.attrs.contains(.reverse), "selected row highlighted")
        XCTAssertFalse(c[0, 2].style.attrs.contains(.reverse))
        t.selected = 0
        var c2 = Canvas(width: 15, height: 4)
        XCTAssertEqual(t.draw(in: &c2, rect: c2.bounds), 0)
    }

    func testTableFlexColumnsShareSpareWidth() {
        let t = Table(columns: [.init("a", width: 2), .init("b", width: 1, flex: true), .init("c", width: 1, flex: true)], rows: [])
        XCTAssertEqual(t.layout(width: 13), [2, 5, 4])
    }

    func testTextEditorMultilineEditing() {
        var e = TextEditor("SELECT 1", multiline: true)
        _ = e.handle(.enter)
        e.insert("FROM t")
        XCTAssertEqual(e.text, "SELECT 1\nFROM t")
        _ = e.handle(.up); _ = e.handle(.end)
        _ = e.handle(.backspace)
        e.insert("2")
        XCTAssertEqual(e.text, "SELECT 2\nFROM t")
        _ = e.handle(.down); _ = e.handle(.home); _ = e.handle(.backspace)   // joins lines
        XCTAssertEqual(e.text, "SELECT 2FROM t")
        XCTAssertFalse(e.handle(.esc))
        var single = TextEditor("abc")
        XCTAssertFalse(single.handle(.enter), "single-line editor leaves Enter to its owner")
        _ = single.handle(.ctrl("u"))
        XCTAssertTrue(single.isEmpty)
    }

    func testTextEditorDrawsCursorAndScrollsLongLines() {
        var e = TextEditor("abcdefghij")
        var c = Canvas(width: 6, height: 1)
        e.draw(in: &c, rect: c.bounds, prefix: "/")
        XCTAssertEqual(c.plainText(), "/ghij")
        XCTAssertTrue(c[5, 0].style.attrs.contains(.reverse))
    }

    func testFormatting() {
        XCTAssertEqual(Fmt.si(20_100), "20.1k")
        XCTAssertEqual(Fmt.si(999), "999")
        XCTAssertEqual(Fmt.si(1_250_000), "1.3M")
        XCTAssertEqual(Fmt.si(0.5), "0.5")
        XCTAssertEqual(Fmt.bytes(4_200_000.0), "4.2 MB")
        XCTAssertEqual(Fmt.ms(45.0), "45ms")
        XCTAssertEqual(Fmt.ms(184_000.0), "3m04s")
        XCTAssertEqual(Fmt.percent(0.0012, digits: 2), "0.12%")
        XCTAssertEqual(Fmt.fixed(-0.04, 1), "0.0")
        XCTAssertEqual(Fmt.clock(1_764_115_200_000 + 3_723_000), "01:02:03")
    }
}

final class HistoryAxisTests: XCTestCase {
    func testShortHistoryStaysAtTheRightOfAFixedAxis() {
        // 300 of 600 seconds known: the right half of a 10-column sparkline is drawn, the left is empty
        var c = Canvas(width: 10, height: 1)
        Sparkline(values: Array(repeating: 5, count: 300), capacity: 600).draw(in: &c, x: 0, y: 0, width: 10)
        XCTAssertEqual(c.plainText(), "     █████")
        var chart = Canvas(width: 30, height: 5)
        LineChart(series: Array(repeating: 5, count: 300), capacity: 600).draw(in: &chart, rect: chart.bounds)
        let top = (0..<30).map { chart[$0, 0].scalar }
        let plotted = top.enumerated().filter { $0.element >= 0x2801 && $0.element <= 0x28FF }.map(\.offset)
        XCTAssertFalse(plotted.isEmpty)
        XCTAssertGreaterThan(plotted.min()!, 15, "nothing plotted in the older half")
    }
}
