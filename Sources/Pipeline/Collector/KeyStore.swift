import Foundation

/// A credential the collector accepts.
public struct CollectorKey: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable { case site, relay, aws }
    public var kind: Kind
    /// The bearer token for `site`/`relay`; the access key id for `aws`.
    public var key: String
    /// The only site a `site` key may write for.
    public var site: String?
    /// The secret access key of an `aws` key.
    public var secret: String?
    public var createdAtMs: Int64
    public init(kind: Kind, key: String, site: String? = nil, secret: String? = nil, createdAtMs: Int64) {
        self.kind = kind; self.key = key; self.site = site; self.secret = secret; self.createdAtMs = createdAtMs
    }
}

/// `<data>/keys.json`: write keys and AWS access keys. Written 0600 through a temporary file and
/// a rename, so a crash leaves the old file or the new one.
public struct KeyFile: Sendable, Codable, Equatable {
    public var keys: [CollectorKey] = []
    public init(keys: [CollectorKey] = []) { self.keys = keys }

    public static func path(dataDirectory: String) -> String { dataDirectory + "/keys.json" }

    public static func load(dataDirectory: String) throws -> KeyFile {
        let p = path(dataDirectory: dataDirectory)
        guard FileManager.default.fileExists(atPath: p) else { return KeyFile() }
        do {
            return try JSONDecoder().decode(KeyFile.self, from: Data(contentsOf: URL(fileURLWithPath: p)))
        } catch {
            throw CollectorError.config("cannot read \(p): \(error)")
        }
    }

    public func save(dataDirectory: String) throws {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try SecretFile.write(Array(try enc.encode(self)), to: KeyFile.path(dataDirectory: dataDirectory))
    }

    public mutating func createSiteKey(site: String, nowMs: Int64) -> CollectorKey {
        let k = CollectorKey(kind: .site, key: "ek_" + Secrets.token(bytes: 20), site: site, createdAtMs: nowMs)
        keys.append(k); return k
    }
    public mutating func createRelayKey(nowMs: Int64) -> CollectorKey {
        let k = CollectorKey(kind: .relay, key: "er_" + Secrets.token(bytes: 20), createdAtMs: nowMs)
        keys.append(k); return k
    }
    public mutating func createAWSKey(nowMs: Int64) -> CollectorKey {
        let k = CollectorKey(kind: .aws, key: "AKIA" + Secrets.upperAlnum(16), secret: Secrets.base64ish(40), createdAtMs: nowMs)
        keys.append(k); return k
    }
    /// Removes a key by its token or access key id; false when it was not there.
    public mutating func revoke(_ key: String) -> Bool {
        let before = keys.count
        keys.removeAll { $0.key == key }
        return keys.count != before
    }
}

/// What the server checks requests against: an immutable view built from the key file, the
/// environment's preset AWS key and the admin token.
public struct Credentials: Sendable {
    public var writeKeys: [String: CollectorKey] = [:]
    public var awsSecrets: [String: String] = [:]
    public var adminToken: String

    public init(keys: [CollectorKey], adminToken: String) {
        self.adminToken = adminToken
        for k in keys {
            switch k.kind {
            case .site, .relay: writeKeys[k.key] = k
            case .aws: if let s = k.secret { awsSecrets[k.key] = s }
            }
        }
    }

    /// Loads keys.json, adds `EDDY_ACCESS_KEY_ID`/`EDDY_SECRET_ACCESS_KEY` when set, and takes the
    /// admin token from `EDDY_ADMIN_TOKEN` or `<data>/admin-token` (created 0600 when missing).
    /// `log` is told where a generated token was written.
    public static func load(dataDirectory: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                            log: (String) -> Void = { _ in }) throws -> Credentials {
        var keys = try KeyFile.load(dataDirectory: dataDirectory).keys
        if let id = environment["EDDY_ACCESS_KEY_ID"], let secret = environment["EDDY_SECRET_ACCESS_KEY"], !id.isEmpty {
            keys.append(CollectorKey(kind: .aws, key: id, secret: secret, createdAtMs: 0))
        }
        let token: String
        if let t = environment["EDDY_ADMIN_TOKEN"], !t.isEmpty {
            token = t
        } else {
            let p = dataDirectory + "/admin-token"
            if let d = FileManager.default.contents(atPath: p), let s = String(data: d, encoding: .utf8),
               !s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                token = s.trimmingCharacters(in: .whitespacesAndNewlines)
            } else {
                token = "ea_" + Secrets.token(bytes: 24)
                try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
                try SecretFile.write(Array((token + "\n").utf8), to: p)
                log("admin token generated into \(p)")
            }
            log("admin token for /v1/stats, /v1/query, /v1/admin/flush is in \(p)")
        }
        return Credentials(keys: keys, adminToken: token)
    }
}

