import ArgumentParser
import Foundation
import Pipeline
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run read-only SQL on the warehouse (or over lake files through lake_events).",
        discussion: """
        Tables: events, sessions, sites, rollup_minute, rollup_page_hour, rollup_channel_day,
        rollup_geo_device_day, rollup_site_day, and lake_events (SQL straight over the lake objects;
        prints bytes scanned and the Athena-style price). docs/WAREHOUSE.md defines every column.
        Writes, ATTACH, pragma changes and extensions are refused. Exit status 1 on error.
        """)
    @Option(help: "Data directory.") var data: String = "./eddy-data"
    @Option(help: "Query a remote node instead (POST <URL>/v1/query).") var connect: String?
    @Option(help: "Admin token for --connect (or EDDY_ADMIN_TOKEN).") var token: String?
    @Option(help: "Output format: table, csv or json.") var format: String = "table"
    @Option(help: "Run a shipped named query instead of SQL (see --list-saved).") var saved: String?
    @Option(help: "Site for a named query.") var site: String?
    @Flag(help: "List the shipped named queries.") var listSaved = false
    @Flag(help: "Show the query plan (EXPLAIN QUERY PLAN) instead of running it.") var explain = false
    @Flag(help: "Load pending lake manifests into the warehouse first.") var load = false
    @Option(help: "Rows to display at most.") var limit: Int = 1000
    @Option(help: "Time limit in seconds.") var timeout: Double = 10
    @Argument(help: "The SQL to run.") var sql: String?

    func validate() throws {
        guard ResultFormat(rawValue: format) != nil else { throw ValidationError("--format must be table, csv or json") }
        if !listSaved {
            if saved == nil && sql == nil { throw ValidationError("give SQL, --saved NAME --site SITE, or --list-saved") }
            if saved != nil && sql != nil { throw ValidationError("give either SQL or --saved, not both") }
            if let saved {
                guard NamedQueries.named(saved) != nil else {
                    throw ValidationError("no named query '\(saved)'; known: \(NamedQueries.all.map(\.name).joined(separator: ", "))")
                }
                if site == nil { throw ValidationError("--saved needs --site SITE") }
            }
        }
        if limit < 1 { throw ValidationError("--limit must be ≥ 1") }
        if timeout <= 0 { throw ValidationError("--timeout must be > 0") }
    }

    func run() async throws {
        if listSaved {
            let w = NamedQueries.all.map(\.name.count).max() ?? 0
            for q in NamedQueries.all {
                print(q.name.padding(toLength: w, withPad: " ", startingAt: 0) + "  " + q.summary)
            }
            return
        }
        let text = saved.flatMap { NamedQueries.named($0)?.sql(site: site ?? "") } ?? sql ?? ""
        let fmt = ResultFormat(rawValue: format)!
        let result: SQLQueryResult
        do {
            if let connect {
                result = try await remote(connect, text)
            } else {
                guard FileManager.default.fileExists(atPath: data) else {
                    throw ValidationError("no data directory at \(data) (use --data DIR)")
                }
                let wh = try Warehouse(dataDirectory: data)
                if load {
                    let r = try wh.loadPending()
                    FileHandle.standardError.write(Data("loaded: \(r)\n".utf8))
                    for e in r.errors { FileHandle.standardError.write(Data("load error: \(e)\n".utf8)) }
                }
                let runner = try QueryRunner(databasePath: wh.databasePath, lakeRoot: wh.lakeRoot, timeLimit: timeout)
                result = try runner.run(text, explain: explain, rowLimit: limit)
            }
        } catch let e as QueryError {
            FileHandle.standardError.write(Data("eddy query: \(e)\n".utf8))
            throw ExitCode(1)
        } catch let e as ValidationError {
            throw e
        } catch {
            FileHandle.standardError.write(Data("eddy query: \(error)\n".utf8))
            throw ExitCode(1)
        }
        print(fmt.render(result), terminator: "")
        if let bytes = result.bytesScanned, let price = result.priceUSD, fmt == .table {
            print(formatScan(bytes: bytes, price: price))
        }
    }

    struct RemoteError: Error, CustomStringConvertible { var description: String }

    func remote(_ base: String, _ sql: String) async throws -> SQLQueryResult {
        guard let url = URL(string: base.hasSuffix("/") ? base + "v1/query" : base + "/v1/query") else {
            throw RemoteError(description: "--connect: not a URL: \(base)")
        }
        var req = URLRequest(url: url)
        req.httpMethod = "POST"
        req.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let t = token ?? ProcessInfo.processInfo.environment["EDDY_ADMIN_TOKEN"] {
            req.setValue("Bearer \(t)", forHTTPHeaderField: "Authorization")
        }
        req.httpBody = try JSONSerialization.data(withJSONObject: ["sql": sql])
        req.timeoutInterval = timeout + 5
        let (data, resp): (Data, URLResponse)
        do { (data, resp) = try await URLSession.shared.data(for: req) } catch {
            throw RemoteError(description: "cannot reach \(url.absoluteString): \(error.localizedDescription)")
        }
        let status = (resp as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            throw RemoteError(description: "\(url.absoluteString) answered HTTP \(status): \(String(decoding: data.prefix(500), as: UTF8.self))")
        }
        if let r = try? JSONDecoder().decode(SQLQueryResult.self, from: data) { return r }
        // A plainer shape: {"columns":[…],"rows":[[…]],"elapsedMs":…}
        guard let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let cols = o["columns"] as? [String] else {
            throw RemoteError(description: "unexpected answer from \(url.absoluteString): \(String(decoding: data.prefix(300), as: UTF8.self))")
        }
        let rows = (o["rows"] as? [[Any]] ?? []).map { $0.map { v -> SQLValue in
            if v is NSNull { return .null }
            if let s = v as? String { return .text(s) }
            if let n = v as? NSNumber { return n.doubleValue == Double(n.int64Value) ? .integer(n.int64Value) : .real(n.doubleValue) }
            return .text("\(v)")
        } }
        return SQLQueryResult(columns: cols, rows: rows, truncated: false, elapsedMs: (o["elapsedMs"] as? Double) ?? 0,
                              bytesScanned: (o["bytesScanned"] as? NSNumber)?.int64Value, priceUSD: o["priceUSD"] as? Double)
    }
}
