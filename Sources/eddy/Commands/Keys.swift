import ArgumentParser
import Foundation

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
