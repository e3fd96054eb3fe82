import CSQLite
import Foundation

/// Manifests on disk and the ledger of loaded objects and manifests.
extension Warehouse {
    // MARK: Manifests

    struct Manifest {
        struct Entry { var url: String; var mandatory: Bool; var contentLength: Int64?; var records: Int64? }
        var delivery: String
        var name: String
        var path: String
        var entries: [Entry]
        /// Epoch ms from the 20-digit prefix of the name.
        var writtenMs: Int64?
    }

    /// The manifests on disk whose "delivery/name" is not in `completed`, in (delivery, name) order.
    /// Completed ones are neither read nor kept in the cache.
    func listManifests(excluding completed: Set<String> = []) throws -> [Manifest] {
        let root = (lakeRoot as NSString).appendingPathComponent("_manifests")
        let fm = FileManager.default
        guard let deliveries = try? fm.contentsOfDirectory(atPath: root) else { return [] }
        var out: [Manifest] = []
        defer {
            let keep = Dictionary(out.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
            cacheLock.lock(); manifestCache = keep; cacheLock.unlock()
        }
        for d in deliveries.sorted() {
            let dir = (root as NSString).appendingPathComponent(d)
            guard let names = try? fm.contentsOfDirectory(atPath: dir) else { continue }
            for n in names.sorted() where n.hasSuffix(".json") && !completed.contains(d + "/" + n) {
                let path = (dir as NSString).appendingPathComponent(n)
                cacheLock.lock()
                let cached = manifestCache[path]
                cacheLock.unlock()
                if let cached { out.append(cached); continue }
                guard let data = fm.contents(atPath: path),
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
                let m = Manifest(delivery: d, name: n, path: path, entries: es,
                                 writtenMs: Int64(n.prefix(while: { $0.isNumber })))
                cacheLock.lock(); manifestCache[path] = m; cacheLock.unlock()
                out.append(m)
            }
        }
        return out
    }

    /// Resolves a manifest url (relative to the lake root; an `s3://bucket/` or `file://` prefix is
    /// tolerated and stripped to the key) to a local path.
    func localPath(_ url: String) -> String {
        var u = url
        if u.hasPrefix("file://") { return String(u.dropFirst(7)) }
        if u.hasPrefix("s3://") { u = String(u.dropFirst(5)); if let i = u.firstIndex(of: "/") { u = String(u[u.index(after: i)...]) } }
        return (lakeRoot as NSString).appendingPathComponent(u)
    }

    func completedManifests(_ c: SQLiteConnection? = nil) throws -> Set<String> {
        let s = try (c ?? writer).statement("SELECT delivery || '/' || name FROM loaded_manifests")
        var out = Set<String>()
        while try s.step() { out.insert(s.text(0) ?? "") }
        return out
    }

    func isLoaded(_ url: String, _ c: SQLiteConnection? = nil) throws -> Bool {
        let s = try (c ?? writer).statement("SELECT 1 FROM loaded_objects WHERE url = ?")
        defer { sqlite3_reset(s.s) }
        s.bind(1, url)
        return try s.step()
    }
}
