/// Number formatting for narrow columns, locale-independent so goldens are stable everywhere.
public enum Fmt {
    /// `x` with `digits` decimals, rounded half away from zero.
    public static func fixed(_ x: Double, _ digits: Int) -> String {
        guard x.isFinite else { return x.isNaN ? "-" : (x > 0 ? "inf" : "-inf") }
        var p = 1.0
        for _ in 0..<digits { p *= 10 }
        let neg = x < 0
        let scaled = (abs(x) * p).rounded()
        guard scaled < 9e17 else { return String(x) }
        let n = Int64(scaled)
        let ip = n / Int64(p), fp = n % Int64(p)
        var s = String(ip)
        if digits > 0 {
            var f = String(fp)
            while f.count < digits { f = "0" + f }
            s += "." + f
        }
        return (neg && n != 0 ? "-" : "") + s
    }

    /// 1234 → "1.2k", 20_100_000 → "20.1M"; below 1000 shows up to one decimal if fractional.
    public static func si(_ x: Double) -> String {
        guard x.isFinite else { return "-" }
        let a = abs(x)
        let units: [(Double, String)] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (u, s) in units where a >= u * 0.9995 {
            let v = x / u
            return (abs(v) >= 100 ? fixed(v, 0) : fixed(v, 1)) + s
        }
        if a == a.rounded() || a >= 100 { return fixed(x, 0) }
        return fixed(x, 1)
    }

    public static func int(_ n: Int64) -> String { si(Double(n)) }

    /// Bytes with binary-free decimal units: "512 B", "4.2 MB".
    public static func bytes(_ b: Double) -> String {
        guard b.isFinite else { return "-" }
        let units: [(Double, String)] = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")]
        for (u, s) in units where abs(b) >= u * 0.9995 {
            let v = b / u
            return (abs(v) >= 100 ? fixed(v, 0) : fixed(v, 1)) + " " + s
        }
        return fixed(b, 0) + " B"
    }
    public static func bytes(_ b: Int64) -> String { bytes(Double(b)) }

    /// Milliseconds as "850ms", "1.2s", "3m04s", "2h05m".
    public static func ms(_ ms: Double) -> String {
        guard ms.isFinite else { return "-" }
        if ms < 1 && ms > 0 { return fixed(ms, 2) + "ms" }
        if ms < 1000 { return fixed(ms, 0) + "ms" }
        let s = ms / 1000
        if s < 60 { return fixed(s, 1) + "s" }
        let total = Int(s)
        if total < 3600 { return "\(total / 60)m" + two(total % 60) + "s" }
        return "\(total / 3600)h" + two(total / 60 % 60) + "m"
    }
    public static func ms(_ v: Int64) -> String { ms(Double(v)) }

    public static func percent(_ f: Double, digits: Int = 1) -> String { fixed(f * 100, digits) + "%" }

    static func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// Epoch milliseconds → "HH:MM:SS" UTC.
    public static func clock(_ epochMs: Int64) -> String {
        let s = Int((epochMs / 1000) % 86400)
        return two(s / 3600) + ":" + two(s / 60 % 60) + ":" + two(s % 60)
    }
}
