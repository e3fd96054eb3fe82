import Foundation
import XCTest
@testable import Pipeline

final class StreamCheckTests: XCTestCase {
    func testCheckPassesAHealthyDirectoryAndFlagsATornTailAndABadCheckpoint() async throws {
        let dir = makeStreamTempDir(self)
        do {
            let s = try ShardedStream(dataDirectory: dir, config: testConfig(shards: 2))
            _ = try await s.append(makeBatch(30))
            let c = try s.consumer("live")
            _ = try c.poll(maxRecordsPerShard: 5)
            try c.checkpointAll()
            try s.splitShard("shardId-000000000000", newStartingHashKey: HashKey(hi: 1 << 62, lo: 0))
            s.close()
        }
        var r = StreamChecker.check(dataDirectory: dir)
        XCTAssertTrue(r.ok, r.problems.joined(separator: "\n"))
        XCTAssertEqual(r.framesVerified, 30)
        XCTAssertTrue(r.lines.contains { $0.contains("consumer live shardId-000000000000") })

        let seg = dir + "/stream/clickstream/shardId-000000000001/00000000000000000000.log"
        let h = FileHandle(forWritingAtPath: seg)!
        h.seekToEndOfFile(); h.write(Data([40, 0, 0, 0, 1, 2])); h.closeFile()
        let ck = dir + "/consumers/live/shardId-000000000000.ckpt"
        var text = try String(contentsOfFile: ck, encoding: .utf8)
        text = text.replacingOccurrences(of: #""nextOffset":\d+"#, with: "\"nextOffset\":9999", options: .regularExpression)
        try text.write(toFile: ck, atomically: true, encoding: .utf8)
        r = StreamChecker.check(dataDirectory: dir)
        XCTAssertFalse(r.ok)
        XCTAssertTrue(r.problems.contains { $0.contains("torn tail") }, r.problems.joined(separator: "\n"))
        XCTAssertTrue(r.problems.contains { $0.contains("past the shard's last record") }, r.problems.joined(separator: "\n"))

        // A shard map with a gap between open shards is reported.
        let mapPath = dir + "/stream/clickstream/shards.json"
        var map = try ShardMap.load(path: mapPath)
        map.shards.removeAll { $0.shardId == "shardId-000000000001" }
        try Data(try map.encoded()).write(to: URL(fileURLWithPath: mapPath))
        r = StreamChecker.check(dataDirectory: dir)
        XCTAssertTrue(r.problems.contains { $0.contains("open shards do not end") || $0.contains("gap") }, r.problems.joined(separator: "\n"))
        XCTAssertFalse(StreamChecker.check(dataDirectory: dir + "/nope").ok)
    }
}
