import Foundation
import Logging

/// End-to-end ingest over loopback: HTTP → validated → durable ack, 500-event batches from the
/// simulator, the same blocking client for eddy and the anchor. Anchor: nginx (Debian) proxying
/// the same POSTs to a 204 upstream while logging every body to a file — a C server writing the
/// same bytes with no validation (and no fsync; eddy acks only after fdatasync).
public struct IngestBench: BenchmarkCase {
    public let name = "ingest"
    public init() {}

    public func run(quick: Bool, progress: @Sendable (String) -> Void) async throws -> [BenchFigure] {
        let seconds: Double = quick ? 4 : 12
        let runs = quick ? 1 : 3
        let connections = 4
        let dir = NSTemporaryDirectory() + "eddy-ingest-bench-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        // eddy
        var keys = KeyFile()
        let relay = keys.createRelayKey(nowMs: 0).key
        try keys.save(dataDirectory: dir + "/eddy")
        var cfg = CollectorConfig(dataDirectory: dir + "/eddy")
        cfg.port = 0; cfg.shards = 4; cfg.minFreeBytes = 0; cfg.handleSignals = false
        var logger = Logger(label: "eddy.bench"); logger.logLevel = .error
        let server = try CollectorServer(config: cfg, credentials: Credentials.load(dataDirectory: dir + "/eddy",
                                         environment: ["EDDY_ADMIN_TOKEN": "bench"]), logger: logger)
        let task = Task { try await server.run() }
        let port = try await server.port()
        func load(_ port: Int, rate: Double?, key: String?) async throws -> LoadGenResult {
            var c = LoadGenConfig(host: "127.0.0.1", port: port)
            c.rate = rate; c.durationSeconds = seconds; c.connections = connections; c.batch = 500; c.key = key
            let g = LoadGenerator(config: c)
            return try await Self.onThread { try g.run() }
        }
        var eddyMax: [LoadGenResult] = []
        for i in 0..<runs {
            let r = try await load(port, rate: nil, key: relay)
            progress("eddy max run \(i + 1): \(r.summary)")
            eddyMax.append(r)
        }
        let eddyEvents = BenchSupport.median(eddyMax.map(\.eventsPerSec))
        let eddyMB = BenchSupport.median(eddyMax.map(\.mbPerSec))
        let half = eddyEvents / 2
        let eddyHalf = try await load(port, rate: half, key: relay)
        progress("eddy at half rate (\(Int(half)) ev/s): \(eddyHalf.summary)")
        await server.shutdown()
        _ = try? await task.value
        if eddyMax.contains(where: { !$0.errorsByCode.isEmpty }) { progress("eddy reported errors: \(eddyMax.map(\.errorsByCode))") }

        // nginx anchor
        var figures: [BenchFigure] = []
        let anchor = "nginx proxy → 204, body logged"
        if let nginx = try await startNginx(dir: dir + "/nginx", progress: progress) {
            defer { _ = try? BenchSupport.shell("\(nginx.bin) -c \(nginx.conf) -s stop >/dev/null 2>&1") }
            var nx: [LoadGenResult] = []
            for i in 0..<runs {
                let r = try await load(nginx.port, rate: nil, key: nil)
                progress("nginx max run \(i + 1): \(r.summary)")
                nx.append(r)
            }
            let nHalf = try await load(nginx.port, rate: half, key: nil)
            progress("nginx at eddy's half rate: \(nHalf.summary)")
            let logged = (try? FileManager.default.attributesOfItem(atPath: dir + "/nginx/bodies.log")[.size] as? Int) ?? 0
            progress("nginx logged \(logged >> 20) MiB of bodies")
            figures.append(BenchFigure(name: "events/s, 500-event batches, 4 conns", value: eddyEvents, unit: "ev/s", anchorName: anchor,
                                       anchorValue: BenchSupport.median(nx.map(\.eventsPerSec)), goal: "≥ 1.0× anchor"))
            figures.append(BenchFigure(name: "MB/s of request bodies", value: eddyMB, unit: "MB/s", anchorName: anchor,
                                       anchorValue: BenchSupport.median(nx.map(\.mbPerSec)), goal: "≥ 100 MB/s, ≥ 1.0× anchor"))
            figures.append(BenchFigure(name: "ack p99 at half of eddy's max rate", value: eddyHalf.ackP99Ms, unit: "ms", anchorName: anchor,
                                       anchorValue: nHalf.ackP99Ms, higherIsBetter: false,
                                       note: "eddy acks after fdatasync; nginx never syncs"))
        } else {
            progress("nginx is not available; reporting eddy without its anchor")
            figures.append(BenchFigure(name: "events/s, 500-event batches, 4 conns", value: eddyEvents, unit: "ev/s", note: "no anchor: nginx missing"))
            figures.append(BenchFigure(name: "MB/s of request bodies", value: eddyMB, unit: "MB/s", goal: "≥ 100 MB/s"))
            figures.append(BenchFigure(name: "ack p99 at half rate", value: eddyHalf.ackP99Ms, unit: "ms", higherIsBetter: false))
        }
        return figures
    }

