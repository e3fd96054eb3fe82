/// A line chart in braille dots (2×4 dots per cell, so a 60×10 rect plots 120×40 points), with
/// y-axis labels on the left (max, middle, 0) and x-axis labels under it. The ASCII fallback
/// plots one `*` per column with `|` joining consecutive points.
public struct LineChart: Sendable {
    public var series: [Double]
    public var xLabels: [String]          // spread evenly under the plot, first at the left
    public var formatY: @Sendable (Double) -> String
    public var style: Style
    public var axisStyle: Style
    public var ascii: Bool

    /// `capacity`: how many points the x axis spans (600 for 10 min of seconds); a shorter series
    /// is drawn at the right end so the axis labels stay true.
    public init(series: [Double], xLabels: [String] = [], formatY: @escaping @Sendable (Double) -> String = { Fmt.si($0) },
                style: Style = .plain, axisStyle: Style = .plain, ascii: Bool = false, capacity: Int? = nil) {
        self.series = Sparkline.padded(series, to: capacity); self.xLabels = xLabels; self.formatY = formatY
        self.style = style; self.axisStyle = axisStyle; self.ascii = ascii
    }

    // dot bit for (column 0/1, row 0...3) inside a braille cell
    static let dotBits: [[UInt32]] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]]

    public func draw(in c: inout Canvas, rect: Rect) {
        guard rect.width >= 8, rect.height >= 3 else { return }
        let top = series.filter { !$0.isNaN }.max() ?? 0
        let yTop = top > 0 ? top : 1
        let labels = [formatY(yTop), formatY(yTop / 2), formatY(0)]
        let axisW = (labels.map { CharWidth.of($0) }.max() ?? 1) + 1
        let plot = Rect(x: rect.x + axisW + 1, y: rect.y, width: rect.width - axisW - 1, height: rect.height - 1)
        // y axis
        for row in 0..<plot.height {
            c.put(x: plot.x - 1, y: plot.y + row, scalar: ascii ? 0x7C : 0x2502, width: 1, style: axisStyle)
        }
        c.text(CharWidth.pad(labels[0], to: axisW - 1, right: true), x: rect.x, y: plot.y, style: axisStyle)
        if plot.height >= 3 {
            c.text(CharWidth.pad(labels[1], to: axisW - 1, right: true), x: rect.x, y: plot.y + plot.height / 2, style: axisStyle)
        }
        c.text(CharWidth.pad(labels[2], to: axisW - 1, right: true), x: rect.x, y: plot.maxY - 1, style: axisStyle)
        // x axis labels
        let ly = rect.maxY - 1
        c.put(x: plot.x - 1, y: ly, scalar: ascii ? 0x2B : 0x2514, width: 1, style: axisStyle)
        if !xLabels.isEmpty {
            let n = xLabels.count
            for (i, l) in xLabels.enumerated() {
                let lw = CharWidth.of(l)
                let pos = n == 1 ? 0 : i * (plot.width - 1) / (n - 1)
                let x = min(max(plot.x, plot.x + pos - (i == 0 ? 0 : (i == n - 1 ? lw - 1 : lw / 2))), plot.maxX - lw)
                c.text(l, x: x, y: ly, style: axisStyle)
            }
        }
        if ascii { drawASCII(in: &c, plot: plot, top: yTop) } else { drawBraille(in: &c, plot: plot, top: yTop) }
    }

    private func drawBraille(in c: inout Canvas, plot: Rect, top: Double) {
        let dotsW = plot.width * 2, dotsH = plot.height * 4
        let pts = Sparkline.resample(series, to: dotsW)
        guard !pts.isEmpty else { return }
        var grid = [UInt32](repeating: 0, count: plot.width * plot.height)
        let offset = dotsW - pts.count
        func dotRow(_ v: Double) -> Int {
            let f = v.isFinite ? min(max(v / top, 0), 1) : 0
            return dotsH - 1 - Int((f * Double(dotsH - 1)).rounded())
        }
        var prev: Int? = nil
        for (i, v) in pts.enumerated() {
            let dx = offset + i
            if v.isNaN { prev = nil; continue }
            let r = dotRow(v)
            let (lo, hi) = prev.map { (min($0, r), max($0, r)) } ?? (r, r)
            // join to the previous point with a vertical run so steep changes stay connected
            for dy in lo...hi {
                let from = prev ?? r
                // the half of the run nearer the previous point belongs to the previous column
                let col = (prev != nil && abs(dy - from) < abs(dy - r) && dx > 0) ? dx - 1 : dx
                let cell = (dy / 4) * plot.width + col / 2
                grid[cell] |= LineChart.dotBits[col % 2][dy % 4]
            }
            prev = r
        }
        for row in 0..<plot.height {
            for col in 0..<plot.width {
                let bits = grid[row * plot.width + col]
                if bits != 0 { c.put(x: plot.x + col, y: plot.y + row, scalar: 0x2800 + bits, width: 1, style: style) }
            }
        }
    }

    private func drawASCII(in c: inout Canvas, plot: Rect, top: Double) {
        let pts = Sparkline.resample(series, to: plot.width)
        let offset = plot.width - pts.count
        var prev: Int? = nil
        for (i, v) in pts.enumerated() {
            if v.isNaN { prev = nil; continue }
            let f = v.isFinite ? min(max(v / top, 0), 1) : 0
            let r = plot.height - 1 - Int((f * Double(plot.height - 1)).rounded())
            if let p = prev, abs(p - r) > 1 {
                for y in (min(p, r) + 1)..<max(p, r) { c.put(x: plot.x + offset + i, y: plot.y + y, scalar: 0x7C, width: 1, style: style) }
            }
            c.put(x: plot.x + offset + i, y: plot.y + r, scalar: 0x2A, width: 1, style: style)
            prev = r
        }
    }
}
