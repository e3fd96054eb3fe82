import Metrics

/// Site panel (Enter on a site): KPIs, traffic chart, top lists, funnel and bot share.
enum SitePane {
    static func draw(_ c: inout Canvas, snapshot s: NodeSnapshot, siteId: String, state: DashboardState, rect: Rect, ctx: DrawContext) {
        let t = ctx.theme
        guard let site = s.sites.first(where: { $0.siteId == siteId }) else {
            ctx.box(&c, rect, siteId)
            Chrome.empty(&c, rect.inset(1), "no data for site \(siteId) in this snapshot", ctx: ctx)
            return
        }
        let views = Double(site.eventsByType["pageview"] ?? site.pageviews)
        let conversion = site.sessions > 0 ? Double(site.purchases) / Double(site.sessions) : 0
        let kpi: [(String, String, Style?)] = [
            ("events/s", Fmt.si(site.eventsPerSec), nil),
            ("visitors", Fmt.int(site.activeVisitors), nil),
            ("today", Fmt.int(site.visitorsToday), nil),
            ("pageviews", Fmt.int(site.pageviews), nil),
            ("sessions", Fmt.int(site.sessions), nil),
            ("bounce", Fmt.percent(site.bounceRate), nil),
            ("avg session", Fmt.ms(site.avgSessionSeconds * 1000), nil),
            ("conversion", Fmt.percent(conversion, digits: 2), nil),
            ("revenue", Fmt.si(site.revenue), nil),
            ("bots", Fmt.percent(site.botShare), site.botShare > 0.2 ? t.fg("warn", .bold) : nil),
        ]
        let perRow = max(1, (rect.width - 2) / 11)
        let kpiRows = (kpi.count + perRow - 1) / perRow
        let (kpiRect, rest) = rect.splitTop(kpiRows * 2 + 2)
        ctx.box(&c, kpiRect, site.siteId)
        Chrome.kpis(&c, kpi, rect: kpiRect.inset(1), ctx: ctx, cellWidth: 11)

        let chartH = rest.height < 20 ? 6 : min(rest.height / 2, 14)
        let (chartRect, lists) = rest.splitTop(chartH)
        let isDay = state.siteChart == .day
        let series = isDay ? site.eventsPerMinuteHistory : site.eventsPerSecHistory
        let chartTitle = isDay ? "events per minute, last 24 h (m: 10 min)" : "events per second, last 10 min (m: 24 h)"
        ctx.box(&c, chartRect, chartTitle)
        let chartInner = chartRect.inset(1)
        if series.isEmpty {
            Chrome.empty(&c, chartInner, "no history yet", ctx: ctx)
        } else {
            let labels = isDay ? ["-24h", "-12h", "now"] : ["-10m", "-5m", "now"]
            LineChart(series: series, xLabels: labels, style: t.fg("graph"), axisStyle: t.dim, ascii: ctx.ascii,
                      capacity: isDay ? 1440 : 600)
                .draw(in: &c, rect: chartInner)
        }

        // lower grid: 3 columns × 2 rows of ranked lists
        let boxes: [(String, [RankedCount])] = [
            ("Top pages", site.topPages),
            ("Channels", site.channels),
            ("Referrers", site.referrers),
            ("Countries", site.countries),
            ("Devices · browsers", site.devices + site.browsers),
        ]
        let colW = lists.width / 3
        let rowH = lists.height / 2
        for (i, b) in boxes.enumerated() {
            let col = i % 3, row = i / 3
            let r = Rect(x: lists.x + col * colW, y: lists.y + row * rowH,
                         width: col == 2 ? lists.width - 2 * colW : colW, height: row == 1 ? lists.height - rowH : rowH)
            ranked(&c, b.0, b.1, rect: r, ctx: ctx)
        }
        let funnelRect = Rect(x: lists.x + 2 * colW, y: lists.y + rowH, width: lists.width - 2 * colW, height: lists.height - rowH)
        funnel(&c, views: views, carts: Double(site.addToCarts), purchases: Double(site.purchases), revenue: site.revenue,
               rect: funnelRect, ctx: ctx)
    }

    static func ranked(_ c: inout Canvas, _ title: String, _ items: [RankedCount], rect: Rect, ctx: DrawContext) {
        guard rect.height >= 3 else { return }
        ctx.box(&c, rect, ctx.ascii ? title.replacingOccurrences(of: "·", with: "/") : title)
        let inner = rect.inset(1)
        if items.isEmpty { Chrome.empty(&c, inner, "none yet", ctx: ctx); return }
        let top = Double(items.map(\.count).max() ?? 1)
        let numW = 6
        let barW = max(0, min(8, inner.width / 4))
        let nameW = max(1, inner.width - numW - barW - 2)
        for (i, it) in items.prefix(inner.height).enumerated() {
            let y = inner.y + i
            c.text(CharWidth.pad(it.name, to: nameW, ellipsis: ctx.ellipsis), x: inner.x, y: y, style: ctx.theme.base)
            c.text(CharWidth.pad(Fmt.int(it.count), to: numW, right: true), x: inner.x + nameW + 1, y: y, style: ctx.theme.hi)
            HBar(fraction: top > 0 ? Double(it.count) / top : 0, style: ctx.theme.fg("bar"), ascii: ctx.ascii)
                .draw(in: &c, x: inner.x + nameW + numW + 2, y: y, width: barW)
        }
    }

    /// view → cart → purchase with the step-to-step rate, so the leak is visible at a glance.
    static func funnel(_ c: inout Canvas, views: Double, carts: Double, purchases: Double, revenue: Double, rect: Rect, ctx: DrawContext) {
        guard rect.height >= 3 else { return }
        ctx.box(&c, rect, "Funnel")
        let inner = rect.inset(1)
        let steps: [(String, Double, Double?)] = [
            ("view", views, nil),
            ("cart", carts, views > 0 ? carts / views : nil),
            ("purchase", purchases, carts > 0 ? purchases / carts : nil),
        ]
        let labelW = 9, numW = 6, rateW = 7
        let barW = max(0, inner.width - labelW - numW - rateW - 3)
        for (i, st) in steps.enumerated() where i < inner.height {
            let y = inner.y + i
            c.text(st.0, x: inner.x, y: y, style: ctx.theme.dim)
            c.text(CharWidth.pad(Fmt.si(st.1), to: numW, right: true), x: inner.x + labelW, y: y, style: ctx.theme.hi)
            HBar(fraction: views > 0 ? st.1 / views : 0, style: ctx.theme.fg("bar"), ascii: ctx.ascii)
                .draw(in: &c, x: inner.x + labelW + numW + 1, y: y, width: barW)
            if let r = st.2 {
                c.text(CharWidth.pad(Fmt.percent(r), to: rateW, right: true), x: inner.maxX - rateW, y: y, style: ctx.theme.base)
            }
        }
        if inner.height > 3 {
            c.text("revenue " + Fmt.si(revenue), x: inner.x, y: inner.y + 3, style: ctx.theme.dim)
        }
    }
}
