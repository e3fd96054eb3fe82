import XCTest
@testable import TUI

final class CanvasTests: XCTestCase {
    func testTextIsClippedToCanvasAndClipRect() {
        var c = Canvas(width: 10, height: 2)
        c.text("hello world", x: 2, y: 0)
        c.withClip(Rect(x: 0, y: 1, width: 4, height: 1)) { $0.text("abcdefgh", x: 1, y: 1) }
        XCTAssertEqual(c.plainText(), "  hello wo\n abc")
    }

    func testWideCharactersTakeTwoColumns() {
        XCTAssertEqual(CharWidth.of("漢字"), 4)
        XCTAssertEqual(CharWidth.of("한국"), 4)
        XCTAssertEqual(CharWidth.of("e\u{301}"), 1)          // e + combining acute
        XCTAssertEqual(CharWidth.of("a\u{200B}b"), 2)          // zero-width space
        XCTAssertEqual(CharWidth.of("🚀"), 2)
        XCTAssertEqual(CharWidth.of("▁█⣿"), 3)
        var c = Canvas(width: 6, height: 1)
        let used = c.text("漢字x", x: 0, y: 0)
        XCTAssertEqual(used, 5)
        XCTAssertEqual(c[0, 0].width, 2)
        XCTAssertTrue(c[1, 0].isContinuation)
        XCTAssertEqual(c.glyph(4, 0), "x")
        XCTAssertEqual(c.plainText(), "漢字x")
    }

    func testWideCharacterThatDoesNotFitBecomesSpace() {
        var c = Canvas(width: 3, height: 1)
        c.text("ab漢", x: 0, y: 0)
        XCTAssertEqual(c.glyph(2, 0), " ")
        XCTAssertEqual(c.plainText(), "ab")
    }

    func testOverwritingHalfAWideCharBlanksTheOtherHalf() {
        var c = Canvas(width: 4, height: 1)
        c.text("漢字", x: 0, y: 0)
        c.text("x", x: 1, y: 0)           // lands on the continuation of 漢
        XCTAssertEqual(c.plainText(), " x字")
        c.text("y", x: 2, y: 0)           // lands on the lead of 字
        XCTAssertEqual(c.plainText(), " xy")
        XCTAssertEqual(c[3, 0].width, 1)
    }

    func testCombiningMarkStaysWithItsBase() {
        var c = Canvas(width: 4, height: 1)
        c.text("e\u{301}x", x: 0, y: 0)
        XCTAssertEqual(c.glyph(0, 0), "e\u{301}")
        XCTAssertEqual(c.glyph(1, 0), "x")
    }

    func testTruncateAndPadCountColumnsNotCharacters() {
        XCTAssertEqual(CharWidth.truncate("漢字漢字", to: 5), "漢字…")
        XCTAssertEqual(CharWidth.pad("漢", to: 4), "漢  ")
        XCTAssertEqual(CharWidth.pad("ab", to: 4, right: true), "  ab")
    }

    func testBoxWithTitleAndASCIIFallback() {
        var c = Canvas(width: 12, height: 3)
        c.box(c.bounds, title: "Shards")
        XCTAssertEqual(c.plainText(), "╭─ Shards ─╮\n│          │\n╰──────────╯")
        var a = Canvas(width: 12, height: 3)
        a.box(a.bounds, title: "Shards", ascii: true)
        XCTAssertEqual(a.plainText(), "+- Shards -+\n|          |\n+----------+")
    }

    func testDiffOfIdenticalFramesIsEmpty() {
        var a = Canvas(width: 20, height: 5)
        a.text("same", x: 1, y: 1)
        XCTAssertEqual(Canvas.diff(old: a, new: a), [])
    }

