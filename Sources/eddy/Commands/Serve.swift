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
