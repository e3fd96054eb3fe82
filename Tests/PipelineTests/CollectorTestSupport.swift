import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import XCTest
@testable import Pipeline

/// A collector over a fresh temp data dir with one key of each kind.
struct CollectorFixture {
    let dir: String
    let server: CollectorServer
    let siteKey: String
    let relayKey: String
    let accessKey = "AKIDEXAMPLETEST00001"
    let secret = "test-secret-key-0000000000000000000000000"
    let adminToken = "admin-test-token"

    init(_ test: XCTestCase, configure: (inout CollectorConfig) -> Void = { _ in }, hooks: CollectorHooks = CollectorHooks()) throws {
        dir = NSTemporaryDirectory() + "eddy-collector-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let d = dir
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        var file = KeyFile()
        siteKey = file.createSiteKey(site: "shop-1", nowMs: 0).key
        relayKey = file.createRelayKey(nowMs: 0).key
        try file.save(dataDirectory: dir)
        var cfg = CollectorConfig(dataDirectory: dir)
        cfg.port = 0; cfg.shards = 2; cfg.minFreeBytes = 0; cfg.handleSignals = false
        cfg.bodyReadTimeout = .seconds(2)
        configure(&cfg)
        let creds = try Credentials.load(dataDirectory: dir, environment: [
            "EDDY_ACCESS_KEY_ID": accessKey, "EDDY_SECRET_ACCESS_KEY": secret, "EDDY_ADMIN_TOKEN": adminToken,
        ])
        server = try CollectorServer(config: cfg, hooks: hooks, credentials: creds)
    }

    /// In-process client over the router: no socket, no event loop.
    var app: RouterTestApp { RouterTestApp(responder: server.buildRouter().buildResponder()) }

    func event(site: String = "shop-1", type: String = "page_view", extra: String = "") -> String {
        "{\"site_id\":\"\(site)\",\"type\":\"\(type)\",\"ts\":\(Int64(Date().timeIntervalSince1970 * 1000))\(extra)}"
    }

    /// Every record in the default stream, as strings.
    func storedRecords() throws -> [String] {
        let s = server.registry.defaultStream
        var out: [String] = []
        for shard in s.shardMap().shards {
            let b = try s.read(shardId: shard.shardId, from: 0)
            for i in 0..<b.count { out.append(String(decoding: b.data(i), as: UTF8.self)) }
        }
        return out
    }

    func awsHeaders(target: String, body: [UInt8], host: String = "localhost", nowMs: Int64? = nil, secret: String? = nil,
                    accessKey: String? = nil) -> HTTPFields {
        var base: [(String, String)] = [("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", target)]
        base += SigV4Verifier.sign(host: host, headers: base, body: body, accessKey: accessKey ?? self.accessKey,
                                   secret: secret ?? self.secret, nowMs: nowMs ?? Int64(Date().timeIntervalSince1970 * 1000))
        var h = HTTPFields()
        for (k, v) in base { h.append(HTTPField(name: HTTPField.Name(k)!, value: v)) }
        h.append(HTTPField(name: HTTPField.Name("Host")!, value: host))
        return h
    }
}

func json(_ b: ByteBuffer) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(b.readableBytesView))) as? [String: Any] ?? [:]
}

func bytes(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

/// What the tests read of a response.
struct TestResponse {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: ByteBuffer
}

/// Drives a router in-process, like HummingbirdTesting's `.router` mode (which would pull
/// AsyncHTTPClient and BoringSSL into every test build).
struct RouterTestApp: Sendable {
    enum Mode { case router }
    let responder: RouterResponder<CollectorContext>

    func test<T>(_ mode: Mode, _ body: (RouterTestClient) async throws -> T) async throws -> T {
        try await body(RouterTestClient(responder: responder))
    }
}

struct RouterTestClient: Sendable {
    let responder: RouterResponder<CollectorContext>

    func execute<T>(uri: String, method: HTTPRequest.Method, headers: HTTPFields = [:], body: ByteBuffer? = nil,
                    _ check: (TestResponse) async throws -> T) async throws -> T {
        var h = headers
        if let b = body, h[.contentLength] == nil { h[.contentLength] = String(b.readableBytes) }
        let head = HTTPRequest(method: method, scheme: "http", authority: h[HTTPField.Name("Host")!] ?? "localhost", path: uri, headerFields: h)
        let request = Request(head: head, body: RequestBody(buffer: body ?? ByteBuffer()))
        let channel = EmbeddedChannel()
        let context = CollectorContext(source: ApplicationRequestContextSource(channel: channel, logger: Logger(label: "test")))
        let response: Response
        do {
            response = try await responder.respond(to: request, context: context)
        } catch let e as any HTTPResponseError {
            response = try e.response(from: request, context: context)
        }
        let sink = BodySink()
        try await response.body.write(CollectingWriter(sink: sink))
        return try await check(TestResponse(status: response.status, headers: response.headers, body: sink.buffer))
    }
}

final class BodySink: @unchecked Sendable { var buffer = ByteBuffer() }

struct CollectingWriter: ResponseBodyWriter {
    let sink: BodySink
    mutating func write(_ buffer: ByteBuffer) async throws { var b = buffer; sink.buffer.writeBuffer(&b) }
    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