/// The credentials a running collector checks requests against. When built with a data
/// directory it reloads them whenever keys.json changes (looked at no more than once a second), so
/// `eddy keys create` and `eddy keys revoke` take effect on a running server without a restart.
/// A key file that cannot be read keeps the previous credentials (and is logged).
public final class KeyRing: @unchecked Sendable {
    private let lock = NSLock()
    private var credentials: Credentials
    private var verifier: SigV4Verifier
    private let dataDirectory: String?
    private let environment: [String: String]
    private let log: @Sendable (String) -> Void
    private var stamp: [Int64]
    private var lastCheckNs: UInt64 = 0
    /// Seconds between looks at keys.json.
    public var checkInterval: Double = 1

    /// Fixed credentials (tests, embedded use): never reloaded.
    public init(fixed credentials: Credentials) {
        self.credentials = credentials; verifier = SigV4Verifier(secrets: credentials.awsSecrets)
        dataDirectory = nil; environment = [:]; log = { _ in }; stamp = []
    }

    /// Credentials of `dataDirectory` (keys.json, the environment's AWS key, the admin token).
    public init(dataDirectory: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                log: @escaping @Sendable (String) -> Void = { _ in }) throws {
        self.dataDirectory = dataDirectory; self.environment = environment; self.log = log
        stamp = Self.stamp(KeyFile.path(dataDirectory: dataDirectory))
        credentials = try Credentials.load(dataDirectory: dataDirectory, environment: environment, log: { log($0) })
        verifier = SigV4Verifier(secrets: credentials.awsSecrets)
        lastCheckNs = DispatchTime.now().uptimeNanoseconds
    }

    /// The credentials and SigV4 verifier to check a request with.
    public func current() -> (credentials: Credentials, verifier: SigV4Verifier) {
        lock.lock(); defer { lock.unlock() }
        if let dir = dataDirectory {
            let now = DispatchTime.now().uptimeNanoseconds
            if now >= lastCheckNs &+ UInt64(max(0, checkInterval) * 1e9) {
                lastCheckNs = now
                let st = Self.stamp(KeyFile.path(dataDirectory: dir))
                if st != stamp {
                    do {
                        let c = try Credentials.load(dataDirectory: dir, environment: environment)
                        let before = Set(credentials.writeKeys.keys).union(credentials.awsSecrets.keys)
                        let after = Set(c.writeKeys.keys).union(c.awsSecrets.keys)
                        credentials = c; verifier = SigV4Verifier(secrets: c.awsSecrets); stamp = st
                        log("keys.json changed: \(after.subtracting(before).count) key(s) added, \(before.subtracting(after).count) revoked")
                    } catch {
                        log("keys.json changed but cannot be read, keeping the previous keys: \(error)")
                    }
                }
            }
        }
        return (credentials, verifier)
    }

    /// Identity of the file's current version: inode, size, modification time (ns); empty if absent.
    static func stamp(_ path: String) -> [Int64] {
        var st = stat()
        guard stat(path, &st) == 0 else { return [] }
        return [Int64(st.st_ino), Int64(st.st_size), Int64(st.st_mtim.tv_sec), Int64(st.st_mtim.tv_nsec)]
    }
}

enum Secrets {
    static func randomBytes(_ n: Int) -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        return (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }
    }
    static func token(bytes n: Int) -> String { Hex.encode(randomBytes(n)) }
    static func upperAlnum(_ n: Int) -> String {
        let a = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)
        return String(decoding: randomBytes(n).map { a[Int($0) % a.count] }, as: UTF8.self)
    }
    static func base64ish(_ n: Int) -> String {
        let a = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        return String(decoding: randomBytes(n).map { a[Int($0) % a.count] }, as: UTF8.self)
    }
}

/// Writes a file only its owner can read: temporary file created 0600, fsync, rename.
enum SecretFile {
    static func write(_ bytes: [UInt8], to path: String) throws {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw CollectorError.config("cannot create \(tmp): errno \(errno)") }
        let ok = bytes.withUnsafeBytes { b in Foundation.write(fd, b.baseAddress, b.count) == b.count }
        fchmod(fd, 0o600)
        fsync(fd); close(fd)
        guard ok, rename(tmp, path) == 0 else { unlink(tmp); throw CollectorError.config("cannot write \(path): errno \(errno)") }
    }
}

/// Problems the collector reports while starting or configuring.
public enum CollectorError: Error, CustomStringConvertible, Equatable {
    case config(String)
    public var description: String {
        switch self { case .config(let m): return m }
    }
}
