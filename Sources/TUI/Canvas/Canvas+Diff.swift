/// A horizontal stretch of cells that changed between two frames: what the terminal layer writes.
public struct CellRun: Equatable, Sendable {
    public var x: Int
    public var y: Int
    public var cells: [Cell]
    public init(x: Int, y: Int, cells: [Cell]) { self.x = x; self.y = y; self.cells = cells }
    /// Columns covered on screen (continuation cells included).
    public var columns: Int { cells.count }
}

extension Canvas {
    /// Minimal runs that turn `old` into `new`: only changed cells, grouped into maximal runs of
    /// adjacent changes on one row. A wide glyph travels with its continuation cell, so a run never
    /// starts or ends in the middle of one. With no `old` (first frame) or a resize, every row is
    /// one run.
    public static func diff(old: Canvas?, new: Canvas) -> [CellRun] {
        guard let old, old.width == new.width, old.height == new.height else {
            return (0..<new.height).map { y in
                CellRun(x: 0, y: y, cells: Array(new.cells[y * new.width..<(y + 1) * new.width]))
            }
        }
        var runs: [CellRun] = []
        let w = new.width
        old.cells.withUnsafeBufferPointer { o in
            new.cells.withUnsafeBufferPointer { n in
                for y in 0..<new.height {
                    let base = y * w
                    var x = 0
                    while x < w {
                        if o[base + x] == n[base + x] { x += 1; continue }
                        var start = x
                        // a changed continuation cell pulls in its lead glyph
                        if n[base + start].width == 0 && start > 0 { start -= 1 }
                        var end = x + 1
                        while end < w && o[base + end] != n[base + end] { end += 1 }
                        // a wide glyph at the end needs its continuation written with it
                        if end < w && n[base + end - 1].width == 2 { end += 1 }
                        if let last = runs.last, last.y == y, last.x + last.cells.count > start {
                            start = last.x + last.cells.count
                        }
                        if end > start { runs.append(CellRun(x: start, y: y, cells: Array(n[base + start..<base + end]))) }
                        x = end
                    }
                }
            }
        }
        return runs
    }
}
