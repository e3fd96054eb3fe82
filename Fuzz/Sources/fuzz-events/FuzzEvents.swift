// libFuzzer target: arbitrary bytes as a POST /v1/events body (NDJSON or a JSON array), through
// the collector's own path: EventParser, then EventIngest.prepare (stamping, partition keys).
// Besides "no crash, no sanitizer report" it checks the invariants callers rely on: every record
// is either accepted or rejected, and every span of an accepted event lies inside the body.
import Foundation
@testable import PipelineCore

private let parser = EventParser()
private let ingest = EventIngest()
private let nowMs: Int64 = 1_764_147_600_000  // 2025-11-26T09:00:00Z; fixed so a crash reproduces

@inline(never)
private func check(_ ok: Bool, _ what: @autoclosure () -> String) {
    if !ok { fuzzFail("fuzz-events invariant broken: \(what())") }
}

private func checkSpan(_ s: ByteSpan, _ n: Int, _ name: String) {
    guard s.isPresent else { return }
    check(s.count >= 0 && Int(s.start) + Int(s.count) <= n, "\(name) span \(s.start)+\(s.count) outside body of \(n)")
}

@_cdecl("LLVMFuzzerTestOneInput")  // also what FuzzerMain.o (linked by -sanitize=fuzzer) refers to
public func fuzzEvents(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let body = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let b = parser.parse(body, nowMs: nowMs)
    check(b.recordCount == b.events.count + b.errors.count, "recordCount \(b.recordCount) ≠ events + errors")
    for e in b.events {
        check(e.recordStart >= 0 && Int(e.recordStart) + Int(e.recordCount) <= body.count, "record outside body")
        for (name, s) in [("site_id", e.siteId), ("type", e.type), ("event_id", e.eventId), ("session_id", e.sessionId),
                          ("user_id", e.userId), ("anon_id", e.anonId), ("url", e.url), ("referrer", e.referrer),
                          ("title", e.title), ("ua", e.ua), ("ip", e.ip), ("lang", e.lang), ("screen", e.screen),
                          ("country", e.country), ("currency", e.currency)] {
            checkSpan(s, body.count, name)
            _ = b.string(s)  // decodes escapes: exercises JSONString.unescape on every accepted span
        }
        _ = b.recordBytes(e)
    }
    let (batch, indexes, outcome) = ingest.prepare(body: body, scope: .relay, clientIP: "203.0.113.7", nowMs: nowMs,
                                                   wantEventIds: true)
    check(batch.count == indexes.count, "batch \(batch.count) ≠ indexes \(indexes.count)")
    check(batch.count + outcome.failures.count == b.recordCount || b.recordCount == 0,
          "accepted \(batch.count) + failed \(outcome.failures.count) ≠ records \(b.recordCount)")
    for en in batch.entries {
        check(en.keyStart >= 0 && en.keyStart + en.keyCount <= batch.bytes.count, "partition key outside batch")
        check(en.dataStart >= 0 && en.dataStart + en.dataCount <= batch.bytes.count, "data outside batch")
        check(en.keyCount >= 1 && en.keyCount <= 256, "partition key length \(en.keyCount)")
    }
    // A site key scope rejects other sites' events but must not crash on any of them either.
    _ = ingest.prepare(body: body, scope: .site("shop-001"), clientIP: nil, nowMs: nowMs)
    return 0
}
