import XCTest
@testable import Pipeline

/// The benchmark harness starts anchors (nginx, redis, zstd, sqlite3, DuckDB) through these calls;
/// a hang or a lost exit status here would stall `make bench` or report a failed anchor as a figure.
final class BenchSupportTests: XCTestCase {
    func testRunReturnsStatusStdoutAndStderrSeparately() throws {
        let r = try BenchSupport.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"])
        XCTAssertEqual(r.status, 3)
        XCTAssertEqual(r.stdout, "out\n")
        XCTAssertEqual(r.stderr, "err\n")
    }

    func testInputReachesTheChildAndLargeOutputDoesNotDeadlock() throws {
        let input = Data(repeating: 0x61, count: 300_000)
        let r = try BenchSupport.run("/bin/sh", ["-c", "wc -c; head -c 200000 /dev/zero | tr '\\0' b >&2"], input: input)
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "300000")
        XCTAssertEqual(r.stderr.utf8.count, 200_000)
    }

    /// The nginx case: the shell starts a daemon that outlives it (output redirected) and exits.
    func testShellReturnsWhenItsChildDaemonisesAndKillSignalsAreReported() throws {
        let r = try BenchSupport.shell("(sleep 30 >/dev/null 2>&1 &) ; echo started")
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.output, "started\n")
        let killed = try BenchSupport.run("/bin/sh", ["-c", "kill -9 $$"])
        XCTAssertEqual(killed.status, 128 + 9)
        XCTAssertThrowsError(try BenchSupport.run("/nonexistent/tool", []))
    }

    func testSpawnAndStopReapTheChild() throws {
        let pid = try BenchSupport.spawn("/bin/sleep", ["30"])
        XCTAssertEqual(kill(pid, 0), 0)
        BenchSupport.stop(pid, grace: 2)
        XCTAssertEqual(kill(pid, 0), -1, "the child is gone and reaped")
    }
}
