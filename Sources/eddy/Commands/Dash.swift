import ArgumentParser
import Foundation

struct Dash: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open the terminal dashboard on a remote node (reads /v1/stats and /v1/query).")
    @Option(help: "Node URL, e.g. http://127.0.0.1:4567.") var connect: String
    @Option(help: "Admin token (or EDDY_ADMIN_TOKEN).") var token: String?
    func run() async throws { try failNotBuilt("dash", stage: "dashboard", issue: 8) }
}
