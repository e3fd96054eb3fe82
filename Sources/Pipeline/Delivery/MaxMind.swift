import Foundation
import CMaxMind

/// IP → country through a MaxMind database (GeoIP2/GeoLite2 Country or City, or any .mmdb whose
/// records hold `country.iso_code` or `registered_country.iso_code`), read with libmaxminddb.
///
/// The database is memory-mapped once and only read afterwards; libmaxminddb lookups on an open
/// database are thread-safe, so one instance serves every enricher. Enrichers cache answers per
/// /24 (IPv4) or /48 (IPv6) network, so the library is asked about once per network per thread.
public final class MaxMindCountryLookup: CountryLookup, @unchecked Sendable {
    public let path: String
    private let db: UnsafeMutablePointer<MMDB_s>
    private let ipVersion: Int

    public init(path: String) throws {
        self.path = path
        db = UnsafeMutablePointer<MMDB_s>.allocate(capacity: 1)
        db.initialize(to: MMDB_s())
        let rc = MMDB_open(path, UInt32(MMDB_MODE_MMAP), db)
        guard rc == MMDB_SUCCESS else {
            let why = String(cString: MMDB_strerror(rc))
            db.deinitialize(count: 1); db.deallocate()
            throw GeoDatabaseError(path: path, reason: why)
        }
        ipVersion = Int(eddy_mmdb_ip_version(db))
    }

    deinit { MMDB_close(db); db.deinitialize(count: 1); db.deallocate() }

    public func country(ip: String) -> String? { countryNetwork(ip: ip).country }

    /// The country and the prefix length (in the address's own family: 0–32 for IPv4) of the
    /// database network that answered, so callers may cache the answer for that network.
    public func countryNetwork(ip: String) -> (country: String?, prefixBits: Int?) {
        var out: (CChar, CChar, CChar) = (0, 0, 0)
        var prefix: Int32 = -1
        let rc = withUnsafeMutableBytes(of: &out) { o in
            eddy_mmdb_country(db, ip, o.baseAddress!.assumingMemoryBound(to: CChar.self), &prefix)
        }
        guard rc >= 0 else { return (nil, nil) }
        var bits: Int? = prefix >= 0 ? Int(prefix) : nil
        // An IPv4 address in an IPv6 database is looked up under ::/96; the netmask counts those bits.
        if let b = bits, ipVersion == 6, !ip.contains(":") { bits = b >= 96 ? b - 96 : 0 }
        guard rc == 1 else { return (nil, bits) }
        let code = String(decoding: [UInt8(bitPattern: out.0), UInt8(bitPattern: out.1)], as: UTF8.self).uppercased()
        return (code, bits)
    }
}

/// A MaxMind database that could not be opened (missing, unreadable, not an .mmdb).
public struct GeoDatabaseError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String
    public var description: String { "cannot open MaxMind database '\(path)': \(reason)" }
}
