import ArgumentParser
import Foundation

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
