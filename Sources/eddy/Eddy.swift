import ArgumentParser
import Foundation

@main
struct Eddy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eddy",
        abstract: "A clickstream platform in one binary: collector, sharded stream, lake, warehouse, live dashboard.",
        discussion: """
        Bare `eddy` runs `eddy demo`: an embedded node fed by a simulator of 320 global sites.
        Data path: collector → stream (shards) → delivery → lake → warehouse, with live aggregates
        and a terminal dashboard. See docs/ARCHITECTURE.md.
        """,
        version: EddyVersion.string,
        subcommands: [Demo.self, Serve.self, Dash.self, Query.self, Loadgen.self, Bench.self, Check.self, Keys.self],
        defaultSubcommand: Demo.self
    )
}

enum EddyVersion {
    static let string = "0.1.0"
}

/// A stage of the contract that has not landed yet: say so and exit non-zero, never invent output.
struct StageNotBuilt: Error, CustomStringConvertible {
    let command: String
    let stage: String
    let issue: Int
    var description: String {
        "eddy \(command): the \(stage) stage is not built yet (tracked in issue #\(issue)); nothing was done."
    }
}

func failNotBuilt(_ command: String, stage: String, issue: Int) throws -> Never {
    FileHandle.standardError.write(Data((StageNotBuilt(command: command, stage: stage, issue: issue).description + "\n").utf8))
    throw ExitCode(3)
}
