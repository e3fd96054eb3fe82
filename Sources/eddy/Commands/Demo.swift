import ArgumentParser
import Foundation

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an embedded node fed by the site simulator and open the dashboard (the default command).")
    @Option(help: "Data directory.") var data: String = "./eddy-data"
    @Option(help: "Number of simulated sites.") var sites: Int = 320
    @Option(help: "Simulated events per second.") var rate: Int = 20000
    @Option(help: "Number of stream shards.") var shards: Int = 4
    @Option(help: "Theme name from themes/.") var theme: String?
    @Option(help: "Simulator seed (same seed, same traffic).") var seed: UInt64 = 1
    func run() async throws { try failNotBuilt("demo", stage: "dashboard", issue: 8) }
}
