import Foundation

/// Shared helpers for benchmarks: timing, medians, machine description, external anchors.
public enum BenchSupport {
    /// Monotonic seconds.
    @inline(__always) public static func now() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }

    /// Resource use so far (getrusage): user+system CPU seconds over every thread, the system part,
    /// and minor page faults (each a kernel entry, and a zeroed page when the memory is new).
    public struct Usage: Sendable {
        public var cpuSeconds: Double
        public var systemSeconds: Double
        public var minorFaults: Int
    }

    /// This process's usage, or with `children` that of its children waited for (an anchor CLI).
    public static func usage(children: Bool = false) -> Usage {
        var u = rusage()
        guard getrusage(children ? RUSAGE_CHILDREN.rawValue : RUSAGE_SELF.rawValue, &u) == 0 else {
            return Usage(cpuSeconds: 0, systemSeconds: 0, minorFaults: 0)
        }
        let sys = Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
        return Usage(cpuSeconds: Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + sys, systemSeconds: sys,
                     minorFaults: u.ru_minflt)
    }

    /// User + system CPU seconds of this process so far (every thread).
    public static func processCPUSeconds() -> Double { usage().cpuSeconds }

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
        let r = try run("/bin/bash", ["-c", command], input: input, captureStderr: false)
        return (r.status, r.stdout)
    }

    /// Runs `exe` with `args` and waits for it: (exit status, stdout, stderr). Built on posix_spawn
    /// and waitpid for that one pid, not Foundation's Process, whose waitUntilExit could hang after
    /// the child had exited (seen starting nginx, whose master daemonises). `input` goes through a
    /// temporary file so a child that does not read it cannot deadlock us. When `captureStderr` is
    /// false the child's stderr is ours.
    public static func run(_ exe: String, _ args: [String], input: Data? = nil,
                           captureStderr: Bool = true) throws -> (status: Int32, stdout: String, stderr: String) {
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard pipe(&outPipe) == 0 else { throw BenchError("pipe: \(String(cString: strerror(errno)))") }
        if captureStderr, pipe(&errPipe) != 0 {
            close(outPipe[0]); close(outPipe[1])
            throw BenchError("pipe: \(String(cString: strerror(errno)))")
        }
        var inputPath: String? = nil
        defer { if let inputPath { unlink(inputPath) } }
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        if let input {
            let path = NSTemporaryDirectory() + "eddy-bench-input-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try input.write(to: URL(fileURLWithPath: path))
            inputPath = path
            posix_spawn_file_actions_addopen(&fa, 0, path, O_RDONLY, 0)
        } else {
            posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&fa, outPipe[1], 1)
        posix_spawn_file_actions_addclose(&fa, outPipe[0])
        posix_spawn_file_actions_addclose(&fa, outPipe[1])
        if captureStderr {
            posix_spawn_file_actions_adddup2(&fa, errPipe[1], 2)
            posix_spawn_file_actions_addclose(&fa, errPipe[0])
            posix_spawn_file_actions_addclose(&fa, errPipe[1])
        }
        let argv: [UnsafeMutablePointer<CChar>?] = ([exe] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &fa, nil, argv, environ)
        close(outPipe[1]); if captureStderr { close(errPipe[1]) }
        guard rc == 0 else {
            close(outPipe[0]); if captureStderr { close(errPipe[0]) }
            throw BenchError("cannot start \(exe): \(String(cString: strerror(rc)))")
        }
        // Drain both pipes until each reaches end of file; a grandchild that keeps a pipe open
        // (a daemon started with inherited stdout) would hold this, so callers redirect those.
        var out: [UInt8] = [], err: [UInt8] = []
        var fds = [pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0)]
        if captureStderr { fds.append(pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)) }
        var buf = [UInt8](repeating: 0, count: 65536)
        while fds.contains(where: { $0.fd >= 0 }) {
            if poll(&fds, nfds_t(fds.count), -1) < 0 { if errno == EINTR { continue }; break }
            for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
                let n = buf.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    if i == 0 { out.append(contentsOf: buf[0..<n]) } else { err.append(contentsOf: buf[0..<n]) }
                } else if n == 0 || errno != EINTR {
                    close(fds[i].fd); fds[i].fd = -1
                }
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    /// Starts `exe` in the background with stdin, stdout and stderr on /dev/null; stop it with `stop`.
    public static func spawn(_ exe: String, _ args: [String]) throws -> pid_t {
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = ([exe] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &fa, nil, argv, environ)
        guard rc == 0 else { throw BenchError("cannot start \(exe): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// SIGTERM, then SIGKILL after `grace` seconds; always reaps the child.
    public static func stop(_ pid: pid_t, grace: Double = 5) {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        let deadline = now() + grace
        while now() < deadline {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid || (r < 0 && errno != EINTR) { return }
            usleep(20_000)
        }
        kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    /// Makes sure a Python module is importable, installing it from PyPI when missing.
    public static func ensurePythonModule(_ module: String, package: String? = nil, progress: (String) -> Void) -> Bool {
        if (try? shell("python3 -c 'import \(module)' 2>/dev/null").status) == 0 { return true }
        progress("installing \(package ?? module) from PyPI for an anchor…")
        _ = try? shell("python3 -m pip install -q \(package ?? module) >&2")
        return (try? shell("python3 -c 'import \(module)' 2>/dev/null").status) == 0
    }
}
