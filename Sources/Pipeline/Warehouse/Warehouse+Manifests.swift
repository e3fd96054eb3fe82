import CSQLite
import Foundation
import Metrics

/// Manifests on disk and the ledger of loaded objects and manifests.
extension Warehouse {
    // MARK: Manifests

    /// What a listing learnt of one directory under `_manifests/`.
    struct ManifestDirState {
        var mtimeNs: Int64
        /// No pending manifest directly inside, and the mtime predates the listing (not racy).
        var settled: Bool
        /// Settled, and so is every directory below.
        var deepSettled: Bool
        var subdirs: [String]
        /// Manifests found loaded in an unsettled directory (the current hour's): a relisting
        /// skips them without parsing their names or asking the ledger. Loaded stays loaded (both
        /// readers see committed rows only). Dropped once the directory settles.
        var loaded: Set<String> = []
    }

    struct Manifest {
        struct Entry { var url: String; var mandatory: Bool; var contentLength: Int64?; var records: Int64? }
        var delivery: String
        var name: String
        var path: String
        var entries: [Entry]
        /// Epoch ms from the 20-digit prefix of the name.
        var writtenMs: Int64?
    }

    /// The manifests on disk not yet in `loaded_manifests` (as `c` sees it), in (delivery, name) order.
    ///
    /// Manifests live under `_manifests/<delivery>/dt=…/hr=…/` (the hour they were written in; older
    /// lakes have them directly under `<delivery>/`, still read). Listing every manifest ever written
    /// on every loader pass and every stats call (several a second) made a node's CPU grow with its
    /// age, so a directory is remembered as *settled* once a listing found no pending manifest in it
    /// and its mtime was already older than `racyMtimeNs` (a rename in the same clock tick as the
    /// listing leaves the mtime unchanged, as git's "racy" index entries). A settled directory is
    /// only `stat`ed: a new manifest changes its mtime and it is listed again. A whole day is skipped,
    /// not even `stat`ed, once everything in it is settled and both the newest manifest seen anywhere
    /// (the writers' clock, from the names) and this process's clock are more than `dayRetireMs`
    /// past the day's end: a manifest is named and placed by the time it is written, so no new one
    /// can land there.
    /// Completed manifests are neither read nor cached.
    func listManifests(_ c: SQLiteConnection? = nil) throws -> [Manifest] {
        let conn = c ?? writer
        let root = (lakeRoot as NSString).appendingPathComponent("_manifests")
        let fm = FileManager.default
        guard let deliveries = try? fm.contentsOfDirectory(atPath: root) else { return [] }
        let done = try conn.statement("SELECT 1 FROM loaded_manifests WHERE delivery = ? AND name = ?")
        let listStartNs = SystemClock().nowMs() * 1_000_000
        var out: [Manifest] = []
        defer {
            let keep = Dictionary(out.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
            cacheLock.lock(); manifestCache = keep; cacheLock.unlock()
        }
        cacheLock.lock()
        let newest = newestManifestMs
        cacheLock.unlock()
        var newestSeen = newest
        // A day retires by both clocks: one writer's clock running ahead must not retire today.
        let horizon = min(newest, now())

        /// Lists `dir` (or trusts its settled state), appending pending manifests; returns whether
        /// the directory and everything below it is settled.
        func walk(_ dir: String, delivery: String) throws -> Bool {
            var st = stat()
            guard lstat(dir, &st) == 0 else { return true }
            let mtimeNs = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
            cacheLock.lock()
            let known = manifestDirs[dir]
            cacheLock.unlock()
            let name = (dir as NSString).lastPathComponent
            if let known, known.deepSettled, let end = Self.dayEndMs(name), horizon - end > Self.dayRetireMs {
                return true
            }
            var subdirs: [String]
            var settledHere: Bool
            var loaded = known?.loaded ?? []
            if let known, known.settled, known.mtimeNs == mtimeNs {
                subdirs = known.subdirs
                settledHere = true
            } else {
                // The current hour's directory gains a manifest every few hundred ms and is listed
                // on every stats call: names already known loaded cost a set lookup, not a parse,
                // a ledger query and a place in a sort (that grew with the hour, visibly in CPU).
                guard let names = try? fm.contentsOfDirectory(atPath: dir) else { return true }
                subdirs = []
                settledHere = mtimeNs < listStartNs - Self.racyMtimeNs
                var pending: [String] = []
                for n in names where !loaded.contains(n) {
                    if n.hasSuffix(".json") {
                        if let ms = Self.namePrefixMs(n) { newestSeen = max(newestSeen, ms) }
                        sqlite3_reset(done.s)
                        done.bind(1, delivery); done.bind(2, n)
                        if try done.step() { loaded.insert(n); continue }
                        settledHere = false
                        pending.append(n)
                    } else if n.hasPrefix("dt=") || n.hasPrefix("hr=") {
                        subdirs.append((dir as NSString).appendingPathComponent(n))
                    }
                }
                subdirs.sort()
                for n in pending.sorted() {
                    out.append(try manifest(at: (dir as NSString).appendingPathComponent(n), delivery: delivery, name: n))
                }
            }
            if settledHere { loaded = [] }
            var deep = settledHere
            for sub in subdirs where !(try walk(sub, delivery: delivery)) { deep = false }
            cacheLock.lock()
            manifestDirs[dir] = ManifestDirState(mtimeNs: mtimeNs, settled: settledHere, deepSettled: deep, subdirs: subdirs, loaded: loaded)
            cacheLock.unlock()
            return deep
        }
        defer { sqlite3_reset(done.s) }
        for d in deliveries.sorted() {
            let dir = (root as NSString).appendingPathComponent(d)
            let before = out.count
            _ = try walk(dir, delivery: d)
            // Legacy flat files and dated ones interleave by name (their 20-digit time prefix).
            out[before...].sort { $0.name < $1.name }
        }
        cacheLock.lock(); newestManifestMs = max(newestManifestMs, newestSeen); cacheLock.unlock()
        return out
    }

    /// The epoch ms of a manifest name's leading digits (its 20-digit time prefix).
    static func namePrefixMs(_ name: String) -> Int64? {
        var v: Int64 = 0, digits = 0
        for b in name.utf8 {
            guard b >= 0x30, b <= 0x39, digits < 20 else { break }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(b - 0x30))
            if o1 || o2 { return nil }
            v = a; digits += 1
        }
        return digits > 0 ? v : nil
    }

