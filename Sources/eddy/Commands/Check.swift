import ArgumentParser
import Foundation

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify a data directory: every stream frame, the shard map, checkpoints; non-zero exit on any problem.")
    @Option(help: "Data directory.") var data: String = "./eddy-data"
    func run() async throws { try failNotBuilt("check", stage: "stream", issue: 3) }
}
