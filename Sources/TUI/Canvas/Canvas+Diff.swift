/// A horizontal stretch of cells that changed between two frames: what the terminal layer writes.
public struct CellRun: Equatable, Sendable {
    public var x: Int
    public var y: Int
    public var cells: [Cell]
    /// Text of the multi-scalar clusters in `cells`, by position in the run (usually empty).
    public var clusters: [Int: String]
    public init(x: Int, y: Int, cells: [Cell], clusters: [Int: String] = [:]) {
        self.x = x; self.y = y; self.cells = cells; self.clusters = clusters
    }
    /// Columns covered on screen (continuation cells included).
    public var columns: Int { cells.count }
    /// What to print for the cell at `i` of the run.
    public func glyph(_ i: Int) -> String {
        let c = cells[i]
        if c.width == 0 { return "" }
        if c.cluster != 0 { return clusters[i] ?? " " }
        return String(Character(Unicode.Scalar(c.scalar) ?? " "))
    }
}

extension Canvas {
    /// Minimal runs that turn `old` into `new`: only changed cells, grouped into maximal runs of
    /// adjacent changes on one row. A wide glyph travels with its continuation cell, so a run never
    /// starts or ends in the middle of one. With no `old` (first frame) or a resize, every row is
    /// one run.
    public static func diff(old: Canvas?, new: Canvas) -> [CellRun] {
        guard let old, old.width == new.width, old.height == new.height else {
            return (0..<new.height).map { y in new.run(y: y, from: 0, to: new.width) }
        }
        var runs: [CellRun] = []
        let w = new.width
        let anyClusters = !old.clusters.isEmpty || !new.clusters.isEmpty
        old.cells.withUnsafeBufferPointer { o in
            new.cells.withUnsafeBufferPointer { n in
                @inline(__always) func same(_ i: Int) -> Bool {
                    anyClusters ? Canvas.same(o[i], old, n[i], new) : o[i] == n[i]
                }
                for y in 0..<new.height {
                    let base = y * w
                    var x = 0
                    while x < w {
                        if same(base + x) { x += 1; continue }
                        var start = x
                        // a changed continuation cell pulls in its lead glyph
                        if n[base + start].width == 0 && start > 0 { start -= 1 }
                        var end = x + 1
                        while end < w && !same(base + end) { end += 1 }
                        // a wide glyph at the end needs its continuation written with it
                        if end < w && n[base + end - 1].width == 2 { end += 1 }
                        if let last = runs.last, last.y == y, last.x + last.cells.count > start {
                            start = last.x + last.cells.count
                        }
                        if end > start { runs.append(new.run(y: y, from: start, to: end)) }
                        x = end
                    }
                }
            }
        }
        return runs
    }

    func run(y: Int, from: Int, to: Int) -> CellRun {
        let slice = Array(cells[y * width + from..<y * width + to])
        var extra: [Int: String] = [:]
        if !clusters.isEmpty {
            for (i, c) in slice.enumerated() where c.cluster != 0 { extra[i] = clusters[Int(c.cluster) - 1] }
        }
        return CellRun(x: from, y: y, cells: slice, clusters: extra)
    }
}