    /// A parsed manifest, from the cache of pending ones or from disk.
    private func manifest(at path: String, delivery: String, name: String) throws -> Manifest {
        cacheLock.lock()
        let cached = manifestCache[path]
        cacheLock.unlock()
        if let cached { return cached }
        guard let data = FileManager.default.contents(atPath: path),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let entries = obj["entries"] as? [[String: Any]] else {
            throw LakeReadError(path: path, message: "not a manifest ({\"entries\":[…]})")
        }
        let es = entries.compactMap { e -> Manifest.Entry? in
            guard let url = e["url"] as? String else { return nil }
            let meta = e["meta"] as? [String: Any]
            return Manifest.Entry(url: url, mandatory: (e["mandatory"] as? Bool) ?? false,
                                  contentLength: (meta?["content_length"] as? NSNumber)?.int64Value,
                                  records: (meta?["records"] as? NSNumber)?.int64Value)
        }
        let m = Manifest(delivery: delivery, name: name, path: path, entries: es,
                         writtenMs: Int64(name.prefix(while: { $0.isNumber })))
        cacheLock.lock(); manifestCache[path] = m; cacheLock.unlock()
        return m
    }

    /// A directory's mtime within this much of a listing's start is not trusted to settle it.
    static let racyMtimeNs: Int64 = 2_000_000_000
    /// A day directory is retired this long after its end (by the newest manifest's time).
    static let dayRetireMs: Int64 = 2 * 3_600_000

    /// End of the day named by a `dt=YYYY-MM-DD` directory, epoch ms; nil for other names.
    static func dayEndMs(_ name: String) -> Int64? {
        guard name.hasPrefix("dt="), name.utf8.count == 13 else { return nil }
        let p = name.dropFirst(3).split(separator: "-")
        guard p.count == 3, let y = Int(p[0]), let m = Int(p[1]), let d = Int(p[2]) else { return nil }
        return Int64(RFC3339.daysFromCivil(year: y, month: m, day: d) + 1) * 86_400_000
    }

    /// Resolves a manifest url (relative to the lake root; an `s3://bucket/` or `file://` prefix is
    /// tolerated and stripped to the key) to a local path.
    func localPath(_ url: String) -> String {
        var u = url
        if u.hasPrefix("file://") { return String(u.dropFirst(7)) }
        if u.hasPrefix("s3://") { u = String(u.dropFirst(5)); if let i = u.firstIndex(of: "/") { u = String(u[u.index(after: i)...]) } }
        return (lakeRoot as NSString).appendingPathComponent(u)
    }

    func isLoaded(_ url: String, _ c: SQLiteConnection? = nil) throws -> Bool {
        let s = try (c ?? writer).statement("SELECT 1 FROM loaded_objects WHERE url = ?")
        defer { sqlite3_reset(s.s) }
        s.bind(1, url)
        return try s.step()
    }
}