    func testDiffContainsOnlyChangedCells() {
        var a = Canvas(width: 20, height: 3)
        a.text("events 100 ok", x: 0, y: 1)
        var b = a
        b.text("events 175 ok", x: 0, y: 1)
        b.put(x: 19, y: 2, scalar: 0x2A, width: 1, style: .plain)
        let runs = Canvas.diff(old: a, new: b)
        XCTAssertEqual(runs.count, 2)
        XCTAssertEqual(runs[0].x, 8); XCTAssertEqual(runs[0].y, 1)
        XCTAssertEqual(runs[0].cells.map(\.text).joined(), "75")
        XCTAssertEqual(runs[1].x, 19); XCTAssertEqual(runs[1].y, 2)
        // applying the runs to the old frame yields the new one
        XCTAssertTrue(apply(runs, to: a).sameContent(as: b))
    }

    func testDiffSeesStyleOnlyChanges() {
        var a = Canvas(width: 5, height: 1)
        a.text("abc", x: 0, y: 0)
        var b = Canvas(width: 5, height: 1)
        b.text("abc", x: 0, y: 0)
        b.restyle(Rect(x: 1, y: 0, width: 1, height: 1)) { $0.adding(.bold) }
        let runs = Canvas.diff(old: a, new: b)
        XCTAssertEqual(runs, [CellRun(x: 1, y: 0, cells: [b[1, 0]])])
    }

    func testDiffComparesClusterTextNotTableIndex() {
        var a = Canvas(width: 4, height: 1)
        a.text("e\u{301}", x: 0, y: 0)
        var b = Canvas(width: 4, height: 1)
        b.text("e\u{300}", x: 0, y: 0)          // same base scalar, same table index, other mark
        let runs = Canvas.diff(old: a, new: b)
        XCTAssertEqual(runs.count, 1)
        XCTAssertEqual(runs[0].glyph(0), "e\u{300}")
        XCTAssertEqual(Canvas.diff(old: b, new: b), [])
    }

    func testDiffKeepsWideGlyphWhole() {
        var a = Canvas(width: 6, height: 1)
        a.text("ab漢d", x: 0, y: 0)
        var b = a
        b.text("字", x: 2, y: 0)
        let runs = Canvas.diff(old: a, new: b)
        XCTAssertEqual(runs.count, 1)
        XCTAssertEqual(runs[0].x, 2)
        XCTAssertEqual(runs[0].cells.count, 2)
        XCTAssertTrue(apply(runs, to: a).sameContent(as: b))
    }

    func testDiffAfterResizeRepaintsEverything() {
        let a = Canvas(width: 4, height: 2)
        let b = Canvas(width: 5, height: 2)
        let runs = Canvas.diff(old: a, new: b)
        XCTAssertEqual(runs.count, 2)
        XCTAssertEqual(runs.map(\.cells.count), [5, 5])
    }

    func testRandomEditsRoundTripThroughDiff() {
        var rng = SplitMix(seed: 7)
        var a = Canvas(width: 30, height: 8)
        for _ in 0..<200 {
            var b = a
            for _ in 0..<Int(rng.next() % 6) {
                let x = Int(rng.next() % 30), y = Int(rng.next() % 8)
                let choices = ["x", "漢", "⣿", "ab", "é", "e\u{301}", "n\u{303}"]
                b.text(choices[Int(rng.next() % 7)], x: x, y: y,
                       style: Style(fg: .index(UInt8(rng.next() % 16))))
            }
            let runs = Canvas.diff(old: a, new: b)
            XCTAssertTrue(apply(runs, to: a).sameContent(as: b))
            let changed = (0..<a.cells.count).filter { !Canvas.same(a.cells[$0], a, b.cells[$0], b) }.count
            XCTAssertGreaterThanOrEqual(runs.reduce(0) { $0 + $1.cells.count }, changed)
            XCTAssertLessThanOrEqual(runs.reduce(0) { $0 + $1.cells.count }, changed + 2 * runs.count)
            a = b
        }
    }
}

/// What a terminal does with the runs: overwrite cells in place.
func apply(_ runs: [CellRun], to canvas: Canvas) -> Canvas {
    var out = canvas
    for r in runs {
        for (i, cell) in r.cells.enumerated() {
            out.setRaw(x: r.x + i, y: r.y, cell, cluster: cell.cluster != 0 ? r.clusters[i] : nil)
        }
    }
    return out
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}
