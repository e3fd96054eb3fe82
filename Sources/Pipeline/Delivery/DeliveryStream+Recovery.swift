import Foundation

/// Reconciling the lake with the stream at start: which records after the checkpoints are
/// already in objects a manifest lists (skipped when read again), and which objects no manifest
/// lists (removed; their records are delivered again).
extension DeliveryStream {
    private func nextCheckpointed(_ shard: Int) -> UInt64 {
        (try? consumer.checkpointedOffset(shardId: ShardID.make(shard))).flatMap { $0 } ?? 0
    }

    /// After a crash the consumer resumes at its checkpoints, which may be behind records already
    /// in durable objects (other partitions were still buffering). Manifests say which: those
    /// records are skipped, so redelivery never duplicates them. Objects written without their
    /// manifest are removed; their records are delivered again (usually under the same name).
    ///
    /// Only the hours that can hold such records are read (`recoveryHorizonMs`), not every
    /// manifest and object the lake ever got: a start would otherwise grow with the lake's age.
    func recover() throws {
        guard let found = recoveryHorizonMs() else { return }   // no record left in any shard: nothing to reconcile
        let bounded = found != .min
        let horizon = max(0, found)
        var manifestKeys: [String] = []
        var objectKeys: [String] = []
        var errorKeys: [String] = []
        let manifestRoot = "_manifests/" + config.name
        let formatErrors = "errors/" + DeliveryErrorType.formatConversionFailed.rawValue
        if bounded {
            for hour in try hourPrefixes(under: manifestRoot, fromMs: horizon) { manifestKeys += try lake.list(prefix: hour) }
            // Manifests from before the hour directories sit in the root, named by their write time.
            let since = LakeLayout.manifestTime(horizon)
            manifestKeys += try lake.children(of: manifestRoot).filter { $0.hasSuffix(".json") && $0 >= since }.map { manifestRoot + "/" + $0 }
            for site in try lake.children(of: config.prefix) where site.hasPrefix("site=") {
                for hour in try hourPrefixes(under: config.prefix + "/" + site, fromMs: horizon) { objectKeys += try lake.list(prefix: hour) }
            }
            let (day, _) = LakeLayout.dateHour(horizon)
            for dt in try lake.children(of: formatErrors) where dt.hasPrefix("dt=") && String(dt.dropFirst(3)) >= day {
                errorKeys += try lake.list(prefix: formatErrors + "/" + dt)
            }
        } else {
            manifestKeys = try lake.list(prefix: manifestRoot)
            objectKeys = try lake.list(prefix: config.prefix)
            errorKeys = try lake.list(prefix: formatErrors)
        }
        // Checkpoints do not move during recovery: read each shard's once, not once per key.
        var checkpoints: [Int: UInt64] = [:]
        func nextCheckpointed(_ shard: Int) -> UInt64 {
            if let c = checkpoints[shard] { return c }
            let c = self.nextCheckpointed(shard); checkpoints[shard] = c; return c
        }
        var inManifest = Set<String>()
        for key in manifestKeys where key.hasSuffix(".json") {
            guard let entries = Manifest.decode(try lake.read(key)) else { log("recovery: unreadable manifest \(key) ignored"); continue }
            for e in entries {
                inManifest.insert(e.url)
                guard let n = LakeLayout.parseObjectName(e.url), n.delivery == config.name, let site = LakeLayout.site(ofKey: e.url) else { continue }
                // Every shard's range (an object of several shards names only its first).
                let ranges = e.sequenceRanges(named: n)
                if n.shardCount != ranges.count { log("recovery: \(e.url) names \(n.shardCount) shard(s), its entry lists \(ranges.count)") }
                for r in ranges where r.first.shardIndex == r.last.shardIndex {
                    let s = r.first.shardIndex
                    guard r.last.offset >= nextCheckpointed(s) else { continue }
                    delivered[s, default: [:]][site, default: []].append(r.first.offset...r.last.offset)
                    deliveredMax[s] = max(deliveredMax[s] ?? 0, r.last.offset)
                }
            }
        }
        var orphans = 0
        // An object no manifest lists is removed when any of its records lies at or after its
        // shard's checkpoint: those are read again, and delivered again. One whose records are all
        // behind the checkpoints is kept: its manifest may sit before the hours recovery reads.
        // The name carries the lowest shard's range; an object of several shards whose named range
        // is behind is read for the others, which may still be ahead (a failed flush whose cleanup
        // also failed, then a redelivery of only some of its shards before a crash).
        for key in objectKeys {
            guard let n = LakeLayout.parseObjectName(key), n.delivery == config.name, !inManifest.contains(key) else { continue }
            var ahead = n.last.offset >= nextCheckpointed(n.shardIndex)
            if !ahead && n.shardCount > 1 {
                guard let raw = try? Compressor.decompress(try lake.read(key), key: key) else {
                    log("recovery: \(key) is listed by no manifest and cannot be read; left in place"); continue
                }
                ahead = raw.split(separator: 0x0A).contains { line in
                    LakeLayout.lastSequenceNumber(in: line).map { $0.offset >= nextCheckpointed($0.shardIndex) } ?? false
                }
            }
            if ahead { try lake.delete(key); orphans += 1 }
        }
        if orphans > 0 { log("recovery: removed \(orphans) object(s) written without a manifest; their records are delivered again") }
        // Format errors are deterministic without an external transform: skip ones already written.
        if config.transform == nil {
            for key in errorKeys {
                guard let n = LakeLayout.parseObjectName(key), n.delivery == config.name, n.last.offset >= nextCheckpointed(n.shardIndex) else { continue }
                errorRanges[n.shardIndex, default: []].append(n.first.offset...n.last.offset)
            }
        }
        let skipped = delivered.values.reduce(0) { $0 + $1.count }
        if skipped > 0 { log("recovery: \(skipped) partition range(s) after the checkpoint are already delivered and will be skipped") }
    }

