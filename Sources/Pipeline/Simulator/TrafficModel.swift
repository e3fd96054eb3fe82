/// What visitors look like: devices and their user agents, where they come from, what bots do.

enum SimDevice: Int, Sendable, CaseIterable { case desktop, mobile, tablet, bot }

struct UserAgent {
    let device: SimDevice
    let ua: [UInt8]
    let screens: [[UInt8]]
    let weight: Double
}

enum TrafficModel {
    static let desktopScreens = ["1920x1080", "1366x768", "1536x864", "2560x1440", "1440x900"].map { Array($0.utf8) }
    static let mobileScreens = ["390x844", "412x915", "375x667", "360x800", "430x932"].map { Array($0.utf8) }
    static let tabletScreens = ["810x1080", "820x1180", "768x1024", "800x1280"].map { Array($0.utf8) }

    static let humanAgents: [UserAgent] = [
        UserAgent(device: .desktop, ua: Array("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36".utf8), screens: desktopScreens, weight: 22),
        UserAgent(device: .desktop, ua: Array("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36".utf8), screens: desktopScreens, weight: 8),
        UserAgent(device: .desktop, ua: Array("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15".utf8), screens: desktopScreens, weight: 5),
        UserAgent(device: .desktop, ua: Array("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0".utf8), screens: desktopScreens, weight: 4),
        UserAgent(device: .desktop, ua: Array("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0".utf8), screens: desktopScreens, weight: 5),
        UserAgent(device: .desktop, ua: Array("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36".utf8), screens: desktopScreens, weight: 1),
        UserAgent(device: .mobile, ua: Array("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1".utf8), screens: mobileScreens, weight: 20),
        UserAgent(device: .mobile, ua: Array("Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.39 Mobile Safari/537.36".utf8), screens: mobileScreens, weight: 16),
        UserAgent(device: .mobile, ua: Array("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36".utf8), screens: mobileScreens, weight: 6),
        UserAgent(device: .mobile, ua: Array("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.39 Mobile Safari/537.36".utf8), screens: mobileScreens, weight: 5),
        UserAgent(device: .tablet, ua: Array("Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1".utf8), screens: tabletScreens, weight: 5),
        UserAgent(device: .tablet, ua: Array("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.39 Safari/537.36".utf8), screens: tabletScreens, weight: 3),
    ]

    static let botAgents: [UserAgent] = [
        UserAgent(device: .bot, ua: Array("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)".utf8), screens: desktopScreens, weight: 5),
        UserAgent(device: .bot, ua: Array("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)".utf8), screens: desktopScreens, weight: 2),
        UserAgent(device: .bot, ua: Array("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)".utf8), screens: desktopScreens, weight: 2),
        UserAgent(device: .bot, ua: Array("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)".utf8), screens: desktopScreens, weight: 1),
        UserAgent(device: .bot, ua: Array("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36".utf8), screens: desktopScreens, weight: 2),
        UserAgent(device: .bot, ua: Array("python-requests/2.32.3".utf8), screens: desktopScreens, weight: 1),
        UserAgent(device: .bot, ua: Array("curl/8.5.0".utf8), screens: desktopScreens, weight: 1),
    ]

    /// How a session arrived. `referrer` may be empty (direct, email); `utm` is appended to the landing URL.
    struct Source {
        let referrer: [UInt8]
        let utm: [UInt8]
        let weight: Double
    }

    static let sources: [Source] = [
        Source(referrer: [], utm: [], weight: 33),                                                        // direct
        Source(referrer: Array("https://www.google.com/".utf8), utm: [], weight: 20),                     // organic search
        Source(referrer: Array("https://www.bing.com/".utf8), utm: [], weight: 3),
        Source(referrer: Array("https://search.naver.com/".utf8), utm: [], weight: 2),
        Source(referrer: Array("https://www.baidu.com/".utf8), utm: [], weight: 1.5),
        Source(referrer: Array("https://duckduckgo.com/".utf8), utm: [], weight: 1),
        Source(referrer: Array("https://search.yahoo.co.jp/".utf8), utm: [], weight: 1),
        Source(referrer: Array("https://www.google.com/".utf8), utm: Array("utm_source=google&utm_medium=cpc&utm_campaign=brand".utf8), weight: 6),  // paid search
        Source(referrer: Array("https://www.bing.com/".utf8), utm: Array("utm_source=bing&utm_medium=cpc&utm_campaign=generic".utf8), weight: 1.5),
        Source(referrer: Array("https://www.facebook.com/".utf8), utm: [], weight: 5),                    // organic social
        Source(referrer: Array("https://www.instagram.com/".utf8), utm: [], weight: 3),
        Source(referrer: Array("https://t.co/".utf8), utm: [], weight: 2),
        Source(referrer: Array("https://www.reddit.com/".utf8), utm: [], weight: 1.5),
        Source(referrer: Array("https://www.linkedin.com/".utf8), utm: [], weight: 1),
        Source(referrer: Array("https://www.tiktok.com/".utf8), utm: [], weight: 1.5),
        Source(referrer: Array("https://www.facebook.com/".utf8), utm: Array("utm_source=facebook&utm_medium=paid_social&utm_campaign=retarget".utf8), weight: 3), // paid social
        Source(referrer: [], utm: Array("utm_source=newsletter&utm_medium=email&utm_campaign=weekly".utf8), weight: 5),   // email
        Source(referrer: Array("https://news.ycombinator.com/".utf8), utm: [], weight: 1),                // referral
        Source(referrer: Array("https://www.wikipedia.org/".utf8), utm: [], weight: 2),
        Source(referrer: Array("https://blog.example.net/".utf8), utm: [], weight: 2),
        Source(referrer: Array("https://ad.doubleclick.net/".utf8), utm: Array("utm_source=gdn&utm_medium=display&utm_campaign=awareness".utf8), weight: 2), // display
        Source(referrer: Array("https://deals.example.org/".utf8), utm: Array("utm_source=partner&utm_medium=affiliate&utm_campaign=cashback".utf8), weight: 2), // affiliates
    ]

    static let searchTerms = ["shoes", "laptop", "sale", "gift", "weather", "tickets", "coffee", "jacket", "phone", "news"].map { Array($0.utf8) }
    static let commercePages = ["category/new", "category/sale", "category/men", "category/women", "category/kids", "category/home"].map { Array($0.utf8) }
    static let contentSections = ["section/world", "section/business", "section/tech", "section/sports", "section/culture", "section/opinion"].map { Array($0.utf8) }
    static let botIPPrefixes: [(UInt8, UInt8)] = [(66, 249), (40, 77), (54, 36), (5, 255)]
}
