import Foundation
import XCTest
@testable import Pipeline

final class DeliveryTransformTests: XCTestCase {
    func script(_ h: DeliveryHarness, _ name: String, _ body: String) throws -> [String] {
        let path = h.dir + "/" + name
        try body.write(toFile: path, atomically: true, encoding: .utf8)
        return ["python3", "-u", path]
    }

    static let kinds = """
    import sys, json, base64
    for line in sys.stdin:
        req = json.loads(line)
        data = base64.b64decode(req["data"]).decode()
        if '"drop-me"' in data:
            out = {"recordId": req["recordId"], "result": "Dropped", "data": req["data"]}
        elif '"fail-me"' in data:
            out = {"recordId": req["recordId"], "result": "ProcessingFailed", "data": req["data"]}
        else:
            data = data[:-1] + ',"tagged":true}'
            out = {"recordId": req["recordId"], "result": "Ok", "data": base64.b64encode(data.encode()).decode()}
        sys.stdout.write(json.dumps(out) + "\\n"); sys.stdout.flush()
    """

    func testOkDroppedAndProcessingFailedResults() async throws {
        let h = try DeliveryHarness(self, shards: 1)
        let cmd = try script(h, "t.py", Self.kinds)
        let d = try h.delivery { $0.transform = ExternalTransformConfig(command: cmd, timeoutMs: 10_000) }
        try await h.append([simpleEvent(site: "a", i: 0), simpleEvent(site: "a", i: 1, extra: #","props":{"k":"drop-me"}"#),
                            simpleEvent(site: "a", i: 2, extra: #","props":{"k":"fail-me"}"#), simpleEvent(site: "a", i: 3)])
        try d.flush()
        let lines = try h.lines()
        XCTAssertEqual(lines.map { $0["event_id"] as! String }.sorted(), ["a-0", "a-3"])
        XCTAssertTrue(lines.allSatisfy { $0["tagged"] as? Bool == true }, "Ok data replaced the record")
        XCTAssertEqual(d.recordsDropped, 1)
        let errs = try h.lines("errors/processing-failed")
        XCTAssertEqual(errs.count, 1)
        XCTAssertEqual(errs[0]["errorCode"] as? String, "Lambda.ProcessingFailed")
        XCTAssertEqual(String(decoding: Data(base64Encoded: errs[0]["rawData"] as! String)!, as: UTF8.self),
                       simpleEvent(site: "a", i: 2, extra: #","props":{"k":"fail-me"}"#))
        d.close()
    }

    func testHangingTransformHitsTheTimeLimitAndItsRecordsFail() async throws {
        let h = try DeliveryHarness(self, shards: 1)
        let cmd = try script(h, "hang.py", "import sys, time\nfor line in sys.stdin:\n    time.sleep(3600)\n")
        let d = try h.delivery { $0.transform = ExternalTransformConfig(command: cmd, timeoutMs: 300, retries: 1) }
        try await h.append([simpleEvent(site: "a", i: 0), simpleEvent(site: "a", i: 1)])
        try d.flush()
        XCTAssertTrue(try h.lines().isEmpty)
        let errs = try h.lines("errors/processing-failed")
        XCTAssertEqual(errs.count, 2)
        XCTAssertTrue(errs.allSatisfy { $0["errorCode"] as? String == "Transform.Timeout" })
        XCTAssertTrue(errs.allSatisfy { $0["attemptsMade"] as? Int == 2 })
        d.close()
    }

    func testCrashingTransformIsRestartedThenItsRecordsGoToTheErrorPrefix() async throws {
        let h = try DeliveryHarness(self, shards: 1)
        let crashOnce = try script(h, "once.py", """
        import sys, os, json
        marker = sys.argv[1]
        if not os.path.exists(marker):
            open(marker, "w").close()
            sys.stdin.readline(); sys.exit(3)
        for line in sys.stdin:
            req = json.loads(line)
            sys.stdout.write(json.dumps({"recordId": req["recordId"], "result": "Ok", "data": req["data"]}) + "\\n"); sys.stdout.flush()
        """) + [h.dir + "/marker"]
        let d = try h.delivery { $0.transform = ExternalTransformConfig(command: crashOnce, timeoutMs: 10_000, retries: 2) }
        try await h.append([simpleEvent(site: "a", i: 0), simpleEvent(site: "a", i: 1)])
        try d.flush()
        XCTAssertEqual(try h.lines().count, 2, "after one restart the records went through")
        XCTAssertTrue(h.logs.all.contains { $0.contains("restarting") })
        d.close()

        let h2 = try DeliveryHarness(self, shards: 1)
        let always = try script(h2, "die.py", "import sys\nsys.stdin.readline()\nsys.exit(1)\n")
        let d2 = try h2.delivery { $0.transform = ExternalTransformConfig(command: always, timeoutMs: 10_000, retries: 2) }
        try await h2.append([simpleEvent(site: "a", i: 0)])
        try d2.flush()
        let errs = try h2.lines("errors/processing-failed")
        XCTAssertEqual(errs.count, 1)
        XCTAssertEqual(errs[0]["errorCode"] as? String, "Transform.Crashed")
        XCTAssertEqual(h2.logs.all.filter { $0.contains("restarting") }.count, 3)
        d2.close()
    }

    func testShippedExampleTransformDropsInternalTrafficAndTagsCampaigns() async throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/transform.py").path
        guard FileManager.default.fileExists(atPath: example) else { throw XCTSkip("examples/transform.py not found") }
        let h = try DeliveryHarness(self, shards: 1)
        let d = try h.delivery { $0.transform = ExternalTransformConfig(command: ["python3", "-u", example]) }
        let internalIP = simpleEvent(site: "a", i: 0).replacingOccurrences(of: "203.0.113.77", with: "10.1.2.3")
        let campaign = simpleEvent(site: "a", i: 1).replacingOccurrences(of: "/p/1", with: "/p/1?utm_campaign=black-friday")
        try await h.append([internalIP, campaign, simpleEvent(site: "a", i: 2)])
        try d.flush()
        let lines = try h.lines()
        XCTAssertEqual(lines.map { $0["event_id"] as! String }.sorted(), ["a-1", "a-2"])
        XCTAssertEqual(lines.first { $0["event_id"] as? String == "a-1" }?["campaign_tag"] as? String, "black-friday")
        d.close()
    }
}
