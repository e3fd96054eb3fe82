import Foundation
import XCTest
@testable import Pipeline
import CZstd
import Metrics

final class DeliveryBufferTests: XCTestCase {
    func testBufferIsWrittenOnceItReachesTheSizeHint() async throws {
        let h = try DeliveryHarness(self, shards: 1)
        let d = try h.delivery { $0.intervalMs = 900_000 }
        let pad = String(repeating: "x", count: 900)
        try await h.append((0..<2000).map { simpleEvent(site: "big", i: $0, extra: #","title":"\#(pad)""#) })
        try d.runOnce()
        let objects = try h.lake.list(prefix: "events")
        XCTAssertGreaterThanOrEqual(objects.count, 1, "2 MB into a 1 MiB size hint must write at least one object with no time passing")
        let s = d.stats()
        XCTAssertLessThan(s.buffers.first?.bytes ?? 0, Int64(1 << 20), "what stays buffered is below the hint")
        XCTAssertEqual(try h.lines().count + Int(s.buffers.first?.records ?? 0), 2000)
    }

    /// The size hint bounds an object, that is one shard's chunk of a partition: a site spread
    /// over four shards is not written while each chunk is below the hint, however much the
    /// site holds in all; a chunk that reaches it is written alone, and only by its shard's records.
    func testTheSizeHintBoundsEachShardsObjectNotTheSitesTotal() async throws {
        let h = try DeliveryHarness(self, shards: 4)
        let d = try h.delivery { $0.intervalMs = 900_000; $0.workers = 2 }
        let pad = String(repeating: "x", count: 900)
        try await h.append((0..<2000).map { simpleEvent(site: "big", i: $0, extra: #","title":"\#(pad)""#) })
        try d.runOnce()
        XCTAssertEqual(try h.lake.list(prefix: "events"), [], "no chunk reached 1 MiB")
        var s = d.stats()
        XCTAssertGreaterThan(s.buffers[0].bytes, Int64(1 << 20), "the site holds more than the hint in all")
        XCTAssertLessThan(s.buffers[0].fillBytes, Int64(1 << 20))
        XCTAssertGreaterThan(s.buffers[0].fillBytes * 4, s.buffers[0].bytes, "fill is the largest of four chunks")
        try await h.append((2000..<5000).map { simpleEvent(site: "big", i: $0, extra: #","title":"\#(pad)""#) })
        try d.runOnce()
        let objects = try h.lake.list(prefix: "events")
        XCTAssertGreaterThanOrEqual(objects.count, 4)
        for key in objects {
            let raw = try Compressor.decompress(try h.lake.read(key), key: key)
            XCTAssertGreaterThanOrEqual(raw.count, 1 << 20, "written by size: \(key)")
            XCTAssertLessThan(raw.count, (1 << 20) + 2048, "the record that crossed the hint is the last one")
            let shards = Set(raw.split(separator: 0x0A).map { (try! JSONSerialization.jsonObject(with: Data($0)) as! [String: Any])["shard"] as! String })
            XCTAssertEqual(shards.count, 1, key)
            XCTAssertTrue(key.contains(shards.first! + "-"), key)
        }
        s = d.stats()
        XCTAssertLessThan(s.buffers[0].fillBytes, Int64(1 << 20), "what stays buffered is below the hint per chunk")
        XCTAssertEqual(try h.lines().count + Int(s.buffers[0].records), 5000)
        try d.flush()
        XCTAssertEqual(Set(try h.lines().map { $0["event_id"] as! String }).count, 5000)
    }

    /// Lanes admit new partitions through one shared count: with four shards on two workers the
    /// cap still holds, and each site is either buffered or refused as a whole.
    func testThePartitionCapHoldsAcrossParallelLanes() async throws {
        let h = try DeliveryHarness(self, shards: 4)
        let d = try h.delivery { $0.maxActivePartitions = 3; $0.workers = 2 }
        let sites = (0..<6).map { "s\($0)" }
        try await h.append((0..<600).map { simpleEvent(site: sites[$0 % 6], i: $0) })
        try d.flush()
        let delivered = try h.lines().map { $0["site_id"] as! String }
        let refused = try h.lines("errors/partition-limit-exceeded").map {
            (try JSONSerialization.jsonObject(with: Data(base64Encoded: $0["rawData"] as! String)!) as! [String: Any])["site_id"] as! String
        }
        XCTAssertEqual(Set(delivered).count, 3)
        XCTAssertTrue(Set(delivered).isDisjoint(with: Set(refused)))
        XCTAssertEqual(delivered.count, 300)
        XCTAssertEqual(refused.count, 300)
        XCTAssertEqual(d.stats().errorsByType["partition-limit-exceeded"], 300)
    }

    func testBufferIsWrittenWhenItsAgeReachesTheIntervalOnTheInjectedClock() async throws {
        let h = try DeliveryHarness(self)
        let d = try h.delivery { $0.intervalMs = 60_000 }
        try await h.append((0..<10).map { simpleEvent(site: "a", i: $0) })
        try d.runOnce()
        XCTAssertEqual(try h.lake.list(prefix: "events").count, 0)
        XCTAssertEqual(d.stats().buffers.first?.msToNextFlush, 60_000)
        h.clock.advance(byMs: 59_999)
        try d.runOnce()
        XCTAssertEqual(try h.lake.list(prefix: "events").count, 0, "one ms before the interval nothing is written")
        XCTAssertEqual(d.stats().buffers.first?.ageMs, 59_999)
        h.clock.advance(byMs: 1)
        try d.runOnce()
        XCTAssertGreaterThan(try h.lake.list(prefix: "events").count, 0)
        XCTAssertEqual(try h.lines().count, 10)
        XCTAssertTrue(d.stats().buffers.isEmpty)
        let s = d.stats()
        XCTAssertEqual(s.deliveryLatency.count, 10)
        XCTAssertGreaterThan(s.compressionRatio, 1)
    }

    func testObjectsLandInSiteDateHourPartitionsWithNamesFromShardAndSequences() async throws {
        let h = try DeliveryHarness(self, shards: 1)
        let d = try h.delivery()
        try await h.append([simpleEvent(site: "shop-a", i: 0), simpleEvent(site: "shop-b", i: 1), simpleEvent(site: "shop-a", i: 2)])
        try d.flush()
        let keys = try h.lake.list(prefix: "events")
        XCTAssertEqual(keys, [
            "events/site=shop-a/dt=2025-11-26/hr=09/events-shardId-000000000000-100000000000000000000-100000000000000000002.ndjson.zst",
            "events/site=shop-b/dt=2025-11-26/hr=09/events-shardId-000000000000-100000000000000000001-100000000000000000001.ndjson.zst",
        ])
        let manifests = try h.lake.list(prefix: "_manifests/events")
        XCTAssertEqual(manifests.count, 1)
        XCTAssertTrue(manifests[0].hasPrefix("_manifests/events/dt=2025-11-26/hr=09/0000000\(deliveryT0)-shardId-000000000000-100000000000000000000"), manifests[0])
        let m = try JSONSerialization.jsonObject(with: Data(try h.lake.read(manifests[0]))) as! [String: Any]
        let entries = m["entries"] as! [[String: Any]]
        XCTAssertEqual(entries.map { $0["url"] as! String }.sorted(), keys)
        for e in entries {
            XCTAssertEqual(e["mandatory"] as? Bool, true)
            let meta = e["meta"] as! [String: Any]
            XCTAssertEqual(meta["content_length"] as? Int, Int(h.lake.size(e["url"] as! String)!))
        }
        XCTAssertEqual(entries.map { ($0["meta"] as! [String: Any])["records"] as! Int }.reduce(0, +), 3)
        XCTAssertEqual(try h.stream.consumer("lake-events").checkpointedOffset(shardId: "shardId-000000000000"), 3)
    }

    func testPartitionHourComesFromTheOldestArrivalInUTC() {
        XCTAssertEqual(LakeLayout.partitionPath(site: "s", oldestArrivalMs: 1_764_115_199_999), "site=s/dt=2025-11-25/hr=23")
        XCTAssertEqual(LakeLayout.partitionPath(site: "s", oldestArrivalMs: 1_764_115_200_000), "site=s/dt=2025-11-26/hr=00")
    }

    func testSitesBeyondThePartitionCapGoToTheErrorPrefix() async throws {
        let h = try DeliveryHarness(self, shards: 1)
        let d = try h.delivery { $0.maxActivePartitions = 2 }
        try await h.append([simpleEvent(site: "a", i: 0), simpleEvent(site: "b", i: 1), simpleEvent(site: "c", i: 2), simpleEvent(site: "a", i: 3)])
        try d.flush()
        XCTAssertEqual(Set(try h.lines().map { $0["site_id"] as! String }), ["a", "b"])
        let errs = try h.lines("errors/partition-limit-exceeded")
        XCTAssertEqual(errs.count, 1)
        XCTAssertEqual(errs[0]["errorCode"] as? String, "DynamicPartitioning.ActivePartitionsLimitExceeded")
        let raw = Data(base64Encoded: errs[0]["rawData"] as! String)!
        XCTAssertEqual(String(decoding: raw, as: UTF8.self), simpleEvent(site: "c", i: 2))
        XCTAssertEqual(d.stats().errorsByType["partition-limit-exceeded"], 1)
        XCTAssertTrue(try h.lake.list(prefix: "errors/partition-limit-exceeded")[0].hasPrefix("errors/partition-limit-exceeded/dt=2025-11-26/events-shardId-000000000000-"))
    }

    func testInvalidEventsGoToFormatConversionFailedWithTheirReason() async throws {
        let h = try DeliveryHarness(self, shards: 1)
        let d = try h.delivery()
        try await h.append([simpleEvent(site: "a", i: 0), #"{"site_id":"../../etc","type":"x","ts":1764115100000}"#, "not json"])
        try d.flush()
        XCTAssertEqual(try h.lines().count, 1)
        let errs = try h.lines("errors/format-conversion-failed")
        XCTAssertEqual(errs.count, 2)
        XCTAssertTrue(errs.allSatisfy { ($0["errorCode"] as! String).hasPrefix("EventParser.") })
        XCTAssertEqual(errs.map { $0["attemptsMade"] as! Int }, [1, 1])
        XCTAssertFalse(FileManager.default.fileExists(atPath: h.dir + "/etc"))
    }

    /// One shard holding 3,000 events padded to ~900 bytes (2.7 MB) spread over `sites` sites, none
    /// reaching the size hint alone, and a delivery with a 1 MiB budget and size hint.
    private func paddedBacklog(sites: Int, pollBytes: Int, whenFull: WhenBuffersFull) async throws -> (DeliveryHarness, DeliveryStream) {
        let h = try DeliveryHarness(self, shards: 1)
        let d = try h.delivery {
            $0.maxBufferedBytes = 1 << 20; $0.sizeHintBytes = 1 << 20; $0.pollBytesPerShard = pollBytes; $0.intervalMs = 60_000
            $0.whenFull = whenFull
        }
        let pad = String(repeating: "y", count: 600)
        try await h.append((0..<3000).map { simpleEvent(site: "s\($0 % sites)", i: $0, extra: #","title":"\#(pad)""#) })
        return (h, d)
    }

    func testMemoryBoundWritesTheLargestBuffersEarlyAndKeepsReading() async throws {
        // The clock never moves.
        let (h, d) = try await paddedBacklog(sites: 3, pollBytes: 64 << 10, whenFull: .flushLargest)
        var peak = 0, peakHeld = 0
        for _ in 0..<80 {
            try d.runOnce()
            peak = max(peak, d.bufferedByteCount); peakHeld = max(peakHeld, d.heldByteCount)
            XCTAssertGreaterThanOrEqual(d.heldByteCount, d.bufferedByteCount)
        }
        XCTAssertFalse(d.readingPaused)
        XCTAssertLessThan(peak, (1 << 20) + (64 << 10) * 2, "memory stays within the budget")
        // What is held can pass the bound by one poll and by a buffer's doubling (each ≤ 1 MiB here).
        XCTAssertLessThan(peakHeld, 2 << 20 + (64 << 10) * 2, "held memory stays near the budget")
        XCTAssertGreaterThan(d.pressureFlushes, 0)
        let position = try h.stream.consumer("lake-events").position(shardId: "shardId-000000000000")
        XCTAssertEqual(position, 3000, "the consumer read to the end without the interval passing")
        XCTAssertGreaterThan(try h.lines().count, 1000, "objects were written under pressure, before any size or age was due")
        try d.flush()
        XCTAssertEqual(try h.lines().count, 3000)
    }

    func testMemoryBoundCanStopReadingInsteadOfGrowing() async throws {
        let (h, d) = try await paddedBacklog(sites: 3, pollBytes: 64 << 10, whenFull: .stopReading)
        for _ in 0..<40 { try d.runOnce() }
        XCTAssertTrue(d.readingPaused)
        XCTAssertLessThan(d.bufferedByteCount, (1 << 20) + (64 << 10) * 2)
        let position = try h.stream.consumer("lake-events").position(shardId: "shardId-000000000000")
        XCTAssertLessThan(position, 3000, "the consumer stopped before the end: lag grows instead of memory")
        XCTAssertEqual(try d.runOnce(), 0)
        h.clock.advance(byMs: 60_000)
        try d.flush()
        XCTAssertEqual(try h.lines().count, 3000)
    }

    /// The budget bounds what the buffers hold, not the bytes in them: arrays grow by doubling, so
    /// capacity reaches the bound first, and reading stops there.
    func testTheMemoryBoundCountsWhatBuffersHoldNotTheirBytes() async throws {
        let (h, d) = try await paddedBacklog(sites: 12, pollBytes: 16 << 10, whenFull: .stopReading)
        for _ in 0..<200 where !d.readingPaused { try d.runOnce() }
        XCTAssertTrue(d.readingPaused)
        XCTAssertGreaterThanOrEqual(d.heldByteCount, 1 << 20)
        XCTAssertLessThan(d.bufferedByteCount, 1 << 20, "reading stopped on held memory before the bytes reached the bound")
        let st = d.stats()
        XCTAssertEqual(st.memoryBytes, Int64(d.heldByteCount))
        XCTAssertEqual(st.memoryLimitBytes, 1 << 20)
        h.clock.advance(byMs: 60_000)
        try d.flush()
        XCTAssertEqual(try h.lines().count, 3000)
    }

    func testConfigValidationReportsEveryProblemTogether() {
        var c = DeliveryConfig(name: "bad name", prefix: "../x")
        c.sizeHintBytes = 0
        c.intervalMs = 1_000_000
        c.compression = .zstd(level: 40)
        c.transform = ExternalTransformConfig(command: [], timeoutMs: 0)
        let p = c.problems()
        XCTAssertGreaterThanOrEqual(p.count, 6, p.joined(separator: "\n"))
        XCTAssertThrowsError(try validateDeliveries([DeliveryConfig(), DeliveryConfig()])) { e in
            XCTAssertTrue("\(e)".contains("used twice"))
        }
    }

    func testServiceFlushReturnsWhenEverythingAppendedIsDurable() async throws {
        let h = try DeliveryHarness(self)
        let svc = try DeliveryService(lake: h.lake, streams: ["clickstream": h.stream], clock: h.clock, log: { _ in })
        svc.start()
        try await h.append((0..<500).map { simpleEvent(site: "s\($0 % 7)", i: $0) }, key: { "s\($0)" })
        try await svc.flush()
        XCTAssertEqual(try h.lines().count, 500)
        svc.stop()
        XCTAssertEqual(svc.stats().first?.name, "events")
        XCTAssertThrowsError(try DeliveryService(lake: h.lake, streams: [:], configs: [DeliveryConfig()]))
    }

    /// Level 1 uses its own hash table and match length for objects of 64–256 KiB and zstd's
    /// defaults around them: every size round-trips, one compressor going in and out of the range
    /// gives the bytes a fresh one gives, and inside the range the output differs from the
    /// defaults' (the parameters are applied).
    /// At least `bytes` of clickstream-like NDJSON lines.
    private func sampleLines(atLeast bytes: Int) -> [UInt8] {
        var lines: [UInt8] = []
        var i = 0
        while lines.count < bytes {
            lines += Array("{\"site_id\":\"site-\(i % 37)\",\"type\":\"page_view\",\"url\":\"https://s\(i % 37).example/p/\(i % 1013)\",\"ts\":\(1_764_000_000_000 + i * 7919)}\n".utf8)
            i += 1
        }
        return lines
    }

    func testZstdParametersFollowTheObjectSizeAndEverySizeRoundTrips() throws {
        let lines = sampleLines(atLeast: 600 << 10)
        let shared = Compressor(.zstd(level: 1))
        var differs = false
        for size in [20 << 10, 64 << 10, (64 << 10) + 1, 200 << 10, 256 << 10, (256 << 10) + 1, 600 << 10, 150 << 10] {
            let input = Array(lines.prefix(size))
            let out = try shared.compress(input)
            XCTAssertEqual(try Compressor.decompress(out, key: "x.ndjson.zst"), input, "\(size) bytes")
            XCTAssertEqual(out, try Compressor(.zstd(level: 1)).compress(input), "\(size) bytes: the parameters of the previous object do not leak")
            if Compressor.tunedSizes.contains(size) {
                var plain = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
                let n = plain.withUnsafeMutableBytes { o in input.withUnsafeBytes { ZSTD_compress(o.baseAddress, o.count, $0.baseAddress, $0.count, 1) } }
                if Array(plain.prefix(n)) != out { differs = true }
            }
        }
        XCTAssertTrue(differs, "inside the range the tuned parameters change the output")
    }

    /// Several parts compress as one buffer would: one zstd frame with its content size, one gzip
    /// member, or the bytes themselves; empty parts anywhere change nothing.
    func testPartsCompressToTheObjectTheirConcatenationWouldBe() throws {
        let lines = sampleLines(atLeast: 300 << 10)
        let cuts = [0, 0, 1000, 70_000, 70_000, 250_000, lines.count]
        for mode in [LakeCompression.zstd(level: 1), .gzip(level: 6), .none] {
            let c = Compressor(mode)
            let key = "x.ndjson" + mode.fileExtension.replacingOccurrences(of: ".ndjson", with: "")
            let out = try lines.withUnsafeBytes { all in
                try c.compress(parts: (1..<cuts.count).map { UnsafeRawBufferPointer(rebasing: all[cuts[$0 - 1]..<cuts[$0]]) })
            }
            XCTAssertEqual(try Compressor.decompress(out, key: key), lines, "\(mode)")
            XCTAssertEqual(try Compressor.decompress(try c.compress(parts: []), key: key), [], "\(mode): no parts, an empty object")
            if case .zstd = mode {
                XCTAssertEqual(out.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }, UInt64(lines.count))
                XCTAssertEqual(out.withUnsafeBytes { ZSTD_findFrameCompressedSize($0.baseAddress, $0.count) }, out.count, "one frame")
                // The same compressor then compresses a single buffer as a fresh one does.
                let small = Array(lines.prefix(100 << 10))
                XCTAssertEqual(try c.compress(small), try Compressor(mode).compress(small))
            }
            XCTAssertLessThan(out.capacity, out.count + 4096, "\(mode): exact size")
        }
        // Output larger than the streaming scratch (random bytes do not compress) goes through it
        // in several rounds and still makes one frame of the whole.
        var rng = SplitMix64(seed: 7)
        let noise = (0..<(3 << 20)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let c = Compressor(.zstd(level: 1))
        let out = try noise.withUnsafeBytes { all in
            try c.compress(parts: [UnsafeRawBufferPointer(rebasing: all[0..<(1 << 20)]), UnsafeRawBufferPointer(rebasing: all[(1 << 20)...])])
        }
        XCTAssertGreaterThan(out.count, Compressor.maxStreamScratch)
        XCTAssertEqual(try Compressor.decompress(out, key: "x.ndjson.zst"), noise)
        XCTAssertEqual(out.withUnsafeBytes { ZSTD_findFrameCompressedSize($0.baseAddress, $0.count) }, out.count, "one frame")
    }

    /// A flush by age writes a partition's chunks of every shard as one object, named by its lowest
    /// shard's range; its manifest entry lists every shard's range, and each matches the records.
    func testAFlushWritesAPartitionsChunksOfEveryShardAsOneObject() async throws {
        let h = try DeliveryHarness(self, shards: 4)
        let d = try h.delivery { $0.workers = 2 }
        try await h.append((0..<400).map { simpleEvent(site: "s\($0 % 2)", i: $0) })
        try d.flush()
        let keys = try h.lake.list(prefix: "events")
        XCTAssertEqual(keys.count, 2, "one object per partition: \(keys)")
        let manifests = try h.lake.list(prefix: "_manifests/events")
        XCTAssertEqual(manifests.count, 1, "both objects start at shard 0: one manifest")
        let entries = try manifests.flatMap { Manifest.decode(try h.lake.read($0)) ?? [] }
        XCTAssertEqual(entries.map(\.url).sorted(), keys)
        var total = 0
        for key in keys {
            XCTAssertTrue(key.hasSuffix("-shards-4.ndjson.zst"), key)
            let entry = try XCTUnwrap(entries.first { $0.url == key })
            XCTAssertEqual(entry.ranges.map(\.first.shardIndex), [0, 1, 2, 3])
            XCTAssertEqual(LakeLayout.parseObjectName(key)?.first, entry.ranges[0].first)
            let lines = try Compressor.decompress(try h.lake.read(key), key: key).split(separator: 0x0A).map {
                try JSONSerialization.jsonObject(with: Data($0)) as! [String: Any]
            }
            XCTAssertEqual(lines.count, entry.records)
            total += lines.count
            for r in entry.ranges {
                let mine = lines.filter { $0["shard"] as? String == ShardID.make(r.first.shardIndex) }
                    .compactMap { SequenceNumber($0["seq"] as? String ?? "") }
                XCTAssertEqual(mine.first, r.first, key)
                XCTAssertEqual(mine.last, r.last, key)
            }
        }
        XCTAssertEqual(total, 400)
        XCTAssertEqual(d.stats().objectsWritten, 2)
    }

    /// A compressed object keeps only its own bytes: the bound-sized scratch (about the input's
    /// size) stays in the compressor, or every object of a flush would pin ~11× its size.
    func testCompressedObjectsDoNotKeepTheBoundSizedBuffer() throws {
        let input = Array(String(repeating: "{\"site_id\":\"s\",\"type\":\"page_view\"}\n", count: 30_000).utf8)
        for mode in [LakeCompression.zstd(level: 1), .gzip(level: 6)] {
            let c = Compressor(mode)
            let out = try c.compress(input)
            XCTAssertLessThan(out.count, input.count / 20, "\(mode) compresses")
            XCTAssertLessThan(out.capacity, out.count + 4096, "\(mode): capacity \(out.capacity) for \(out.count) bytes")
            let key = { if case .zstd = mode { return "x.ndjson.zst" } else { return "x.ndjson.gz" } }()
            XCTAssertEqual(try Compressor.decompress(out, key: key), input)
        }
    }
}
