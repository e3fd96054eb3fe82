import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import ServiceLifecycle

/// Request context that remembers the peer address, for client-IP stamping.
public struct CollectorContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
    public var maxUploadSize: Int { 8 << 20 }
}

/// The collector: HTTP ingest (native, pixel), the Kinesis and Firehose APIs, operations routes.
/// A library type so `eddy serve` runs it alone and `eddy demo` embeds it beside the rest of a node.
///
///     let server = try CollectorServer(config: cfg)         // opens <data>/stream/<name>
///     async let done: Void = server.run()                   // until SIGTERM/SIGINT or shutdown()
///     let port = try await server.port()
///     await server.shutdown()                               // stop accepting, finish, sync, close
public final class CollectorServer: @unchecked Sendable {
    public let config: CollectorConfig
    public let registry: StreamRegistry
    public let metrics = CollectorMetrics()
    public let hooks: CollectorHooks
    public let logger: Logger
    let keys: KeyRing
    var credentials: Credentials { keys.current().credentials }
    var verifier: SigV4Verifier { keys.current().verifier }
    let ingest = EventIngest()
    let kinesis: KinesisAPI
    let disk: DiskGuard
    private let lock = NSLock()
    private var shuttingDown = false
    private var boundPort: Int?
    private var portWaiters: [CheckedContinuation<Int, any Error>] = []
    private var group: ServiceGroup?
    private var ownsStreams: Bool

    /// Opens the streams under `config.dataDirectory` and loads credentials (keys.json, env, admin token).
    public convenience init(config: CollectorConfig, hooks: CollectorHooks = CollectorHooks(),
                            credentials: Credentials? = nil, logger: Logger? = nil) throws {
        let problems = config.problems()
        if !problems.isEmpty { throw CollectorError.config("invalid collector configuration: " + problems.joined(separator: "; ")) }
        var log = logger ?? Logger(label: "eddy.collector")
        if logger == nil { log.logLevel = .info }
        let l = log
        var sc = config.streamConfig
        sc.log = { l.warning("\($0)") }
        let registry = try StreamRegistry(dataDirectory: config.dataDirectory, baseConfig: sc)
        let ring = try credentials.map { KeyRing(fixed: $0) }
            ?? KeyRing(dataDirectory: config.dataDirectory, log: { l.notice("\($0)") })
        self.init(config: config, registry: registry, keys: ring, hooks: hooks, logger: log, ownsStreams: true)
    }

    /// Serves streams someone else opened with fixed credentials.
    public convenience init(config: CollectorConfig, registry: StreamRegistry, credentials: Credentials,
                            hooks: CollectorHooks = CollectorHooks(), logger: Logger = Logger(label: "eddy.collector"),
                            ownsStreams: Bool = false) {
        self.init(config: config, registry: registry, keys: KeyRing(fixed: credentials), hooks: hooks, logger: logger, ownsStreams: ownsStreams)
    }

    /// Serves streams someone else opened (`eddy demo`); `shutdown()` then leaves them open.
    public init(config: CollectorConfig, registry: StreamRegistry, keys: KeyRing,
                hooks: CollectorHooks = CollectorHooks(), logger: Logger = Logger(label: "eddy.collector"),
                ownsStreams: Bool = false) {
        self.config = config; self.registry = registry; self.keys = keys; self.hooks = hooks
        self.logger = logger; self.ownsStreams = ownsStreams
        self.kinesis = KinesisAPI(registry: registry)
        self.disk = DiskGuard(path: config.dataDirectory, reserveBytes: config.minFreeBytes)
    }

    // MARK: lifecycle

