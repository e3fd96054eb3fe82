/// The simulated world: 300+ sites spread over Asia, Europe and the Americas, each with a home
/// city (time zone, language, currency, IP ranges), a category and a popularity.

public struct Region: Sendable {
    public enum Continent: String, Sendable, CaseIterable { case asia, europe, americas }
    public let city: String
    public let slug: String
    public let country: String
    public let continent: Continent
    /// Offset from UTC in minutes (standard time; the simulator ignores daylight saving).
    public let utcOffsetMinutes: Int
    public let lang: String
    public let currency: String
    /// Local currency units per US dollar, rounded.
    public let fx: Double
    /// First two octets of the IPv4 ranges visitors come from.
    public let ipPrefixes: [(UInt8, UInt8)]
}

public enum World {
    public static let regions: [Region] = [
        // Asia and Oceania
        Region(city: "Seoul", slug: "seoul", country: "KR", continent: .asia, utcOffsetMinutes: 540, lang: "ko-KR", currency: "KRW", fx: 1400, ipPrefixes: [(211, 234), (175, 223), (121, 134)]),
        Region(city: "Busan", slug: "busan", country: "KR", continent: .asia, utcOffsetMinutes: 540, lang: "ko-KR", currency: "KRW", fx: 1400, ipPrefixes: [(110, 70), (39, 7)]),
        Region(city: "Tokyo", slug: "tokyo", country: "JP", continent: .asia, utcOffsetMinutes: 540, lang: "ja-JP", currency: "JPY", fx: 150, ipPrefixes: [(126, 10), (60, 34), (153, 156)]),
        Region(city: "Osaka", slug: "osaka", country: "JP", continent: .asia, utcOffsetMinutes: 540, lang: "ja-JP", currency: "JPY", fx: 150, ipPrefixes: [(180, 9), (114, 160)]),
        Region(city: "Shanghai", slug: "shanghai", country: "CN", continent: .asia, utcOffsetMinutes: 480, lang: "zh-CN", currency: "CNY", fx: 7.2, ipPrefixes: [(116, 224), (180, 160)]),
        Region(city: "Shenzhen", slug: "shenzhen", country: "CN", continent: .asia, utcOffsetMinutes: 480, lang: "zh-CN", currency: "CNY", fx: 7.2, ipPrefixes: [(113, 88), (14, 153)]),
        Region(city: "Hong Kong", slug: "hongkong", country: "HK", continent: .asia, utcOffsetMinutes: 480, lang: "zh-HK", currency: "HKD", fx: 7.8, ipPrefixes: [(112, 118), (223, 197)]),
        Region(city: "Taipei", slug: "taipei", country: "TW", continent: .asia, utcOffsetMinutes: 480, lang: "zh-TW", currency: "TWD", fx: 32, ipPrefixes: [(1, 160), (114, 36)]),
        Region(city: "Singapore", slug: "singapore", country: "SG", continent: .asia, utcOffsetMinutes: 480, lang: "en-SG", currency: "SGD", fx: 1.35, ipPrefixes: [(116, 86), (175, 156)]),
        Region(city: "Bangkok", slug: "bangkok", country: "TH", continent: .asia, utcOffsetMinutes: 420, lang: "th-TH", currency: "THB", fx: 36, ipPrefixes: [(49, 228), (171, 96)]),
        Region(city: "Jakarta", slug: "jakarta", country: "ID", continent: .asia, utcOffsetMinutes: 420, lang: "id-ID", currency: "IDR", fx: 15700, ipPrefixes: [(36, 68), (114, 124)]),
        Region(city: "Manila", slug: "manila", country: "PH", continent: .asia, utcOffsetMinutes: 480, lang: "en-PH", currency: "PHP", fx: 56, ipPrefixes: [(112, 198), (175, 176)]),
        Region(city: "Mumbai", slug: "mumbai", country: "IN", continent: .asia, utcOffsetMinutes: 330, lang: "en-IN", currency: "INR", fx: 83, ipPrefixes: [(49, 36), (103, 21)]),
        Region(city: "Bangalore", slug: "bangalore", country: "IN", continent: .asia, utcOffsetMinutes: 330, lang: "en-IN", currency: "INR", fx: 83, ipPrefixes: [(106, 51), (122, 171)]),
        Region(city: "Sydney", slug: "sydney", country: "AU", continent: .asia, utcOffsetMinutes: 600, lang: "en-AU", currency: "AUD", fx: 1.5, ipPrefixes: [(101, 160), (203, 206)]),
        Region(city: "Dubai", slug: "dubai", country: "AE", continent: .asia, utcOffsetMinutes: 240, lang: "ar-AE", currency: "AED", fx: 3.67, ipPrefixes: [(94, 200), (5, 193)]),
        // Europe
        Region(city: "London", slug: "london", country: "GB", continent: .europe, utcOffsetMinutes: 0, lang: "en-GB", currency: "GBP", fx: 0.79, ipPrefixes: [(81, 2), (86, 128), (2, 24)]),
        Region(city: "Manchester", slug: "manchester", country: "GB", continent: .europe, utcOffsetMinutes: 0, lang: "en-GB", currency: "GBP", fx: 0.79, ipPrefixes: [(82, 132), (31, 48)]),
        Region(city: "Dublin", slug: "dublin", country: "IE", continent: .europe, utcOffsetMinutes: 0, lang: "en-IE", currency: "EUR", fx: 0.92, ipPrefixes: [(86, 40), (89, 101)]),
        Region(city: "Paris", slug: "paris", country: "FR", continent: .europe, utcOffsetMinutes: 60, lang: "fr-FR", currency: "EUR", fx: 0.92, ipPrefixes: [(90, 12), (82, 64), (88, 160)]),
        Region(city: "Berlin", slug: "berlin", country: "DE", continent: .europe, utcOffsetMinutes: 60, lang: "de-DE", currency: "EUR", fx: 0.92, ipPrefixes: [(91, 64), (87, 123), (79, 192)]),
        Region(city: "Munich", slug: "munich", country: "DE", continent: .europe, utcOffsetMinutes: 60, lang: "de-DE", currency: "EUR", fx: 0.92, ipPrefixes: [(93, 104), (84, 56)]),
        Region(city: "Madrid", slug: "madrid", country: "ES", continent: .europe, utcOffsetMinutes: 60, lang: "es-ES", currency: "EUR", fx: 0.92, ipPrefixes: [(83, 32), (88, 0)]),
        Region(city: "Milan", slug: "milan", country: "IT", continent: .europe, utcOffsetMinutes: 60, lang: "it-IT", currency: "EUR", fx: 0.92, ipPrefixes: [(79, 16), (93, 36)]),
        Region(city: "Amsterdam", slug: "amsterdam", country: "NL", continent: .europe, utcOffsetMinutes: 60, lang: "nl-NL", currency: "EUR", fx: 0.92, ipPrefixes: [(84, 80), (145, 53)]),
        Region(city: "Stockholm", slug: "stockholm", country: "SE", continent: .europe, utcOffsetMinutes: 60, lang: "sv-SE", currency: "SEK", fx: 10.5, ipPrefixes: [(81, 224), (90, 224)]),
        Region(city: "Warsaw", slug: "warsaw", country: "PL", continent: .europe, utcOffsetMinutes: 60, lang: "pl-PL", currency: "PLN", fx: 4.0, ipPrefixes: [(83, 0), (89, 64)]),
        Region(city: "Istanbul", slug: "istanbul", country: "TR", continent: .europe, utcOffsetMinutes: 180, lang: "tr-TR", currency: "TRY", fx: 32, ipPrefixes: [(78, 160), (88, 224)]),
        // Americas
        Region(city: "New York", slug: "newyork", country: "US", continent: .americas, utcOffsetMinutes: -300, lang: "en-US", currency: "USD", fx: 1, ipPrefixes: [(73, 12), (98, 116), (24, 44)]),
        Region(city: "Chicago", slug: "chicago", country: "US", continent: .americas, utcOffsetMinutes: -360, lang: "en-US", currency: "USD", fx: 1, ipPrefixes: [(73, 44), (67, 175)]),
        Region(city: "Austin", slug: "austin", country: "US", continent: .americas, utcOffsetMinutes: -360, lang: "en-US", currency: "USD", fx: 1, ipPrefixes: [(70, 112), (99, 60)]),
        Region(city: "Denver", slug: "denver", country: "US", continent: .americas, utcOffsetMinutes: -420, lang: "en-US", currency: "USD", fx: 1, ipPrefixes: [(71, 196), (75, 166)]),
        Region(city: "Los Angeles", slug: "losangeles", country: "US", continent: .americas, utcOffsetMinutes: -480, lang: "en-US", currency: "USD", fx: 1, ipPrefixes: [(76, 89), (104, 32), (47, 144)]),
        Region(city: "Seattle", slug: "seattle", country: "US", continent: .americas, utcOffsetMinutes: -480, lang: "en-US", currency: "USD", fx: 1, ipPrefixes: [(67, 160), (97, 113)]),
        Region(city: "Toronto", slug: "toronto", country: "CA", continent: .americas, utcOffsetMinutes: -300, lang: "en-CA", currency: "CAD", fx: 1.36, ipPrefixes: [(99, 224), (142, 112)]),
        Region(city: "Mexico City", slug: "mexicocity", country: "MX", continent: .americas, utcOffsetMinutes: -360, lang: "es-MX", currency: "MXN", fx: 17, ipPrefixes: [(187, 188), (189, 203)]),
        Region(city: "São Paulo", slug: "saopaulo", country: "BR", continent: .americas, utcOffsetMinutes: -180, lang: "pt-BR", currency: "BRL", fx: 5, ipPrefixes: [(177, 32), (189, 100), (200, 158)]),
        Region(city: "Buenos Aires", slug: "buenosaires", country: "AR", continent: .americas, utcOffsetMinutes: -180, lang: "es-AR", currency: "ARS", fx: 900, ipPrefixes: [(181, 46), (190, 210)]),
        Region(city: "Bogotá", slug: "bogota", country: "CO", continent: .americas, utcOffsetMinutes: -300, lang: "es-CO", currency: "COP", fx: 3900, ipPrefixes: [(181, 48), (190, 24)]),
        Region(city: "Santiago", slug: "santiago", country: "CL", continent: .americas, utcOffsetMinutes: -240, lang: "es-CL", currency: "CLP", fx: 900, ipPrefixes: [(190, 96), (186, 10)]),
    ]

