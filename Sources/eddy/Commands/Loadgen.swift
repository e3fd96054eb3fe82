import ArgumentParser
import Foundation
import Pipeline

struct Loadgen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send simulator traffic to a node over HTTP and report throughput and ack latency.")
    @Option(help: "Node URL.") var target: String
    @Option(help: "Events per second.") var rate: Int?
    @Flag(help: "Send as fast as acks allow.") var max = false
    @Option(help: "How long to run, e.g. 30s, 2m.") var duration: String = "30s"
    @Option(help: "Number of simulated sites.") var sites: Int = 320
    @Option(help: "Events per request.") var batch: Int = 500
    @Option(help: "Parallel connections.") var connections: Int = 4
    @Option(help: "API: native or kinesis.") var api: String = "native"
    @Option(help: "Write key (native; a relay key for many sites). Default: $EDDY_WRITE_KEY.") var key: String?
    @Option(help: "Stream name (kinesis).") var stream: String = "clickstream"
    @Flag(help: "Print the result as JSON on stdout.") var json = false
    @Flag(help: "Generate every batch fresh (unique event ids, as real traffic) instead of cycling 16 pre-built batches per connection.") var fresh = false
    @Option(name: .customLong("record-acked"),
            help: "Write acknowledged event_ids here, one per line (only after a 2xx ack; failed requests are not resent).") var recordAcked: String?

    func run() async throws {
        guard let (host, port) = BlockingHTTPClient.hostPort(target) else { throw ValidationError("--target must be http://HOST:PORT") }
        guard let api = LoadGenConfig.API(rawValue: api) else { throw ValidationError("--api is native or kinesis") }
        if rate == nil && !max { throw ValidationError("give --rate N or --max") }
        guard let secs = Self.seconds(duration) else { throw ValidationError("--duration like 30s, 2m, 500ms") }
        var c = LoadGenConfig(host: host, port: port)
        c.api = api; c.rate = max ? nil : rate.map(Double.init); c.durationSeconds = secs
        c.sites = sites; c.batch = batch; c.connections = connections; c.streamName = stream
        c.key = key ?? ProcessInfo.processInfo.environment["EDDY_WRITE_KEY"]
        c.accessKey = ProcessInfo.processInfo.environment["EDDY_ACCESS_KEY_ID"] ?? ProcessInfo.processInfo.environment["AWS_ACCESS_KEY_ID"]
        c.secretKey = ProcessInfo.processInfo.environment["EDDY_SECRET_ACCESS_KEY"] ?? ProcessInfo.processInfo.environment["AWS_SECRET_ACCESS_KEY"]
        c.recordAckedPath = recordAcked
        c.fresh = fresh
        if recordAcked != nil && api != .native { throw ValidationError("--record-acked works with --api native only") }
        if api == .native && c.key == nil { throw ValidationError("native API needs --key (or EDDY_WRITE_KEY)") }
        if api == .kinesis && (c.accessKey == nil || c.secretKey == nil) {
            throw ValidationError("kinesis API needs EDDY_ACCESS_KEY_ID/EDDY_SECRET_ACCESS_KEY (or AWS_*) in the environment")
        }
        let isTTY = isatty(2) != 0
        let gen = LoadGenerator(config: c)
        // SIGTERM/SIGINT end the run cleanly: acked ids written and synced, the result printed.
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler { gen.requestStop() }
            src.resume()
            sources.append(src)
        }
        defer { for s in sources { s.cancel() } }
        let r = try gen.run { line in
            FileHandle.standardError.write(Data(((isTTY ? "\r\u{1B}[K" : "") + "loadgen " + line + (isTTY ? "" : "\n")).utf8))
        }
        if isTTY { FileHandle.standardError.write(Data("\n".utf8)) }
        if json {
            let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
            print(String(decoding: try enc.encode(r), as: UTF8.self))
        } else {
            print(r.summary)
        }
    }

    static func seconds(_ s: String) -> Double? {
        if s.hasSuffix("ms") { return Double(s.dropLast(2)).map { $0 / 1000 } }
        if s.hasSuffix("s") { return Double(s.dropLast()) }
        if s.hasSuffix("m") { return Double(s.dropLast()).map { $0 * 60 } }
        return Double(s)
    }
}