    /// Runs until a signal (when `handleSignals`) or `shutdown()`. On the way out: stop accepting,
    /// finish in-flight requests, then sync and close the streams this server opened.
    public func run() async throws {
        let app = buildApplication()
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: app, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: config.handleSignals ? [.sigterm, .sigint] : [],
            logger: logger))
        let stopNow = lock.withLock { self.group = group; return shuttingDown }
        if stopNow { await group.triggerGracefulShutdown() }
        defer {
            let w = lock.withLock { shuttingDown = true; let w = portWaiters; portWaiters = []; return w }
            for c in w { c.resume(throwing: CollectorError.config("the server stopped before it was listening")) }
            if ownsStreams { registry.closeAll() }
            logger.info("collector stopped; streams synced and closed")
        }
        try await group.run()
    }

    /// Graceful stop, as SIGTERM does.
    public func shutdown() async {
        let g = lock.withLock { shuttingDown = true; return group }
        await g?.triggerGracefulShutdown()
    }

    /// The port the server listens on, once it does.
    public func port() async throws -> Int {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Int, any Error>) in
            let p: Int? = lock.withLock {
                if let p = boundPort { return p }
                portWaiters.append(c); return nil
            }
            if let p { c.resume(returning: p) }
        }
    }

    var isShuttingDown: Bool { lock.withLock { shuttingDown } }

    public func buildApplication() -> some ApplicationProtocol {
        Application(
            router: buildRouter(),
            server: .http1(configuration: .init(idleTimeout: .nanoseconds(Int64(config.idleTimeout.components.seconds) * 1_000_000_000))),
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "eddy"),
            onServerRunning: { [self] ch in
                let p = ch.localAddress?.port ?? config.port
                let w = lock.withLock { boundPort = p; let w = portWaiters; portWaiters = []; return w }
                for c in w { c.resume(returning: p) }
                logger.info("collector listening on \(config.host):\(p), data in \(config.dataDirectory)")
            },
            logger: logger)
    }

    /// The routes, for in-process tests and for embedding under another application.
    public func buildRouter() -> Router<CollectorContext> {
        let router = Router(context: CollectorContext.self)
        router.add(middleware: RouteMetricsMiddleware(metrics: metrics))
        router.post("/v1/events") { req, ctx in try await self.postEvents(req, ctx) }
        router.get("/i") { req, ctx in try await self.pixel(req, ctx) }
        router.post("/") { req, ctx in try await self.aws(req, ctx) }
        router.get("/healthz") { _, _ in Self.text(.ok, "ok\n") }
        router.get("/readyz") { _, _ in self.readyz() }
        router.get("/metrics") { _, _ in await self.prometheus() }
        router.get("/v1/stats") { req, _ in await self.stats(req) }
        router.post("/v1/query") { req, ctx in try await self.query(req, ctx) }
        router.post("/v1/admin/flush") { req, _ in try await self.flush(req) }
        return router
    }

    // MARK: helpers

    static func json(_ status: HTTPResponse.Status, _ bytes: [UInt8], headers extra: HTTPFields = [:]) -> Response {
        var h: HTTPFields = [.contentType: "application/json"]
        h.append(contentsOf: extra)
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func text(_ status: HTTPResponse.Status, _ s: String, contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(status: status, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: s)))
    }

    static func errorJSON(_ status: HTTPResponse.Status, code: String, _ message: String, headers: HTTPFields = [:]) -> Response {
        var o: [UInt8] = Array("{\"error\":".utf8)
        JSONOut.string(code, into: &o); o.appendString(",\"message\":"); JSONOut.string(message, into: &o); o.appendString("}")
        return json(status, o, headers: headers)
    }

    func retryAfter() -> HTTPFields { [.retryAfter: String(config.retryAfterSeconds)] }

    /// Why writes are refused right now, if they are: the error code and a message.
    func writeRefusal() -> (code: String, message: String)? {
        if isShuttingDown { return ("unavailable", "the node is shutting down") }
        if !disk.aboveReserve {
            return ("insufficient_storage",
                    "free disk space \(disk.freeBytes >> 20) MiB is below the reserve of \(config.minFreeBytes >> 20) MiB (--min-free-mb); writes resume when space returns")
        }
        if let f = registry.defaultStream.failureIfFailed {
            return ("unavailable", "the stream stopped accepting writes after an I/O failure (restart the node): \(f.message)")
        }
        return nil
    }

    enum BodyFailure: Error { case tooLarge(Int), timeout, badEncoding(String) }

    /// Reads the whole body, refusing by Content-Length before reading when it is too large and
    /// cutting off a client that has not sent it all within the read timeout.
    func readBody(_ request: Request, limit: Int) async throws -> [UInt8] {
        if let cl = request.headers[.contentLength].flatMap({ Int($0) }), cl > limit { throw BodyFailure.tooLarge(cl) }
        let timeout = config.bodyReadTimeout
        let body = request.body
        let buffer: ByteBuffer?
        do {
            buffer = try await withThrowingTaskGroup(of: ByteBuffer?.self) { g in
                g.addTask { try await body.collect(upTo: limit) }
                g.addTask { try await Task.sleep(for: timeout); return nil }
                let first = try await g.next()!
                g.cancelAll()
                return first
            }
        } catch {
            if let e = error as? HTTPError, e.status == .contentTooLarge { throw BodyFailure.tooLarge(limit + 1) }
            throw BodyFailure.timeout
        }
        guard var b = buffer else { throw BodyFailure.timeout }
        var bytes = b.readBytes(length: b.readableBytes) ?? []
        if let enc = request.headers[.contentEncoding]?.lowercased(), enc != "identity" {
            guard enc == "gzip" || enc == "x-gzip" || enc == "deflate" else { throw BodyFailure.badEncoding("unsupported Content-Encoding '\(enc)'; use gzip") }
            switch Result(catching: { () throws(Gzip.Failure) -> [UInt8] in try Gzip.inflate(bytes, maxOutput: limit) }) {
            case .success(let b): bytes = b
            case .failure(.tooLarge): throw BodyFailure.tooLarge(limit + 1)
            case .failure(.corrupt(let m)): throw BodyFailure.badEncoding(m)
            }
        }
        return bytes
    }

    func bodyFailureResponse(_ error: any Error, limit: Int, aws: Bool) -> Response {
        guard let f = error as? BodyFailure else { return Self.errorJSON(.badRequest, code: "bad_body", "\(error)") }
        switch f {
        case .tooLarge(let n):
            let m = "request body of \(n > limit ? "more than \(limit)" : String(n)) bytes exceeds the limit of \(limit) bytes"
            metrics.rejected(code: "body_too_large")
            return aws ? Self.json(.contentTooLarge, AWSError("ValidationException", m, status: 413).json(), headers: [.connection: "close"])
                       : Self.errorJSON(.contentTooLarge, code: "body_too_large", m, headers: [.connection: "close"])
        case .timeout:
            metrics.rejected(code: "body_timeout")
            logger.warning("cut off a client whose body did not arrive within \(config.bodyReadTimeout)")
            return Self.errorJSON(.requestTimeout, code: "body_timeout", "the request body did not arrive within \(config.bodyReadTimeout)",
                                  headers: [.connection: "close"])
        case .badEncoding(let m):
            metrics.rejected(code: "bad_encoding")
            return aws ? Self.json(.badRequest, AWSError.serialization(m).json()) : Self.errorJSON(.badRequest, code: "bad_encoding", m)
        }
    }

    /// Client IP: the peer, or (from a trusted proxy) the right-most untrusted X-Forwarded-For hop.
    func clientIP(_ request: Request, _ ctx: CollectorContext) -> String? {
        Self.resolveClientIP(peer: ctx.remoteAddress?.ipAddress, forwardedFor: request.headers[.xForwardedFor],
                             trusted: config.trustedProxies)
    }

    /// The peer, or — only when the peer is a trusted proxy — the right-most X-Forwarded-For hop
    /// that is not itself a trusted proxy (hops to its left are whatever the client wrote).
    public static func resolveClientIP(peer: String?, forwardedFor: String?, trusted: Set<String>) -> String? {
        guard let p = peer, trusted.contains(p), let xff = forwardedFor else { return peer }
        let hops = xff.split(separator: ",").map { String($0).trimmingCharacters(in: CharacterSet.whitespaces) }.filter { !$0.isEmpty }
        for h in hops.reversed() where !trusted.contains(h) { return h }
        return hops.first ?? peer
    }

    func bearer(_ request: Request) -> String? {
        guard let a = request.headers[.authorization], a.lowercased().hasPrefix("bearer ") else { return nil }
        return a.dropFirst(7).trimmingCharacters(in: .whitespaces)
    }

    func requireAdmin(_ request: Request) -> Response? {
        guard let t = bearer(request) else {
            return Self.errorJSON(.unauthorized, code: "missing_token", "this route needs Authorization: Bearer <admin token>",
                                  headers: [.wwwAuthenticate: "Bearer"])
        }
        guard SigV4Verifier.constantTimeEqual(t, credentials.adminToken) else {
            return Self.errorJSON(.forbidden, code: "invalid_token", "the admin token is not valid")
        }
        return nil
    }

    func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: native

    func postEvents(_ request: Request, _ ctx: CollectorContext) async throws -> Response {
        let started = ContinuousClock.now
        guard let token = bearer(request) else {
            return Self.errorJSON(.unauthorized, code: "missing_key", "send Authorization: Bearer <write key> (eddy keys create SITE)",
                                  headers: [.wwwAuthenticate: "Bearer"])
        }
        guard let key = credentials.writeKeys[token] else {
            return Self.errorJSON(.forbidden, code: "invalid_key", "the write key is not known (revoked, or made for another node)")
        }
        if let why = writeRefusal() {
            metrics.rejected(code: why.code)
            return Self.errorJSON(.serviceUnavailable, code: why.code, why.message, headers: retryAfter().merging([.connection: "close"]))
        }
        let body: [UInt8]
        do { body = try await readBody(request, limit: config.maxBodyBytes) } catch {
            return bodyFailureResponse(error, limit: config.maxBodyBytes, aws: false)
        }
        let scope: WriterScope = key.kind == .site ? .site(key.site ?? "") : .relay
        let out = await ingest.ingest(body: body, scope: scope, clientIP: clientIP(request, ctx),
                                      stream: registry.defaultStream, nowMs: nowMs())
        return respond(out, started: started)
    }

    func respond(_ out: IngestOutcome, started: ContinuousClock.Instant) -> Response {
        for f in out.failures { metrics.rejected(code: f.code) }
        if let e = out.unavailable {
            logger.error("append failed, nothing acknowledged: \(e)")
            return Self.errorJSON(.serviceUnavailable, code: "unavailable", "the stream cannot take writes: \(e.message)", headers: retryAfter())
        }
        metrics.accepted(records: out.accepted, bytes: out.acceptedBytes)
        let d = ContinuousClock.now - started
        metrics.ackLatency(seconds: Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
        if out.allThrottled {
            return Self.json(.tooManyRequests, out.json(), headers: retryAfter())
        }
        return Self.json(.ok, out.json())
    }

    // MARK: pixel

    static let gif: [UInt8] = [
        0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xFF, 0xFF, 0xFF, 0x21, 0xF9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2C, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B,
    ]

    /// The pixel is public (browsers cannot hold a key): its events pass the same validation, and
    /// the answer is always the GIF so a page never shows a broken image; failures are counted.
    func pixel(_ request: Request, _ ctx: CollectorContext) async throws -> Response {
        let started = ContinuousClock.now
        let headers: HTTPFields = [.contentType: "image/gif", .cacheControl: "no-store, no-cache, must-revalidate, max-age=0",
                                   .pragma: "no-cache", .expires: "0"]
        var status: HTTPResponse.Status = .ok
        if writeRefusal() != nil {
            status = .serviceUnavailable
        } else {
            var o: [UInt8] = [UInt8(ascii: "{")]
            var first = true
            var sawTs = false
            for (k, v) in request.uri.queryParameters {
                let key = String(k)
                guard !key.isEmpty else { continue }
                if !first { o.append(UInt8(ascii: ",")) }
                first = false
                JSONOut.string(key, into: &o); o.append(UInt8(ascii: ":"))
                if key == "ts", let n = Int64(v) { o.appendString(String(n)); sawTs = true }
                else if (key == "engagement_ms" || key == "scroll_pct" || key == "value"), let d = Double(v) { o.appendString(String(d)) }
                else { JSONOut.string(String(v), into: &o) }
            }
            if !sawTs { if !first { o.append(UInt8(ascii: ",")) }; o.appendString("\"ts\":\(nowMs())") }
            if let ua = request.headers[.userAgent], request.uri.queryParameters["ua"] == nil {
                o.appendString(",\"ua\":"); JSONOut.string(ua, into: &o)
            }
            o.append(UInt8(ascii: "}"))
            let out = await ingest.ingest(body: o, scope: .relay, clientIP: clientIP(request, ctx), stream: registry.defaultStream, nowMs: nowMs())
            _ = respond(out, started: started)
            if out.unavailable != nil { status = .serviceUnavailable }
            else if out.allThrottled { status = .tooManyRequests }
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: Self.gif)))
    }

    // MARK: AWS

    func aws(_ request: Request, _ ctx: CollectorContext) async throws -> Response {
        let started = ContinuousClock.now
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        if contentType.contains("cbor") {
            return Self.json(.badRequest, AWSError("SerializationException",
                "eddy speaks the AWS JSON protocol only; this client sent CBOR (\(contentType)). Turn CBOR off: AWS_CBOR_DISABLE=true (environment) or -Dcom.amazonaws.sdk.disableCbor / aws.cborEnabled=false for the Java SDK and KCL/KPL.").json())
        }
        guard let target = request.headers[HTTPField.Name("X-Amz-Target")!] else {
            return Self.json(.badRequest, AWSError("UnknownOperationException", "Missing X-Amz-Target header; eddy serves Kinesis_20131202.* and Firehose_20150804.* on POST /").json())
        }
        let isWrite = target.hasSuffix(".PutRecord") || target.hasSuffix(".PutRecords") || target.hasSuffix(".PutRecordBatch")
        if isWrite, let why = writeRefusal() {
            metrics.rejected(code: why.code)
            return Self.json(.serviceUnavailable, AWSError("ServiceUnavailableException", "Service unavailable: \(why.message)", status: 503).json(), headers: retryAfter())
        }
        let body: [UInt8]
        do { body = try await readBody(request, limit: config.maxAWSBodyBytes) } catch {
            return bodyFailureResponse(error, limit: config.maxAWSBodyBytes, aws: true)
        }
        if let denied = authenticate(request, body: body) {
            metrics.rejected(code: "auth_failed")
            return Self.json(HTTPResponse.Status(code: denied.status), denied.json())
        }
        do {
            let out = try await kinesis.handle(target: target, body: body, metrics: metrics)
            if isWrite {
                let d = ContinuousClock.now - started
                metrics.ackLatency(seconds: Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
            }
            return Response(status: .ok, headers: [.contentType: "application/x-amz-json-1.1"], body: .init(byteBuffer: ByteBuffer(bytes: out)))
        } catch let error as AWSError {
            if error.status >= 500 { logger.error("\(target) failed: \(error.type): \(error.message)") }
            var h: HTTPFields = [.contentType: "application/x-amz-json-1.1"]
            if error.type == "ProvisionedThroughputExceededException" { h.append(contentsOf: retryAfter()) }
            return Response(status: HTTPResponse.Status(code: error.status), headers: h, body: .init(byteBuffer: ByteBuffer(bytes: error.json())))
        } catch {
            logger.error("\(target) failed: \(error)")
            return Self.json(.internalServerError, AWSError("InternalFailure", "\(error)", status: 500).json())
        }
    }

    /// SigV4 check of a Kinesis/Firehose call; nil when it passes.
    func authenticate(_ request: Request, body: [UInt8]) -> AWSError? {
        do {
            _ = try verifier.verify(method: "POST", path: request.uri.path, query: request.uri.query ?? "",
                                    headers: { name in
                                        if name == "host" { return request.head.authority ?? request.headers[HTTPField.Name("Host")!] }
                                        guard let n = HTTPField.Name(name) else { return nil }
                                        let vs = request.headers[values: n]
                                        return vs.isEmpty ? nil : vs.joined(separator: ",")
                                    }, body: body, nowMs: nowMs())
            return nil
        } catch let f as SigV4Verifier.Failure {
            switch f {
            case .missing: return AWSError("MissingAuthenticationTokenException", "Missing Authentication Token", status: 403)
            case .unknownKey(let m): return AWSError("UnrecognizedClientException", m, status: 400)
            case .invalid(let m): return AWSError("InvalidSignatureException", m, status: 400)
            }
        } catch {
            return AWSError("InvalidSignatureException", "\(error)")
        }
    }

    // MARK: operations

    func readyz() -> Response {
        var problems: [String] = []
        if let why = writeRefusal() { problems.append(why.message) }
        if registry.stream(named: registry.defaultStreamName)?.shardMap().openShards.isEmpty ?? true {
            problems.append("the stream has no open shard")
        }
        return problems.isEmpty ? Self.text(.ok, "ready\n") : Self.text(.serviceUnavailable, "not ready: " + problems.joined(separator: "; ") + "\n")
    }

    /// The snapshot from the hook, or one built from what the collector itself knows.
    func snapshot() async -> NodeSnapshot {
        if let h = hooks.snapshot, let s = await h() { return s }
        let s = registry.defaultStream
        return NodeSnapshot(takenAtMs: nowMs(),
                            node: NodeInfo(nodeId: ProcessInfo.processInfo.hostName, version: "", startedAtMs: 0,
                                           streamName: s.name, mode: "serve", ready: writeRefusal() == nil),
                            collector: metrics.stats(), shards: s.shardStats(), consumers: s.consumerStats())
    }

    func prometheus() async -> Response {
        var text = metrics.prometheusText()
        text += PrometheusText.render(await snapshot())
        return Self.text(.ok, text, contentType: PrometheusText.contentType)
    }

    func stats(_ request: Request) async -> Response {
        if let denied = requireAdmin(request) { return denied }
        var snap = await snapshot()
        let params = request.uri.queryParameters
        // ?site=ID: one site's figures only (and 404 when the node has not seen it).
        if let site = params["site"].map(String.init) {
            snap.sites = snap.sites.filter { $0.siteId == site }
            if snap.sites.isEmpty { return Self.errorJSON(.notFound, code: "unknown_site", "no live figures for site '\(site)'") }
        }
        // ?history=N: keep only the newest N points of each site's per-second and per-minute series
        // (a remote dashboard polls every second; the full 10 min + 24 h series are ~2 MB for 320 sites).
        if let n = params["history"].flatMap({ Int(String($0)) }), n >= 0 {
            for i in snap.sites.indices {
                snap.sites[i].eventsPerSecHistory = Array(snap.sites[i].eventsPerSecHistory.suffix(n))
                snap.sites[i].eventsPerMinuteHistory = Array(snap.sites[i].eventsPerMinuteHistory.suffix(n))
            }
        }
        // SnapshotJSON writes the same document as JSONEncoder ~60× faster (measured in `eddy bench`).
        return Self.json(.ok, SnapshotJSON.encode(snap))
    }

    func query(_ request: Request, _ ctx: CollectorContext) async throws -> Response {
        if let denied = requireAdmin(request) { return denied }
        guard let q = hooks.query else {
            return Self.errorJSON(.notImplemented, code: "not_built", "warehouse not built yet: this node has no SQL warehouse wired to /v1/query")
        }
        let body: [UInt8]
        do { body = try await readBody(request, limit: 1 << 20) } catch { return bodyFailureResponse(error, limit: 1 << 20, aws: false) }
        do {
            let (status, out) = try await q(body)
            return Self.json(HTTPResponse.Status(code: status), out)
        } catch {
            return Self.errorJSON(.badRequest, code: "query_failed", "\(error)")
        }
    }

    func flush(_ request: Request) async throws -> Response {
        if let denied = requireAdmin(request) { return denied }
        guard let f = hooks.flush else {
            return Self.errorJSON(.notImplemented, code: "not_built", "warehouse not built yet: this node has no delivery/warehouse to flush")
        }
        do { return Self.json(.ok, try await f()) } catch {
            logger.error("flush failed: \(error)")
            return Self.errorJSON(.internalServerError, code: "flush_failed", "\(error)")
        }
    }
}

extension HTTPFields {
    func merging(_ other: HTTPFields) -> HTTPFields { var c = self; c.append(contentsOf: other); return c }
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let pragma = HTTPField.Name("Pragma")!
}

/// Counts every request by route and status for /metrics.
struct RouteMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: CollectorMetrics
    static func routeName(_ r: Request) -> String {
        switch r.uri.path {
        case "/": return r.headers[HTTPField.Name("X-Amz-Target")!].map { String($0.split(separator: ".").last ?? "aws") } ?? "aws"
        case "/v1/events", "/i", "/healthz", "/readyz", "/metrics", "/v1/stats", "/v1/query", "/v1/admin/flush": return r.uri.path
        default: return "other"
        }
    }
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let route = Self.routeName(request)
        do {
            let r = try await next(request, context)
            metrics.request(route: route, status: r.status.code)
            return r
        } catch let e as any HTTPResponseError {
            metrics.request(route: route, status: e.status.code)
            throw e
        } catch {
            metrics.request(route: route, status: 500)
            throw error
        }
    }
}
