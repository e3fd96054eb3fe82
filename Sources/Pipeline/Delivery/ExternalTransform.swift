import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The external transform: a child process kept running, spoken to with Firehose's
/// transformation contract as NDJSON over one socket that is both its stdin and its stdout.
///
/// Framing (one JSON object per line, `\n`-terminated, UTF-8):
///   request  `{"recordId":"<id>","approximateArrivalTimestamp":<ms>,"data":"<base64>"}`
///   response `{"recordId":"<id>","result":"Ok"|"Dropped"|"ProcessingFailed","data":"<base64>"}`
/// Every recordId sent must come back once, in any order, within `timeoutMs` of the batch being
/// sent. A child that exits, closes its stdout, or misses the time limit is killed and restarted,
/// and the records it had not answered are sent again (up to `retries` more times); after that
/// they fail with `Transform.Timeout` / `Transform.Crashed`. A response line that is not JSON,
/// or an unknown result, fails that record with `Transform.InvalidResponse`.
final class ExternalTransform: @unchecked Sendable {
    enum Outcome: Equatable { case ok([UInt8]), dropped, failed(code: String, message: String) }
    struct Request { var recordId: String; var arrivalMs: Int64; var data: [UInt8] }

    let config: ExternalTransformConfig
    private(set) var pid: pid_t = -1
    private var fd: Int32 = -1
    private(set) var starts = 0
    private(set) var kills = 0
    var log: @Sendable (String) -> Void

    init(_ config: ExternalTransformConfig, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.config = config; self.log = log
    }
    deinit { stop() }

    func stop() {
        if fd >= 0 { close(fd); fd = -1 }
        if pid > 0 {
            var st: Int32 = 0
            // Give a well-behaved child a moment to exit on EOF, then kill it.
            for _ in 0..<20 { if waitpid(pid, &st, WNOHANG) == pid { pid = -1; return }; usleep(5_000) }
            kill(pid, SIGKILL); waitpid(pid, &st, 0); pid = -1
        }
    }

    private func killChild() {
        if fd >= 0 { close(fd); fd = -1 }
        if pid > 0 { var st: Int32 = 0; kill(pid, SIGKILL); waitpid(pid, &st, 0); pid = -1; kills += 1 }
    }

