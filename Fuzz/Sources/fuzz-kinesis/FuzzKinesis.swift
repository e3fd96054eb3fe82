// libFuzzer target: the Kinesis / Firehose JSON front end and SigV4 header parsing.
//
// Byte 0 picks what the rest of the input is:
//   0…9   the body of one call, answered by the real `KinesisAPI.handle` (JSONSerialization of
//         the body, stream name, base64 Data, partition keys, explicit hash keys, sequence numbers,
//         shard iterator tokens, Firehose NDJSON records) against a real stream in a scratch
//         directory (fsync never; retention trims it so long runs stay small);
//   10…   SigV4: the rest split on "\n" into Authorization, X-Amz-Date, X-Amz-Content-Sha256,
//         Host, method, path, query, given to `SigV4Verifier.verify`.
// Operations that change the set of streams or shards (CreateStream, SplitShard, MergeShards,
// UpdateShardCount) are left out: they would make later inputs depend on earlier ones.
// "Clean" means: an answer or an AWSError, never a trap; a thrown error is always an AWSError.
import Foundation
@testable import PipelineCore

private let targets = [
    "Kinesis_20131202.PutRecord", "Kinesis_20131202.PutRecords", "Kinesis_20131202.GetShardIterator",
    "Kinesis_20131202.GetRecords", "Kinesis_20131202.ListShards", "Kinesis_20131202.ListStreams",
    "Kinesis_20131202.DescribeStream", "Kinesis_20131202.DescribeStreamSummary",
    "Firehose_20150804.PutRecord", "Firehose_20150804.PutRecordBatch",
]
private let nowMs: Int64 = 1_764_147_600_000  // 2025-11-26T09:00:00Z, also the seeds' X-Amz-Date

private final class World: @unchecked Sendable {
    let dir: String
    let registry: StreamRegistry
    let api: KinesisAPI
    var calls = 0
    init() {
        // One directory per process: under -fork=N or -jobs=N the workers would share the stream.
        let env = ProcessInfo.processInfo.environment["EDDY_FUZZ_DIR"]
        dir = (env ?? (NSTemporaryDirectory() + "eddy-fuzz-kinesis")) + "-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        let cfg = StreamConfig(name: "clickstream", shardCount: 2, fsync: .never, segmentBytes: 256 << 10,
                               retentionBytes: 1 << 20, log: { _ in })
        do { registry = try StreamRegistry(dataDirectory: dir, baseConfig: cfg) } catch {
            FileHandle.standardError.write(Data("fuzz-kinesis: cannot open a stream under \(dir): \(error)\n".utf8)); exit(2)
        }
        api = KinesisAPI(registry: registry, nowMs: { nowMs })
    }
}
private let world = World()

private final class Outcome: @unchecked Sendable { var error: (any Error)? }

private func call(_ target: String, _ body: [UInt8]) {
    let done = DispatchSemaphore(value: 0)
    let out = Outcome()
    let api = world.api
    Task {
        do { _ = try await api.handle(target: target, body: body) } catch { out.error = error }
        done.signal()
    }
    done.wait()
    if let e = out.error, !(e is AWSError) {
        fuzzFail("fuzz-kinesis: \(target) threw a non-AWS error: \(e)")
    }
    world.calls += 1
    if world.calls % 5000 == 0 { _ = try? world.registry.defaultStream.enforceRetention() }
}

private let verifier = SigV4Verifier(secrets: ["AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"])

private func sigv4(_ rest: [UInt8]) {
    let f = rest.split(separator: 0x0A, maxSplits: 7, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    func field(_ i: Int) -> String? { i < f.count ? f[i] : nil }
    let headers: [String: String] = [
        "authorization": field(0), "x-amz-date": field(1), "x-amz-content-sha256": field(2), "host": field(3),
        "content-type": "application/x-amz-json-1.1", "x-amz-target": targets[1],
    ].compactMapValues { $0 }
    do {
        _ = try verifier.verify(method: field(4) ?? "POST", path: field(5) ?? "/", query: field(6) ?? "",
                                headers: { headers[$0] }, body: Array((field(7) ?? "").utf8), nowMs: nowMs)
    } catch is SigV4Verifier.Failure {
    } catch {
        fuzzFail("fuzz-kinesis: SigV4 threw a foreign error: \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")  // also what FuzzerMain.o (linked by -sanitize=fuzzer) refers to
public func fuzzKinesis(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1 else { return 0 }
    let rest = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let sel = Int(data[0])
    if sel < targets.count { call(targets[sel], rest) } else { sigv4(rest) }
    return 0
}
