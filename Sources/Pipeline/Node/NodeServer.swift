import Foundation
import Logging
import Metrics

/// The HTTP face of a node: the collector serving the node's stream, with the node's snapshot
/// behind /v1/stats and /metrics, its warehouse behind /v1/query, and its flush behind
/// /v1/admin/flush. Used by `eddy serve` and embedded in `eddy demo`.
public enum NodeServer {
    public static func make(node: EmbeddedNode, config: CollectorConfig, logger: Logger) throws -> CollectorServer {
        let keys = try KeyRing(dataDirectory: config.dataDirectory, log: { logger.notice("\($0)") })
        let hooks = CollectorHooks(
            snapshot: { node.publisher.latest },
            query: { body in try await query(node: node, body: body) },
            flush: {
                let t0 = Date()
                let report = try await node.flush()
                let doc: [String: Any] = ["flushed": true, "elapsedMs": Date().timeIntervalSince(t0) * 1000,
                                          "load": report?.description ?? "no warehouse"]
                return Array(try JSONSerialization.data(withJSONObject: doc))
            })
        let server = CollectorServer(config: config, registry: StreamRegistry(defaultStream: node.stream),
                                     keys: keys, hooks: hooks, logger: logger)
        // HTTP ingest is what the snapshot's collector figures mean once a server is in front
        // (the demo's simulator thread counts its own appends instead).
        if node.options.simulatorRate == 0 {
            node.addSnapshotContributor { $0.collector = server.metrics.stats() }
        }
        return server
    }

    /// `POST /v1/query` `{"sql": "..."}` → `{"columns":[…],"rows":[[…]],"elapsedMs":…,"bytesScanned":…,"priceUSD":…}`;
    /// errors → 400 `{"error": kind, "message": …, "offset": …}`.
    static func query(node: EmbeddedNode, body: [UInt8]) async throws -> (status: Int, body: [UInt8]) {
        guard let o = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], let sql = o["sql"] as? String,
              !sql.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            return (400, Array(#"{"error":"bad_request","message":"body must be {\"sql\": \"SELECT …\"}"}"#.utf8))
        }
        let limit = min(max((o["rowLimit"] as? Int) ?? 10_000, 1), 100_000)
        do {
            let r = try await node.query(sql, rowLimit: limit)
            var doc: [String: Any] = [
                "columns": r.columns,
                "rows": r.rows.map { $0.map(jsonValue) },
                "elapsedMs": r.elapsedMs,
                "truncated": r.truncated,
            ]
            if let b = r.bytesScanned { doc["bytesScanned"] = b }
            if let p = r.priceUSD { doc["priceUSD"] = p }
            return (200, Array(try JSONSerialization.data(withJSONObject: doc)))
        } catch let e as QueryError {
            var doc: [String: Any] = ["error": e.kind.rawValue, "message": e.message]
            if let off = e.offset { doc["offset"] = off }
            return (400, Array(try JSONSerialization.data(withJSONObject: doc)))
        }
    }

    static func jsonValue(_ v: SQLValue) -> Any {
        switch v {
        case .null: return NSNull()
        case .integer(let x): return x
        case .real(let x): return x.isFinite ? x : NSNull()
        case .text(let s): return s
        case .blob(let b): return Data(b).base64EncodedString()
        }
    }
}
