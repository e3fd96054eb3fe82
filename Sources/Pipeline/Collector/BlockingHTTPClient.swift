import Foundation

/// A minimal HTTP/1.1 keep-alive client over a blocking socket. Loadgen, the ingest benchmark and
/// live tests use it from their own threads so the measuring client costs little and behaves the
/// same against eddy and against the nginx anchor.
public final class BlockingHTTPClient {
    public struct Reply: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]
        public func header(_ name: String) -> String? { headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1 }
        public var text: String { String(decoding: body, as: UTF8.self) }
    }
    public enum Failure: Error, CustomStringConvertible {
        case connect(String), io(String), protocolError(String)
        public var description: String {
            switch self { case .connect(let m): return "connect: \(m)"; case .io(let m): return "io: \(m)"; case .protocolError(let m): return "protocol: \(m)" }
        }
    }

    public let host: String
    public let port: Int
    private var fd: Int32 = -1
    private var buf = [UInt8](repeating: 0, count: 64 * 1024)
    private var pending: [UInt8] = []
    public var timeoutSeconds: Int = 30
    /// Resend once on a fresh connection when a kept-alive one turns out closed. Off when a
    /// resend must not happen (loadgen recording acks: the server may have stored the request).
    public var retryStaleConnection = true

    public init(host: String, port: Int) { self.host = host; self.port = port }
    deinit { close() }

    /// Parses `http://host:port/...` into host and port.
    public static func hostPort(_ url: String) -> (String, Int)? {
        var s = Substring(url)
        if s.hasPrefix("http://") { s = s.dropFirst(7) }
        if let slash = s.firstIndex(of: "/") { s = s[..<slash] }
        guard let p = CollectorConfig.parseListen(String(s)) else { return nil }
        return (p.host == "localhost" ? "127.0.0.1" : p.host, p.port)
    }

    public func close() { if fd >= 0 { Glibc.close(fd); fd = -1 }; pending.removeAll() }

    private func connect() throws {
        close()
        var hints = addrinfo(); hints.ai_socktype = Int32(SOCK_STREAM.rawValue); hints.ai_family = AF_UNSPEC
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let ai = res else { throw Failure.connect("cannot resolve \(host)") }
        defer { freeaddrinfo(res) }
        let s = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
        guard s >= 0 else { throw Failure.connect("socket: errno \(errno)") }
        guard Glibc.connect(s, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else {
            let e = errno; Glibc.close(s); throw Failure.connect("\(host):\(port): errno \(e)")
        }
        var one: Int32 = 1
        setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        fd = s
    }

    /// Writes raw bytes (tests use this to send half a request).
    public func sendRaw(_ bytes: [UInt8]) throws {
        if fd < 0 { try connect() }
        try writeAll(bytes)
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        var off = 0
        try bytes.withUnsafeBytes { p in
            while off < p.count {
                let n = send(fd, p.baseAddress! + off, p.count - off, Int32(MSG_NOSIGNAL))
                if n <= 0 { throw Failure.io("send: errno \(errno)") }
                off += n
            }
        }
    }

    /// Sends one request and reads its response. Reconnects once if a kept-alive connection was closed.
    public func request(method: String = "POST", path: String, headers: [(String, String)] = [], body: [UInt8] = []) throws -> Reply {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        var req = Array(head.utf8); req.append(contentsOf: body)
        for attempt in 0..<2 {
            let fresh = fd < 0
            if fresh { try connect() }
            do {
                try writeAll(req)
                return try readResponse()
            } catch {
                close()
                if fresh || attempt == 1 || !retryStaleConnection { throw error }
            }
        }
        throw Failure.io("unreachable")
    }

    private func fill() throws {
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { throw Failure.io(n == 0 ? "connection closed by peer" : "recv: errno \(errno)") }
        pending.append(contentsOf: buf[0..<n])
    }

    public func readResponse() throws -> Reply {
        var headerEnd: Int?
        while headerEnd == nil {
            if let r = Self.find(pending, [13, 10, 13, 10]) { headerEnd = r; break }
            try fill()
        }
        let head = String(decoding: pending[0..<headerEnd!], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw Failure.protocolError("bad status line") }
        var headers: [(String, String)] = []
        var length = 0, chunked = false, closeAfter = false
        for l in lines {
            guard let c = l.firstIndex(of: ":") else { continue }
            let k = String(l[..<c]), v = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)
            headers.append((k, v))
            switch k.lowercased() {
            case "content-length": length = Int(v) ?? 0
            case "transfer-encoding": chunked = v.lowercased().contains("chunked")
            case "connection": closeAfter = v.lowercased() == "close"
            default: break
            }
        }
        pending.removeFirst(headerEnd! + 4)
        var body: [UInt8] = []
        if chunked {
            while true {
                var lineEnd: Int?
                while lineEnd == nil { lineEnd = Self.find(pending, [13, 10]); if lineEnd == nil { try fill() } }
                let size = Int(String(decoding: pending[0..<lineEnd!], as: UTF8.self).split(separator: ";")[0], radix: 16) ?? 0
                pending.removeFirst(lineEnd! + 2)
                while pending.count < size + 2 { try fill() }
                body.append(contentsOf: pending[0..<size]); pending.removeFirst(size + 2)
                if size == 0 { break }
            }
        } else {
            while pending.count < length { try fill() }
            body = Array(pending[0..<length]); pending.removeFirst(length)
        }
        if closeAfter { close() }
        return Reply(status: status, headers: headers, body: body)
    }

    static func find(_ h: [UInt8], _ n: [UInt8]) -> Int? {
        guard h.count >= n.count else { return nil }
        var i = 0
        while i <= h.count - n.count {
            if h[i] == n[0] {
                var ok = true
                for j in 1..<n.count where h[i + j] != n[j] { ok = false; break }
                if ok { return i }
            }
            i += 1
        }
        return nil
    }
}
