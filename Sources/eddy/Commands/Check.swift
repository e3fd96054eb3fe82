import ArgumentParser
import Foundation
import Pipeline

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify a data directory: every stream frame, the shard map, checkpoints (and with --lake, the lake against its manifests); non-zero exit on any problem.",
        subcommands: [StreamCrashWriter.self, StreamDump.self])
    @Option(help: "Data directory.") var data: String = "./eddy-data"
    @Flag(help: "Also verify the lake: every object a manifest lists exists with its size, record count and sequence ranges, and no records are in two objects (reads every listed object).")
    var lake = false

    func run() async throws {
        let r = StreamChecker.check(dataDirectory: data)
        var out = "eddy check \(data)\n"
        for l in r.lines { out += l + "\n" }
        out += "verified \(r.framesVerified) frame(s), \(r.bytesVerified) byte(s)\n"
        var warnings = r.warnings, problems = r.problems
        if lake {
            let l = LakeChecker.check(dataDirectory: data) { FileHandle.standardError.write(Data(("eddy check: " + $0 + "\n").utf8)) }
            for line in l.lines { out += line + "\n" }
            warnings += l.warnings; problems += l.problems
        }
        for w in warnings { out += "warning: " + w + "\n" }
        for p in problems { out += "PROBLEM: " + p + "\n" }
        out += problems.isEmpty ? "OK\n" : "\(problems.count) problem(s) found\n"
        FileHandle.standardOutput.write(Data(out.utf8))
        if !problems.isEmpty { throw ExitCode(1) }
    }
}

/// Hidden helper for scripts/test-stream-crash.sh: appends batches as fast as it can and prints
/// "ACK <shardId> <sequenceNumber> <data>" for every acknowledged record, until killed.
struct StreamCrashWriter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stream-crash-writer", shouldDisplay: false)
    @Option(name: .customLong("dir")) var dir: String
    @Option var shards: Int = 4
    @Option var writers: Int = 4
    @Option var batch: Int = 200

    func run() async throws {
        var cfg = StreamConfig(shardCount: shards, segmentBytes: 1 << 20)
        cfg.log = { FileHandle.standardError.write(Data(("stream: " + $0 + "\n").utf8)) }
        let stream = try ShardedStream(dataDirectory: dir, config: cfg)
        let size = batch
        try await withThrowingTaskGroup(of: Void.self) { g in
            for w in 0..<writers {
                g.addTask {
                    var n = 0
                    while true {
                        var b = RecordBatch()
                        var payloads: [String] = []
                        for i in 0..<size {
                            let p = "w\(w)-\(n + i)-" + String(repeating: "x", count: 400)
                            payloads.append(p)
                            b.append(data: p, partitionKey: "key-\(w)-\((n + i) % 97)")
                        }
                        n += size
                        let res = try await stream.append(b)
                        var out = ""
                        for (i, r) in res.enumerated() where r.succeeded {
                            out += "ACK \(r.shardId!) \(r.sequenceNumber!) \(payloads[i].prefix(24))\n"
                        }
                        FileHandle.standardOutput.write(Data(out.utf8))
                    }
                }
            }
            try await g.waitForAll()
        }
    }
}

/// Hidden helper for scripts/test-stream-crash.sh: opens the stream (running recovery, which
/// logs what it truncated) and prints "REC <shardId> <sequenceNumber> <data prefix>" for every
/// record of every shard, in offset order.
struct StreamDump: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stream-dump", shouldDisplay: false)
    @Option(name: .customLong("dir")) var dir: String

    func run() async throws {
        var cfg = StreamConfig()
        cfg.log = { FileHandle.standardError.write(Data(("stream: " + $0 + "\n").utf8)) }
        let stream = try ShardedStream(dataDirectory: dir, config: cfg)
        defer { stream.close() }
        for d in stream.shardMap().shards.sorted(by: { $0.index < $1.index }) {
            var off = try stream.bounds(shardId: d.shardId).trimHorizon
            while true {
                let b = try stream.read(shardId: d.shardId, from: off, maxRecords: 5000)
                if b.records.isEmpty { break }
                var out = ""
                for i in 0..<b.count {
                    out += "REC \(d.shardId) \(b.sequenceNumber(i)) \(String(decoding: b.data(i).prefix(24), as: UTF8.self))\n"
                }
                FileHandle.standardOutput.write(Data(out.utf8))
                off = b.nextOffset
            }
        }
    }
}
