import ArgumentParser
import Foundation

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a headless node: HTTP collector, stream, delivery, warehouse, live aggregates.",
        discussion: "Listens on loopback unless told otherwise. The admin token guards /v1/stats, /v1/query and /v1/admin/flush.")
    @Option(help: "Data directory.") var data: String = "./eddy-data"
    @Option(help: "Address to listen on (HOST:PORT).") var listen: String = "127.0.0.1:4567"
    @Option(help: "Configuration file (TOML).") var config: String?
    @Option(help: "Also feed the node from the built-in simulator at this many events/s.") var simulate: Int?
    func run() async throws { try failNotBuilt("serve", stage: "collector", issue: 4) }
}

struct Dash: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open the terminal dashboard on a remote node (reads /v1/stats and /v1/query).")
    @Option(help: "Node URL, e.g. http://127.0.0.1:4567.") var connect: String
    @Option(help: "Admin token (or EDDY_ADMIN_TOKEN).") var token: String?
    func run() async throws { try failNotBuilt("dash", stage: "dashboard", issue: 8) }
}

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run read-only SQL on the warehouse (or over lake files through lake_events).")
    @Option(help: "Data directory.") var data: String = "./eddy-data"
    @Option(help: "Query a remote node instead (POST /v1/query).") var connect: String?
    @Option(help: "Output format: table, csv or json.") var format: String = "table"
    @Option(help: "Run a shipped named query instead of SQL.") var saved: String?
    @Option(help: "Site for a named query.") var site: String?
    @Argument(help: "The SQL to run.") var sql: String?
    func run() async throws { try failNotBuilt("query", stage: "warehouse", issue: 6) }
}

struct Loadgen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send simulator traffic to a node over HTTP and report throughput and ack latency.")
    @Option(help: "Node URL.") var target: String
    @Option(help: "Events per second.") var rate: Int?
    @Flag(help: "Send as fast as acks allow.") var max = false
    @Option(help: "How long to run, e.g. 30s, 2m.") var duration: String = "30s"
    @Option(help: "Number of simulated sites.") var sites: Int = 320
    @Option(help: "Events per request.") var batch: Int = 500
    @Option(help: "API: native or kinesis.") var api: String = "native"
    func run() async throws { try failNotBuilt("loadgen", stage: "collector", issue: 4) }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify a data directory: every stream frame, the shard map, checkpoints; non-zero exit on any problem.")
    @Option(help: "Data directory.") var data: String = "./eddy-data"
    func run() async throws { try failNotBuilt("check", stage: "stream", issue: 3) }
}

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage site write keys, relay keys and AWS-style access keys.",
        discussion: "eddy keys [--data DIR] list | create SITE | create --relay | create --aws | revoke KEY")
    @Option(help: "Data directory.") var data: String = "./eddy-data"
    @Argument(help: "list | create | revoke") var action: String?
    @Argument(help: "SITE for create, KEY for revoke.") var subject: String?
    @Flag(help: "Create an ingest-all relay key.") var relay = false
    @Flag(help: "Create an AWS-style access key id and secret for SigV4.") var aws = false
    func run() async throws { try failNotBuilt("keys", stage: "collector", issue: 4) }
}
