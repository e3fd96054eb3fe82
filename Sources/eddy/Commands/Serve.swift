import ArgumentParser
import Foundation
import Pipeline

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a headless node: HTTP collector, stream, delivery, warehouse, live aggregates.",
        discussion: "Listens on loopback unless told otherwise. The admin token guards /v1/stats, /v1/query and /v1/admin/flush. SIGTERM/SIGINT stop it gracefully.")
    @Option(help: "Data directory.") var data: String = "./eddy-data"
    @Option(help: "Address to listen on (HOST:PORT; port 0 picks a free one).") var listen: String = "127.0.0.1:4567"
    @Option(help: "Shards of a new stream.") var shards: Int = 4
    @Option(name: .customLong("min-free-mb"), help: "Refuse writes (503) below this much free disk.") var minFreeMB: Int = 256
    @Option(name: .customLong("trusted-proxy"), help: "Peer IP whose X-Forwarded-For is believed (repeatable).") var trustedProxies: [String] = []
    @Option(name: .customLong("read-timeout"), help: "Seconds a client has to send a request body.") var readTimeout: Int = 10
    @Option(name: .customLong("port-file"), help: "Write the listening port here once bound (scripts).") var portFile: String?
    @Option(help: "Configuration file (TOML).") var config: String?
    @Option(help: "Also feed the node from the built-in simulator at this many events/s.") var simulate: Int?

    func run() async throws {
        if config != nil { throw ValidationError("--config is not supported yet; use the flags") }
        guard let (host, port) = CollectorConfig.parseListen(listen) else { throw ValidationError("--listen must be HOST:PORT, got '\(listen)'") }
        var cfg = CollectorConfig(dataDirectory: data)
        cfg.host = host; cfg.port = port; cfg.shards = shards
        cfg.minFreeBytes = Int64(minFreeMB) << 20
        cfg.trustedProxies = Set(trustedProxies)
        cfg.bodyReadTimeout = .seconds(readTimeout)
        let problems = cfg.problems()
        if !problems.isEmpty { throw ValidationError(problems.joined(separator: "\n")) }
        let server = try CollectorServer(config: cfg)
        let pf = portFile
        let sim = simulate
        try await withThrowingTaskGroup(of: Void.self) { g in
            g.addTask { try await server.run() }
            g.addTask {
                let p = try await server.port()
                if let pf { try "\(p)\n".write(toFile: pf, atomically: true, encoding: .utf8) }
                if let rate = sim, rate > 0 { await server.simulate(rate: rate) }
            }
            // The port task ends early; the server task ends at SIGTERM/SIGINT; the simulator stops with it.
            try await g.waitForAll()
        }
    }
}
