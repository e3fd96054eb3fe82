import ArgumentParser
import Foundation

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
