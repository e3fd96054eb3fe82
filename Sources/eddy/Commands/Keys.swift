import ArgumentParser
import Foundation
import Pipeline

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage site write keys, relay keys and AWS-style access keys.",
        discussion: """
        eddy keys [--data DIR] list | create SITE | create --relay | create --aws | revoke KEY
        Keys live in <data>/keys.json (0600). `create` prints the new key on stdout (for --aws: the
        access key id and the secret, on two lines). A running server reads keys at start.
        """)
    @Option(help: "Data directory.") var data: String = "./eddy-data"
    @Argument(help: "list | create | revoke") var action: String?
    @Argument(help: "SITE for create, KEY for revoke.") var subject: String?
    @Flag(help: "Create an ingest-all relay key.") var relay = false
    @Flag(help: "Create an AWS-style access key id and secret for SigV4.") var aws = false

    func run() async throws {
        var file = try KeyFile.load(dataDirectory: data)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        switch action ?? "list" {
        case "list":
            for k in file.keys {
                switch k.kind {
                case .site: print("site   \(k.key)  \(k.site ?? "")")
                case .relay: print("relay  \(k.key)")
                case .aws: print("aws    \(k.key)")
                }
            }
        case "create":
            if relay && aws { throw ValidationError("choose one of --relay and --aws") }
            if aws {
                let k = file.createAWSKey(nowMs: now)
                try file.save(dataDirectory: data)
                print(k.key); print(k.secret ?? "")
            } else if relay {
                let k = file.createRelayKey(nowMs: now)
                try file.save(dataDirectory: data)
                print(k.key)
            } else {
                guard let site = subject, !site.isEmpty else { throw ValidationError("create needs a SITE (or --relay, --aws)") }
                let k = file.createSiteKey(site: site, nowMs: now)
                try file.save(dataDirectory: data)
                print(k.key)
            }
        case "revoke":
            guard let key = subject else { throw ValidationError("revoke needs the KEY (or access key id)") }
            guard file.revoke(key) else {
                FileHandle.standardError.write(Data("eddy keys: no such key\n".utf8))
                throw ExitCode(1)
            }
            try file.save(dataDirectory: data)
            FileHandle.standardError.write(Data("revoked (a running server stops accepting it within a second)\n".utf8))
        default:
            throw ValidationError("unknown action '\(action!)'; use list, create or revoke")
        }
    }
}
