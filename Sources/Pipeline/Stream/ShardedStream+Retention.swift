import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What one retention pass removed.
public struct RetentionReport: Sendable, Equatable {
    public var deletedSegments: Int = 0
    public var deletedBytes: Int64 = 0
    public var deletedRecords: UInt64 = 0
    /// Segments past the age limit kept because a consumer has not read them yet.
    public var keptForConsumers: Int = 0
    /// Records removed by the size limit before a consumer read them: app → shardId → records.
    public var lostByConsumer: [String: [String: UInt64]] = [:]
}

extension ShardedStream {
    /// Deletes whole segments: those whose newest record is older than the retention period
    /// (unless a consumer still needs them), then the oldest ones while the stream is over its
    /// size limit (consumers that had not read them are told how many records they lost).
    /// The active segment of an OPEN shard is rolled first when it is entirely expired.
    @discardableResult
    public func enforceRetention() throws -> RetentionReport {
        cond.lock(); defer { cond.unlock() }
        var report = RetentionReport()
        let cutoff = clock.nowMs() - config.retentionMs

        // Offset each shard must keep from: the lowest next-read position of any application.
        // An application found on disk with no checkpoint at all (and not opened by this
        // process) has nothing to resume from, so it pins nothing.
        func needed(_ idx: Int) -> UInt64 {
            var m = UInt64.max
            for st in consumers.values where !(st.checkpoint.isEmpty && st.position.isEmpty) {
                let p = st.checkpoint[idx] ?? st.position[idx] ?? 0
                m = min(m, p)
            }
            return m
        }

        for s in shards {
            // Roll an idle, fully expired active segment so it can go.
            if s.isOpen, let last = s.segments.last, !last.isEmpty, last.lastArrivalMs < cutoff,
               s.durableOffset == s.nextOffset, needed(s.desc.index) >= last.nextOffset {
                try roll(s)
            }
            while let first = s.segments.first {
                let isActive = s.isOpen && s.segments.count == 1
                if isActive { break }
                if first.isEmpty && s.segments.count > 1 { try deleteFirstSegment(s, into: &report); continue }
                guard first.lastArrivalMs < cutoff else { break }
                if needed(s.desc.index) < first.nextOffset { report.keptForConsumers += 1; break }
                try deleteFirstSegment(s, into: &report)
            }
        }

        if let limit = config.retentionBytes {
            var total = shards.reduce(Int64(0)) { $0 + $1.sizeBytes }
            while total > limit {
                // Oldest deletable segment across shards: the first of each shard, not an active one.
                var pick: Shard? = nil
                for s in shards {
                    guard let f = s.segments.first, !(s.isOpen && s.segments.count == 1) else { continue }
                    if pick == nil || f.lastArrivalMs < pick!.segments[0].lastArrivalMs { pick = s }
                }
                guard let s = pick else { break }
                let seg = s.segments[0]
                for st in consumers.values {
                    // Loss is counted from what this application reads next in this process.
                    let p = st.position[s.desc.index] ?? st.checkpoint[s.desc.index] ?? 0
                    if p < seg.nextOffset {
                        let lost = seg.nextOffset - max(p, seg.baseOffset)
                        st.lost[s.desc.index, default: 0] += lost
                        report.lostByConsumer[st.app, default: [:]][s.desc.shardId, default: 0] += lost
                        if (st.position[s.desc.index] ?? 0) < seg.nextOffset { st.position[s.desc.index] = seg.nextOffset }
                        config.log("size retention removed \(lost) record(s) of \(s.desc.shardId) that consumer \(st.app) had not read")
                    }
                }
                total -= seg.size
                try deleteFirstSegment(s, into: &report)
            }
        }
        retentionDeletedSegments += Int64(report.deletedSegments)
        return report
    }

    private func deleteFirstSegment(_ s: Shard, into report: inout RetentionReport) throws {
        let seg = s.segments.removeFirst()
        if unlink(seg.file.path) != 0 && errno != ENOENT {
            s.segments.insert(seg, at: 0)
            throw StreamError(.io, "cannot delete expired segment: \(FileIO.errnoText())", path: seg.file.path)
        }
        unlink(SegmentIndexFile.path(forSegment: seg.file.path))
        report.deletedSegments += 1
        report.deletedBytes += seg.size
        report.deletedRecords += seg.nextOffset - seg.baseOffset
    }
}
