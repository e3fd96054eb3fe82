import Foundation

/// Shared helpers for benchmarks: timing, medians, machine description, external anchors.
public enum BenchSupport {
    /// Monotonic seconds.
    @inline(__always) public static func now() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }

    public static func median(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return 0 }
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    public static func percentile(_ xs: [Double], _ p: Double) -> Double {
        guard !xs.isEmpty else { return 0 }
        let s = xs.sorted()
        return s[min(s.count - 1, max(0, Int((p / 100 * Double(s.count)).rounded(.up)) - 1))]
    }

    /// Runs `body` `runs` times and returns the median of its seconds.
    public static func medianSeconds(runs: Int, _ body: () throws -> Void) rethrows -> Double {
        var times: [Double] = []
        for _ in 0..<max(1, runs) {
            let t0 = now()
            try body()
            times.append(now() - t0)
        }
        return median(times)
    }

    /// "2 cores · Intel(R) Xeon(R) … · 24 GiB" from /proc.
    public static func machineDescription() -> String {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
        let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let memKB = meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal") }
            .map { $0.filter(\.isNumber) }.flatMap { Double($0) } ?? 0
        return "\(ProcessInfo.processInfo.activeProcessorCount) cores · \(model) · \(Int((memKB / 1_048_576).rounded())) GiB"
    }

    /// Runs a command, returns (exit status, stdout). Stderr passes through to ours.
    @discardableResult
    public static func shell(_ command: String, input: Data? = nil) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", command]
        let out = Pipe()
        p.standardOutput = out
        if let input {
            let inp = Pipe()
            p.standardInput = inp
            try p.run()
            inp.fileHandleForWriting.write(input)
            try inp.fileHandleForWriting.close()
        } else {
            try p.run()
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Makes sure a Python module is importable, installing it from PyPI when missing.
    public static func ensurePythonModule(_ module: String, package: String? = nil, progress: (String) -> Void) -> Bool {
        if (try? shell("python3 -c 'import \(module)' 2>/dev/null").status) == 0 { return true }
        progress("installing \(package ?? module) from PyPI for an anchor…")
        _ = try? shell("python3 -m pip install -q \(package ?? module) >&2")
        return (try? shell("python3 -c 'import \(module)' 2>/dev/null").status) == 0
    }
}
