import CEddy
import Foundation

/// Process-wide malloc settings for the long-running commands (`serve`, `demo`, `dash`).
public enum ProcessMemory {
    /// Call once as the command starts.
    ///
    /// glibc raises its mmap threshold each time a mapped chunk is freed (up to 32 MiB), after which
    /// delivery's buffers (up to the size hint, 5 MiB) and the dashboard's snapshot bodies come from
    /// the arenas and stay there once freed: the soak saw the server's RssAnon climb 518 → 799 MiB in
    /// 10 minutes with ~340 MiB held free by malloc. With the threshold fixed at 256 KiB such buffers
    /// are mapped and unmapped on their own (the soak with it levelled off at ~600 MiB). Left alone
    /// when the user tunes malloc through the environment.
    public static func configureForLongRun() {
        let env = ProcessInfo.processInfo.environment
        if env["GLIBC_TUNABLES"] != nil || env["MALLOC_MMAP_THRESHOLD_"] != nil { return }
        _ = eddy_fix_mmap_threshold(256 << 10)
    }

    /// Gives free pages held by malloc's arenas back to the system when more than `threshold` bytes
    /// are free; returns whether it did. Buffers below the mmap threshold (delivery's per-site
    /// chunks, the loader's batches, snapshot arrays) are allocated and freed from several threads'
    /// arenas every minute; the freed memory stayed resident between them: a 12-minute 5k/s soak
    /// saw RssAnon less live allocations grow 16 → 139 MiB while live allocations stayed flat.
    /// `malloc_trim` releases whole free pages anywhere in every arena.
    @discardableResult
    public static func releaseFreeMemory(ifFreeAbove threshold: Int64) -> Bool {
        var used: Int64 = 0, free: Int64 = 0
        eddy_heap_usage(&used, &free)
        guard free > threshold else { return false }
        _ = eddy_release_free_memory()
        return true
    }
}

/// CPU, resident memory and open files of this process, from /proc (Linux). Elsewhere the
/// figures stay zero. `sample()` is cheap enough to call with every snapshot.
public struct ProcessSampler: Sendable {
    private var lastCPUTicks: Int64 = -1
    private var lastWallMs: Int64 = 0
    private let startedAtMs: Int64
    private let clock: any MetricsClock

    public init(clock: any MetricsClock = SystemClock()) {
        self.clock = clock
        startedAtMs = clock.nowMs()
    }

    public mutating func sample() -> ProcessStats {
        let now = clock.nowMs()
        var stats = ProcessStats(rssBytes: Self.residentBytes(), openFiles: Self.openFiles(), uptimeMs: now - startedAtMs)
        eddy_heap_usage(&stats.heapInUseBytes, &stats.heapFreeBytes)
        if let ticks = Self.cpuTicks() {
            if lastCPUTicks >= 0, now > lastWallMs {
                let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
                let cpuMs = Double(ticks - lastCPUTicks) / hz * 1000
                stats.cpuPercent = cpuMs / Double(now - lastWallMs) * 100
            }
            lastCPUTicks = ticks
            lastWallMs = now
        }
        return stats
    }

    /// Resident set size from /proc/self/statm (pages × page size); 0 where unavailable.
    public static func residentBytes() -> Int64 {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int64(fields[1]) else { return 0 }
        return pages * Int64(sysconf(Int32(_SC_PAGESIZE)))
    }

    public static func openFiles() -> Int64 {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return 0 }
        return Int64(entries.count)
    }

    /// utime + stime in clock ticks, from /proc/self/stat (fields 14 and 15, after the "(comm)").
    static func cpuTicks() -> Int64? {
        guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let rest = text[text.index(after: close)...].split(separator: " ")
        // rest[0] is field 3 (state); utime is field 14 → rest[11], stime field 15 → rest[12].
        guard rest.count > 12, let u = Int64(rest[11]), let s = Int64(rest[12]) else { return nil }
        return u + s
    }
}