    private func spawn() throws {
        var sv: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &sv) == 0 else {
            throw LakeError(.io, key: "", "socketpair: \(FileIO.errnoText())")
        }
        _ = fcntl(sv[0], F_SETFD, FD_CLOEXEC)
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_adddup2(&fa, sv[1], 0)
        posix_spawn_file_actions_adddup2(&fa, sv[1], 1)
        posix_spawn_file_actions_addclose(&fa, sv[1])
        let argv: [UnsafeMutablePointer<CChar>?] = config.command.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var child: pid_t = 0
        let rc = posix_spawnp(&child, config.command[0], &fa, nil, argv, environ)
        close(sv[1])
        guard rc == 0 else {
            close(sv[0])
            throw LakeError(.io, key: "", "cannot start transform '\(config.command.joined(separator: " "))': \(String(cString: strerror(rc)))")
        }
        let fl = fcntl(sv[0], F_GETFL)
        _ = fcntl(sv[0], F_SETFL, fl | O_NONBLOCK)
        pid = child; fd = sv[0]; starts += 1
    }

    private static func monoMs() -> Int64 {
        var ts = timespec(); clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Sends every request and collects one outcome per request, in request order.
    func process(_ requests: [Request]) -> [Outcome] {
        var out = [Outcome?](repeating: nil, count: requests.count)
        var start = 0
        while start < requests.count {
            let end = min(requests.count, start + config.batchRecords)
            processBatch(requests, start..<end, into: &out)
            start = end
        }
        return out.map { $0 ?? .failed(code: "Transform.Crashed", message: "no response") }
    }

    private enum AttemptEnd { case complete, timeout, crashed(String) }

    private func processBatch(_ reqs: [Request], _ range: Range<Int>, into out: inout [Outcome?]) {
        var pending = Dictionary(uniqueKeysWithValues: range.map { (reqs[$0].recordId, $0) })
        var attempt = 0
        while true {
            var end: AttemptEnd
            if fd < 0 {
                do { try spawn() } catch {
                    end = .crashed("\(error)")
                    attempt += 1
                    if attempt > config.retries { fail(pending, code: "Transform.Unavailable", message: "\(error)", into: &out); return }
                    usleep(UInt32(min(1000, 50 << min(attempt, 4)) * 1000))
                    continue
                }
            }
            end = attemptBatch(reqs, pending: &pending, into: &out)
            if case .complete = end { return }
            let reason: (String, String)
            switch end {
            case .timeout: reason = ("Transform.Timeout", "no answer within \(config.timeoutMs) ms")
            case .crashed(let why): reason = ("Transform.Crashed", why)
            case .complete: return
            }
            log("transform \(config.command.first ?? ""): \(reason.1); restarting (attempt \(attempt + 1) of \(config.retries + 1))")
            killChild()
            attempt += 1
            if attempt > config.retries {
                fail(pending, code: reason.0, message: reason.1 + " after \(attempt) attempt(s)", into: &out)
                return
            }
        }
    }

    private func fail(_ pending: [String: Int], code: String, message: String, into out: inout [Outcome?]) {
        for (_, i) in pending { out[i] = .failed(code: code, message: message) }
    }

    /// One try: write the pending requests while reading responses, until all are answered, the
    /// time limit passes, or the child goes away.
    private func attemptBatch(_ reqs: [Request], pending: inout [String: Int], into out: inout [Outcome?]) -> AttemptEnd {
        var wbuf: [UInt8] = []
        for (_, i) in pending.sorted(by: { $0.value < $1.value }) {
            let r = reqs[i]
            wbuf.appendLiteral("{\"recordId\":"); wbuf.appendJSONString(r.recordId)
            wbuf.appendLiteral(",\"approximateArrivalTimestamp\":"); wbuf.appendDecimal(r.arrivalMs)
            wbuf.appendLiteral(",\"data\":\""); wbuf.append(contentsOf: Data(r.data).base64EncodedData()); wbuf.appendLiteral("\"}\n")
        }
        var wpos = 0
        var rbuf: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let deadline = Self.monoMs() + Int64(config.timeoutMs)
        while !pending.isEmpty {
            let left = deadline - Self.monoMs()
            if left <= 0 { return .timeout }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN) | (wpos < wbuf.count ? Int16(POLLOUT) : 0), revents: 0)
            let pr = poll(&pfd, 1, Int32(min(left, 1000)))
            if pr < 0 { if errno == EINTR { continue }; return .crashed("poll: \(FileIO.errnoText())") }
            if pr == 0 { continue }
            if pfd.revents & Int16(POLLOUT) != 0, wpos < wbuf.count {
                let n = wbuf.withUnsafeBytes { send(fd, $0.baseAddress! + wpos, $0.count - wpos, Int32(MSG_NOSIGNAL)) }
                if n < 0 {
                    if errno != EAGAIN && errno != EINTR { return .crashed("the transform stopped reading (\(FileIO.errnoText()))") }
                } else { wpos += n }
            }
            if pfd.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n == 0 { return .crashed("the transform exited or closed its output") }
                if n < 0 {
                    if errno == EAGAIN || errno == EINTR { continue }
                    return .crashed("read: \(FileIO.errnoText())")
                }
                rbuf.append(contentsOf: chunk[0..<n])
                var lineStart = 0
                while let nl = rbuf[lineStart...].firstIndex(of: 0x0A) {
                    handleLine(Array(rbuf[lineStart..<nl]), pending: &pending, into: &out)
                    lineStart = nl + 1
                }
                if lineStart > 0 { rbuf.removeSubrange(0..<lineStart) }
            }
        }
        return .complete
    }

    private func handleLine(_ line: [UInt8], pending: inout [String: Int], into out: inout [Outcome?]) {
        guard !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) else { return }
        guard let obj = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
              let id = obj["recordId"] as? String else {
            log("transform: ignoring a response line that is not {\"recordId\":…}: \(String(decoding: line.prefix(200), as: UTF8.self))")
            return
        }
        guard let idx = pending.removeValue(forKey: id) else { return } // unknown or repeated id
        switch obj["result"] as? String {
        case "Ok":
            guard let b64 = obj["data"] as? String, let d = Data(base64Encoded: b64) else {
                out[idx] = .failed(code: "Transform.InvalidResponse", message: "result Ok without valid base64 data"); return
            }
            out[idx] = .ok([UInt8](d))
        case "Dropped": out[idx] = .dropped
        case "ProcessingFailed":
            out[idx] = .failed(code: "Lambda.ProcessingFailed", message: (obj["errorMessage"] as? String) ?? "the transform reported ProcessingFailed")
        default:
            out[idx] = .failed(code: "Transform.InvalidResponse", message: "result must be Ok, Dropped or ProcessingFailed")
        }
    }
}
