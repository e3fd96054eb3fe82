import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Metrics
import TUI

struct Dash: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open the terminal dashboard on a remote node (reads /v1/stats and /v1/query).",
        discussion: "The admin token comes from --token, else EDDY_ADMIN_TOKEN, else <data>/admin-token of a local node.")
    @Option(help: "Node URL, e.g. http://127.0.0.1:4567.") var connect: String
    @Option(help: "Admin token (or EDDY_ADMIN_TOKEN).") var token: String?
    @Option(help: "Theme name from themes/.") var theme: String = "default"
    @Option(help: "Refresh interval in milliseconds.") var refresh: Int = 1000
    @Flag(help: "Draw with ASCII only.") var ascii = false

    func run() async throws {
        ProcessMemory.configureForLongRun()
        guard let base = URL(string: connect), base.scheme == "http" || base.scheme == "https" else {
            throw ValidationError("--connect must be an http(s) URL like http://127.0.0.1:4567")
        }
        let tok = token ?? ProcessInfo.processInfo.environment["EDDY_ADMIN_TOKEN"]
        let client = RemoteNode(base: base, token: tok)
        try await Dashboard.run(source: client, query: client, theme: theme,
                                options: DashboardOptions(ascii: ascii, refreshMs: refresh))
    }
}

/// A node over HTTP: `/v1/stats` for snapshots, `/v1/query` for the query pane.
struct RemoteNode: SnapshotSource, QueryService {
    let base: URL
    let token: String?

    func request(_ path: String, body: Data? = nil, timeout: TimeInterval) -> URLRequest {
        var r = URLRequest(url: base.appendingPathComponent(path), timeoutInterval: timeout)
        if let token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body { r.httpMethod = "POST"; r.httpBody = body; r.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        return r
    }

    func send(_ r: URLRequest) async throws -> Data {
        let (data, response) = try await URLSession.shared.data(for: r)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard status == 200 else {
            let text = String(decoding: data.prefix(300), as: UTF8.self)
            throw CLIError("\(r.url?.path ?? "") answered HTTP \(status): \(text)")
        }
        return data
    }

    func latest() async throws -> NodeSnapshot? {
        // Two hours of per-minute history is what the site panel shows remotely; the full series
        // would make every poll ~2 MB for 320 sites.
        var r = request("v1/stats", timeout: 5)
        r.url = URL(string: base.absoluteString.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/v1/stats?history=120")
        let data = try await send(r)
        // SnapshotJSON's byte-level reader: JSONDecoder spent ~90% of this process's CPU here.
        return try SnapshotJSON.decode([UInt8](data))
    }

    func run(sql: String) async throws -> QueryResult {
        let body = try JSONSerialization.data(withJSONObject: ["sql": sql])
        let data = try await send(request("v1/query", body: body, timeout: 60))
        let wire = try JSONDecoder().decode(QueryWire.self, from: data)
        return QueryResult(columns: wire.columns, rows: wire.rows.map { $0.map { $0.text } },
                           elapsedMs: wire.elapsedMs ?? 0, bytesScanned: wire.bytesScanned, priceUSD: wire.priceUSD)
    }
}

/// `POST /v1/query` answer: columns, rows of JSON scalars, timing and lake scan figures.
struct QueryWire: Decodable {
    var columns: [String]
    var rows: [[Scalar]]
    var elapsedMs: Double?
    var bytesScanned: Int64?
    var priceUSD: Double?
    enum CodingKeys: String, CodingKey {
        case columns, rows, elapsedMs, bytesScanned, priceUSD
    }

    enum Scalar: Decodable {
        case text(String), number(Double), bool(Bool), null
        init(from d: Decoder) throws {
            let c = try d.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let n = try? c.decode(Double.self) { self = .number(n) }
            else { self = .text(try c.decode(String.self)) }
        }
        var text: String {
            switch self {
            case .text(let s): s
            case .number(let n): n.rounded() == n && abs(n) < 1e15 ? String(Int64(n)) : String(n)
            case .bool(let b): b ? "true" : "false"
            case .null: "NULL"
            }
        }
    }
}