    static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in
            let t = Thread { c.resume(with: Result { try body() }) }
            t.start()
        }
    }

    static func freePort() -> Int {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(s) }
        var a = sockaddr_in(); a.sin_family = sa_family_t(AF_INET); a.sin_port = 0; a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, len) } }
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
        return Int(UInt16(bigEndian: a.sin_port))
    }

    /// Installs Debian's nginx when missing, writes a config under `dir`, starts it.
    func startNginx(dir: String, progress: (String) -> Void) async throws -> (bin: String, conf: String, port: Int)? {
        var bin = (try? BenchSupport.shell("command -v nginx || ls /usr/sbin/nginx 2>/dev/null").output)?
            .split(separator: "\n").first.map(String.init) ?? ""
        if bin.isEmpty {
            progress("installing nginx with apt-get for the anchor…")
            _ = try? BenchSupport.shell("(apt-get install -y -q nginx-light || apt-get install -y -q nginx || (apt-get update -q && apt-get install -y -q nginx)) >&2")
            bin = FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx") ? "/usr/sbin/nginx" : ""
        }
        guard !bin.isEmpty else { return nil }
        try FileManager.default.createDirectory(atPath: dir + "/tmp", withIntermediateDirectories: true)
        let port = Self.freePort(), up = Self.freePort()
        let conf = dir + "/nginx.conf"
        let text = """
        user root;
        worker_processes auto;
        pid \(dir)/nginx.pid;
        error_log \(dir)/error.log warn;
        events { worker_connections 1024; }
        http {
          access_log off;
          client_body_temp_path \(dir)/tmp/body; proxy_temp_path \(dir)/tmp/proxy;
          fastcgi_temp_path \(dir)/tmp/fcgi; uwsgi_temp_path \(dir)/tmp/uwsgi; scgi_temp_path \(dir)/tmp/scgi;
          log_format body escape=none '$request_body';
          upstream sink { server 127.0.0.1:\(up); keepalive 16; }
          server { listen 127.0.0.1:\(up); location / { return 204; } }
          server {
            listen 127.0.0.1:\(port);
            client_max_body_size 6m;
            client_body_buffer_size 6m;
            location / {
              access_log \(dir)/bodies.log body;
              proxy_pass http://sink;
              proxy_http_version 1.1;
              proxy_set_header Connection "";
            }
          }
        }
        """
        try text.write(toFile: conf, atomically: true, encoding: .utf8)
        // Output to a file: the daemonised master would otherwise hold our pipe open forever.
        let r = try BenchSupport.shell("\(bin) -c \(conf) >\(dir)/start.log 2>&1; echo $?")
        guard r.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0" else {
            progress("nginx did not start: \((try? String(contentsOfFile: dir + "/start.log", encoding: .utf8)) ?? "")"); return nil
        }
        for _ in 0..<50 {
            if (try? BlockingHTTPClient(host: "127.0.0.1", port: port).request(method: "GET", path: "/"))?.status == 204 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return (bin, conf, port)
    }
}