    /// Clock steps (NTP) between a record's arrival and a later manifest's write time, allowed for.
    static let recoveryClockMarginMs: Int64 = 3_600_000

    /// How far back recovery must look, in epoch ms: the earliest arrival, over the shards, of the
    /// first record after the shard's checkpoint, less `recoveryClockMarginMs`. What recovery
    /// reconciles all lies at or after it:
    /// - a manifest that lists a record after the checkpoint was written after that record was
    ///   read, so its hour directory is not older than the record's arrival (arrival times do not
    ///   decrease along a shard);
    /// - an object written without its manifest holds only records after the checkpoint (the
    ///   checkpoint moves only past chunks whose objects and manifests are durable), so its
    ///   partition hour, its oldest record's arrival, is not older either.
    /// A shard with nothing after its checkpoint counts with its last record instead: a stream that
    /// does not fsync can lose records to a power cut after delivery read them, and what delivery
    /// wrote of those arrived later still (before this horizon, recovery read everything, which
    /// covered that case; so does this).
    /// nil when no shard has a record left (nothing to reconcile); `.min` when it cannot tell (a read
    /// failed, or retention removed records past a checkpoint): read everything.
    func recoveryHorizonMs() -> Int64? {
        var earliest: Int64? = nil
        for (idx, end) in stream.durableEnds() where end > 0 {
            let next = nextCheckpointed(idx)
            let pending = next < end
            guard let b = try? stream.read(shardIndex: idx, from: pending ? next : end - 1, maxRecords: 1,
                                           maxBytes: Frame.maxDataBytes + Frame.maxKeyBytes) else { return .min }
            if b.skippedByRetention > 0 {
                if pending { return .min }
                continue   // read, checkpointed and expired: nothing of this shard is left to reconcile
            }
            guard let r = b.records.first else { continue }
            earliest = min(earliest ?? .max, r.arrivalMs)
        }
        return earliest.map { $0 - Self.recoveryClockMarginMs }
    }

    /// `root/dt=…/hr=…` prefixes of the UTC hours from the one holding `fromMs` on.
    private func hourPrefixes(under root: String, fromMs: Int64) throws -> [String] {
        let (day0, hour0) = LakeLayout.dateHour(fromMs)
        var out: [String] = []
        for dt in try lake.children(of: root) where dt.hasPrefix("dt=") {
            let day = String(dt.dropFirst(3))   // YYYY-MM-DD sorts as the dates do
            guard day >= day0 else { continue }
            for hr in try lake.children(of: root + "/" + dt) where hr.hasPrefix("hr=") {
                if day == day0 && String(hr.dropFirst(3)) < hour0 { continue }
                out.append(root + "/" + dt + "/" + hr)
            }
        }
        return out
    }
}
