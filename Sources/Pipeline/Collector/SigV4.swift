import Foundation

/// AWS Signature Version 4 verification for the Kinesis and Firehose front ends.
/// Recomputes the signature from the request as received and compares it with the client's.
public struct SigV4Verifier: Sendable {
    public enum Failure: Error, Equatable {
        /// No Authorization header (or not SigV4): MissingAuthenticationTokenException.
        case missing
        /// Unknown access key id: UnrecognizedClientException.
        case unknownKey(String)
        /// Malformed header, wrong signature, or a stale date: InvalidSignatureException.
        case invalid(String)
    }

    public var secrets: [String: String]
    /// How far X-Amz-Date may be from now.
    public var maxSkewMs: Int64 = 5 * 60 * 1000
    public init(secrets: [String: String]) { self.secrets = secrets }

    /// `headers(name)` returns the joined values of a lowercase header name (host included).
    public func verify(method: String, path: String, query: String, headers: (String) -> String?,
                       body: [UInt8], nowMs: Int64) throws -> String {
        guard let auth = headers("authorization"), auth.hasPrefix("AWS4-HMAC-SHA256") else { throw Failure.missing }
        var credential = "", signedHeaders = "", signature = ""
        for part in auth.dropFirst("AWS4-HMAC-SHA256".count).split(separator: ",") {
            let kv = part.trimmingCharacters(in: .whitespaces)
            if kv.hasPrefix("Credential=") { credential = String(kv.dropFirst(11)) }
            else if kv.hasPrefix("SignedHeaders=") { signedHeaders = String(kv.dropFirst(14)) }
            else if kv.hasPrefix("Signature=") { signature = String(kv.dropFirst(10)) }
        }
        let scope = credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard scope.count == 5, scope[4] == "aws4_request", !signedHeaders.isEmpty, !signature.isEmpty else {
            throw Failure.invalid("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters")
        }
        let accessKey = scope[0]
        guard let secret = secrets[accessKey] else {
            throw Failure.unknownKey("The security token included in the request is invalid.")
        }
        guard let amzDate = headers("x-amz-date"), let t = Self.parseAmzDate(amzDate) else {
            throw Failure.invalid("Authorization requires a valid X-Amz-Date header")
        }
        if abs(t - nowMs) > maxSkewMs {
            throw Failure.invalid("Signature expired: \(amzDate) is now earlier or later than the allowed 5 minutes of the server time")
        }
        let names = signedHeaders.split(separator: ";").map(String.init)
        var canonicalHeaders = ""
        for n in names {
            let v = headers(n) ?? ""
            canonicalHeaders += n + ":" + Self.collapse(v) + "\n"
        }
        let payloadHash = headers("x-amz-content-sha256").flatMap { $0 == "UNSIGNED-PAYLOAD" || $0.count == 64 ? $0 : nil }
            ?? SHA256.hex(body)
        let canonicalRequest = [method, path.isEmpty ? "/" : path, Self.canonicalQuery(query), canonicalHeaders,
                                signedHeaders, payloadHash].joined(separator: "\n")
        let credentialScope = scope[1...4].joined(separator: "/")
        let stringToSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(credentialScope)\n" + SHA256.hex(Array(canonicalRequest.utf8))
        var key = HMACSHA256.mac(key: Array(("AWS4" + secret).utf8), scope[1])
        key = HMACSHA256.mac(key: key, scope[2])
        key = HMACSHA256.mac(key: key, scope[3])
        key = HMACSHA256.mac(key: key, "aws4_request")
        let expected = Hex.encode(HMACSHA256.mac(key: key, stringToSign))
        guard Self.constantTimeEqual(expected, signature.lowercased()) else {
            throw Failure.invalid("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
        }
        return accessKey
    }

    /// Signs a request the way botocore does (used by loadgen and tests).
    public static func sign(method: String = "POST", path: String = "/", host: String, headers: [(String, String)],
                            body: [UInt8], accessKey: String, secret: String, region: String = "us-east-1",
                            service: String = "kinesis", nowMs: Int64) -> [(String, String)] {
        let amzDate = formatAmzDate(nowMs)
        let day = String(amzDate.prefix(8))
        var all = headers.map { ($0.0.lowercased(), $0.1) } + [("host", host), ("x-amz-date", amzDate)]
        all.sort { $0.0 < $1.0 }
        let signed = all.map(\.0).joined(separator: ";")
        let canon = all.map { "\($0.0):\(collapse($0.1))\n" }.joined()
        let creq = [method, path, "", canon, signed, SHA256.hex(body)].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let sts = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n" + SHA256.hex(Array(creq.utf8))
        var key = HMACSHA256.mac(key: Array(("AWS4" + secret).utf8), day)
        key = HMACSHA256.mac(key: key, region); key = HMACSHA256.mac(key: key, service)
        key = HMACSHA256.mac(key: key, "aws4_request")
        let sig = Hex.encode(HMACSHA256.mac(key: key, sts))
        return [("X-Amz-Date", amzDate),
                ("Authorization", "AWS4-HMAC-SHA256 Credential=\(accessKey)/\(scope), SignedHeaders=\(signed), Signature=\(sig)")]
    }

    static func collapse(_ v: String) -> String {
        v.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    static func canonicalQuery(_ q: String) -> String {
        guard !q.isEmpty else { return "" }
        return q.split(separator: "&").map { p -> String in p.contains("=") ? String(p) : p + "=" }.sorted().joined(separator: "&")
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var d: UInt8 = 0
        for i in 0..<x.count { d |= x[i] ^ y[i] }
        return d == 0
    }

    /// `YYYYMMDDTHHMMSSZ` → epoch ms.
    static func parseAmzDate(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        guard b.count == 16, b[8] == UInt8(ascii: "T"), b[15] == UInt8(ascii: "Z") else { return nil }
        func num(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r { guard b[i] >= 48 && b[i] <= 57 else { return nil }; v = v * 10 + Int(b[i] - 48) }
            return v
        }
        guard let y = num(0..<4), let mo = num(4..<6), let d = num(6..<8), let h = num(9..<11),
              let mi = num(11..<13), let se = num(13..<15), (1...12).contains(mo), (1...31).contains(d) else { return nil }
        return (Self.daysFromCivil(y, mo, d) * 86400 + Int64(h * 3600 + mi * 60 + se)) * 1000
    }

    static func formatAmzDate(_ ms: Int64) -> String {
        let secs = ms / 1000
        let days = secs / 86400, rem = secs % 86400
        let (y, m, d) = civilFromDays(days)
        func p(_ v: Int, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return p(y, 4) + p(m, 2) + p(d, 2) + "T" + p(Int(rem / 3600), 2) + p(Int(rem % 3600 / 60), 2) + p(Int(rem % 60), 2) + "Z"
    }

    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return Int64(era * 146097 + doe - 719468)
    }

    static func civilFromDays(_ z0: Int64) -> (Int, Int, Int) {
        let z = Int(z0) + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp + (mp < 10 ? 3 : -9)
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
