/// Horizontal bar: `fraction` of `width` filled, with eighth-block precision (ASCII: `#`).
public struct HBar: Sendable {
    public var fraction: Double
    public var style: Style
    public var trackStyle: Style
    public var ascii: Bool
    public var showTrack: Bool
    public init(fraction: Double, style: Style = .plain, trackStyle: Style = .plain, ascii: Bool = false, showTrack: Bool = false) {
        self.fraction = fraction; self.style = style; self.trackStyle = trackStyle; self.ascii = ascii; self.showTrack = showTrack
    }

    static let eighths: [UInt32] = [0x20, 0x258F, 0x258E, 0x258D, 0x258C, 0x258B, 0x258A, 0x2589, 0x2588]

    public func draw(in c: inout Canvas, x: Int, y: Int, width: Int) {
        guard width > 0 else { return }
        let f = fraction.isFinite ? min(max(fraction, 0), 1) : 0
        let total = Int((f * Double(width) * 8).rounded())
        let full = total / 8, rem = total % 8
        for i in 0..<width {
            if i < full {
                c.put(x: x + i, y: y, scalar: ascii ? 0x23 : 0x2588, width: 1, style: style)
            } else if i == full && rem > 0 {
                c.put(x: x + i, y: y, scalar: ascii ? (rem >= 4 ? 0x23 : 0x3D) : HBar.eighths[rem], width: 1, style: style)
            } else {
                c.put(x: x + i, y: y, scalar: showTrack ? (ascii ? 0x2E : 0x2591) : 0x20, width: 1, style: trackStyle)
            }
        }
    }
}

/// One-row sparkline over the newest `width` values (block chars ▁..█; ASCII `_.-=+*#`).
/// The scale is 0...max(values) unless `maxValue` is given, so equal series look equal across rows.
public struct Sparkline: Sendable {
    public var values: [Double]
    public var maxValue: Double?
    public var style: Style
    public var ascii: Bool
    public init(values: [Double], maxValue: Double? = nil, style: Style = .plain, ascii: Bool = false, capacity: Int? = nil) {
        self.values = Sparkline.padded(values, to: capacity); self.maxValue = maxValue; self.style = style; self.ascii = ascii
    }
    static let blocks: [UInt32] = [0x2581, 0x2582, 0x2583, 0x2584, 0x2585, 0x2586, 0x2587, 0x2588]
    static let asciiRamp: [UInt32] = Array("_.-=+*#@".unicodeScalars.map(\.value))

    /// Reduces `values` to `width` buckets by averaging (newest kept at the right edge). NaN marks
    /// "no data" (e.g. before the node started) and is skipped; a bucket of only NaN stays NaN.
    public static func resample(_ values: [Double], to width: Int) -> [Double] {
        guard width > 0, !values.isEmpty else { return [] }
        if values.count <= width { return values }
        var out: [Double] = []; out.reserveCapacity(width)
        let n = values.count
        for i in 0..<width {
            let a = i * n / width, b = max(a + 1, (i + 1) * n / width)
            var s = 0.0, k = 0
            for j in a..<b where !values[j].isNaN { s += values[j]; k += 1 }
            out.append(k > 0 ? s / Double(k) : .nan)
        }
        return out
    }

    /// `values` left-padded with NaN to `capacity`, so a short history keeps its place on a fixed
    /// time axis (the newest point stays at "now", the missing past stays empty).
    public static func padded(_ values: [Double], to capacity: Int?) -> [Double] {
        guard let cap = capacity, values.count < cap else { return values }
        return Array(repeating: .nan, count: cap - values.count) + values
    }

    public func draw(in c: inout Canvas, x: Int, y: Int, width: Int) {
        let pts = Sparkline.resample(values, to: width)
        let top = maxValue ?? (pts.filter { !$0.isNaN }.max() ?? 0)
        let ramp = ascii ? Sparkline.asciiRamp : Sparkline.blocks
        let pad = width - pts.count
        for i in 0..<width {
            guard i >= pad else { c.put(x: x + i, y: y, scalar: 0x20, width: 1, style: style); continue }
            let v = pts[i - pad]
            if v.isNaN { c.put(x: x + i, y: y, scalar: 0x20, width: 1, style: style); continue }
            let lvl: Int
            if top <= 0 || !v.isFinite || v <= 0 { lvl = 0 } else {
                lvl = min(ramp.count - 1, max(0, Int((v / top * Double(ramp.count - 1)).rounded())))
            }
            c.put(x: x + i, y: y, scalar: ramp[lvl], width: 1, style: style)
        }
    }
}

/// A fill against a hint (buffer bytes vs size hint, age vs interval): `label [bar] text`.
/// The bar's colour goes ok → warn → bad as it fills, because a full buffer is about to flush
/// and an overfull one means the flush is late.
public struct Gauge: Sendable {
    public var label: String
    public var value: Double
    public var hint: Double
    public var text: String
    public var ascii: Bool
    public var labelWidth: Int
    public var textWidth: Int
    public init(label: String, value: Double, hint: Double, text: String, ascii: Bool = false, labelWidth: Int = 10, textWidth: Int = 16) {
        self.label = label; self.value = value; self.hint = hint; self.text = text; self.ascii = ascii
        self.labelWidth = labelWidth; self.textWidth = textWidth
    }
    public var fraction: Double { hint > 0 ? value / hint : 0 }

    public func draw(in c: inout Canvas, x: Int, y: Int, width: Int, styles: GaugeStyles) {
        var cx = x
        if labelWidth > 0 {
            c.text(CharWidth.pad(label, to: labelWidth), x: cx, y: y, style: styles.label, maxWidth: labelWidth)
            cx += labelWidth + 1
        }
        let barW = max(0, width - (cx - x) - textWidth - 3)
        let f = fraction
        let st = f >= 1 ? styles.bad : (f >= 0.75 ? styles.warn : styles.ok)
        c.text(ascii ? "[" : "▕", x: cx, y: y, style: styles.track)
        HBar(fraction: f, style: st, trackStyle: styles.track, ascii: ascii, showTrack: true).draw(in: &c, x: cx + 1, y: y, width: barW)
        c.text(ascii ? "]" : "▏", x: cx + 1 + barW, y: y, style: styles.track)
        c.text(CharWidth.pad(text, to: textWidth, right: true), x: cx + barW + 3, y: y, style: styles.label, maxWidth: textWidth)
    }
}

public struct GaugeStyles: Sendable {
    public var label: Style, track: Style, ok: Style, warn: Style, bad: Style
    public init(label: Style = .plain, track: Style = .plain, ok: Style = .plain, warn: Style = .plain, bad: Style = .plain) {
        self.label = label; self.track = track; self.ok = ok; self.warn = warn; self.bad = bad
    }
}