    /// Categories; `true` marks e-commerce sites, which run the view → cart → purchase funnel.
    public static let categories: [(name: String, commerce: Bool)] = [
        ("shop", true), ("news", false), ("travel", true), ("games", false), ("fashion", true), ("food", true),
        ("tech", true), ("sport", false), ("music", false), ("video", false), ("bank", false), ("auto", true),
        ("beauty", true), ("books", true), ("home", true), ("kids", true), ("pets", true), ("health", false),
        ("jobs", false), ("realty", false), ("tickets", true), ("weather", false), ("market", true), ("blog", false),
    ]
}

/// One simulated site.
public struct SimSite: Sendable {
    public let index: Int
    public let id: String
    public let host: String
    public let region: Region
    public let category: String
    public let commerce: Bool
    /// Relative popularity (Zipf-like over a seeded shuffle of the sites).
    public let popularity: Double
    /// Sites that run flash sales: their traffic bursts for a few minutes at a time.
    public let flashSales: Bool
}

public enum SiteCatalog {
    /// Builds `count` sites deterministically from `seed`, spread evenly over the three continents.
    public static func make(count: Int, seed: UInt64) -> [SimSite] {
        var rng = Xoshiro256(seed: seed ^ 0x5173_1E5E)
        let byContinent = Dictionary(grouping: World.regions.indices, by: { World.regions[$0].continent })
        let continents = Region.Continent.allCases
        var used = Set<String>()
        var sites: [SimSite] = []
        sites.reserveCapacity(count)
        // Popularity ranks are a seeded permutation, so the biggest site is not always the first.
        var ranks = Array(1...max(count, 1))
        ranks.shuffle(using: &rng)
        let flashCount = max(1, count / 100)
        var flashSet = Set<Int>()
        while flashSet.count < min(flashCount, count) { flashSet.insert(rng.below(count)) }
        for i in 0..<count {
            let continent = continents[i % continents.count]
            let pool = byContinent[continent] ?? Array(World.regions.indices)
            let region = World.regions[pool[rng.below(pool.count)]]
            let cat = World.categories[rng.below(World.categories.count)]
            var id = "\(cat.name)-\(region.slug)"
            var n = 2
            while used.contains(id) { id = "\(cat.name)-\(region.slug)-\(n)"; n += 1 }
            used.insert(id)
            let rank = Double(ranks[i])
            sites.append(SimSite(index: i, id: id, host: "www.\(cat.name)\(region.slug)\(n > 2 ? String(n - 1) : "").example",
                                 region: region, category: cat.name, commerce: cat.commerce,
                                 popularity: 1 / pow(rank, 0.9), flashSales: flashSet.contains(i)))
        }
        return sites
    }
}

/// Relative traffic by local hour: quiet at night, a morning rise, an evening peak around 19–20 h.
public enum DailyCurve {
    public static let hourly: [Double] = [0.34, 0.24, 0.17, 0.13, 0.12, 0.15, 0.26, 0.45, 0.65, 0.78, 0.85, 0.89,
                                          0.92, 0.90, 0.87, 0.87, 0.89, 0.94, 0.99, 1.00, 0.97, 0.88, 0.70, 0.50]

    /// Multiplier at UTC time `ms` for a site `offsetMinutes` from UTC, linear between hours.
    public static func factor(utcMs: Int64, offsetMinutes: Int) -> Double {
        let minuteOfDay = ((utcMs / 60_000 + Int64(offsetMinutes)) % 1440 + 1440) % 1440
        let h = Int(minuteOfDay / 60), frac = Double(minuteOfDay % 60) / 60
        return hourly[h] * (1 - frac) + hourly[(h + 1) % 24] * frac
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
