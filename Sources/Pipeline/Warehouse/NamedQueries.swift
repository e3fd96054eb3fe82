/// The analyst queries shipped with eddy (`eddy query --saved NAME --site SITE`, `--list-saved`).
/// Each names the tables it reads; those served by rollups never scan `events`.
public struct NamedQuery: Sendable {
    public var name: String
    public var summary: String
    /// SQL with `:site` where the site id goes.
    public var template: String
    /// True when it reads only rollups/sessions (dashboard-fast), false when it scans `events`.
    public var rollupOnly: Bool

    /// The SQL for one site (the id is quoted as an SQL string literal).
    public func sql(site: String) -> String {
        template.replacingOccurrences(of: ":site", with: "'" + site.replacingOccurrences(of: "'", with: "''") + "'")
    }
}

public enum NamedQueries {
    public static let all: [NamedQuery] = [
        NamedQuery(name: "top-pages", summary: "Top 20 pages by pageviews (rollup_page_hour), with entries and bounce rate", template: """
            SELECT url_path, sum(pageviews) AS pageviews, sum(entries) AS entries, sum(exits) AS exits,
                   round(100.0 * sum(bounces) / nullif(sum(entries), 0), 1) AS bounce_pct
            FROM rollup_page_hour WHERE site_id = :site
            GROUP BY url_path ORDER BY pageviews DESC LIMIT 20
            """, rollupOnly: true),
        NamedQuery(name: "funnel", summary: "Visitors through view → add_to_cart → purchase, in that order (events)", template: """
            WITH f AS (
              SELECT visitor, min(CASE WHEN type = 'page_view' THEN ts END) AS v,
                     min(CASE WHEN type = 'add_to_cart' THEN ts END) AS c, max(CASE WHEN type = 'purchase' THEN ts END) AS p
              FROM events WHERE site_id = :site AND is_bot = 0 GROUP BY visitor)
            SELECT step, visitors, round(100.0 * visitors / nullif(first_value(visitors) OVER (ORDER BY n), 0), 1) AS pct_of_view
            FROM (SELECT 1 AS n, 'view' AS step, count(v) AS visitors FROM f
                  UNION ALL SELECT 2, 'cart', count(*) FROM f WHERE c >= v
                  UNION ALL SELECT 3, 'purchase', count(*) FROM f WHERE c >= v AND p >= c)
            ORDER BY n
            """, rollupOnly: false),
        NamedQuery(name: "channels", summary: "Sessions, bounce rate, conversions and revenue by channel (rollup_channel_day)", template: """
            SELECT channel, sum(sessions) AS sessions, round(100.0 * sum(bounces) / nullif(sum(sessions), 0), 1) AS bounce_pct,
                   sum(conversions) AS conversions, round(sum(revenue), 2) AS revenue
            FROM rollup_channel_day WHERE site_id = :site GROUP BY channel ORDER BY sessions DESC
            """, rollupOnly: true),
        NamedQuery(name: "retention", summary: "Weekly retention cohorts: visitors by first week and weeks since (sessions)", template: """
            WITH v AS (SELECT visitor, start_ms / 604800000 AS w FROM sessions WHERE site_id = :site AND is_bot = 0),
                 c AS (SELECT visitor, w, min(w) OVER (PARTITION BY visitor) AS c FROM v)
            SELECT date(c * 604800, 'unixepoch') AS cohort_week, w - c AS week, count(DISTINCT visitor) AS visitors
            FROM c GROUP BY 1, 2 ORDER BY 1, 2
            """, rollupOnly: true),
        NamedQuery(name: "heatmap", summary: "Pageviews by UTC weekday × hour (rollup_minute)", template: """
            SELECT CAST(strftime('%w', minute_ms / 1000, 'unixepoch') AS INTEGER) AS weekday,
                   CAST(strftime('%H', minute_ms / 1000, 'unixepoch') AS INTEGER) AS hour, sum(pageviews) AS pageviews
            FROM rollup_minute WHERE site_id = :site GROUP BY 1, 2 ORDER BY 1, 2
            """, rollupOnly: true),
        NamedQuery(name: "bots", summary: "Bot events and visitors by reason (events)", template: """
            SELECT coalesce(bot_reason, '(none given)') AS reason, count(*) AS events, count(DISTINCT visitor) AS visitors
            FROM events WHERE site_id = :site AND is_bot = 1 GROUP BY 1 ORDER BY events DESC
            """, rollupOnly: false),
        NamedQuery(name: "totals", summary: "Totals for the site (rollup_minute)", template: """
            SELECT site_id, sum(events) AS events, sum(pageviews) AS pageviews, sum(sessions) AS sessions,
                   sum(bounces) AS bounces, sum(purchases) AS purchases, round(sum(revenue), 2) AS revenue
            FROM rollup_minute WHERE site_id = :site GROUP BY site_id
            """, rollupOnly: true),
        NamedQuery(name: "visitors-per-day", summary: "Distinct visitors per UTC day (rollup_site_day)", template: """
            SELECT day, visitors FROM rollup_site_day WHERE site_id = :site ORDER BY day
            """, rollupOnly: true),
    ]

    public static func named(_ n: String) -> NamedQuery? { all.first { $0.name == n } }
}
