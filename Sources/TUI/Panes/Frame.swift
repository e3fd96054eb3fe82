import Metrics

/// Builds one whole frame from the state: chrome, the current pane, overlays. Pure: same state,
/// theme and size give the same canvas, which is what golden tests and the benchmark rely on.
public enum Frame {
    public static let minWidth = 80
    public static let minHeight = 24

    public static func render(_ state: DashboardState, width: Int, height: Int, ctx: DrawContext) -> (Canvas, Layout) {
        var c = Canvas(width: width, height: height, fill: Cell(scalar: 0x20, width: 1, style: ctx.theme.base))
        var layout = Layout()
        if width < minWidth || height < minHeight {
            Chrome.tooSmall(&c, min: (minWidth, minHeight), ctx: ctx)
            return (c, layout)
        }
        layout.tabs = Chrome.tabBar(&c, state: state, ctx: ctx)
        let body = Rect(x: 0, y: 1, width: width, height: height - 2)
        var placement = ListPlacement()
        if case .query = state.screen {
            placement = QueryPane.draw(&c, state: state, rect: body, ctx: ctx)
        } else if let s = state.snapshot {
            switch state.screen {
            case .overview: placement = OverviewPane.draw(&c, snapshot: s, state: state, rect: body, ctx: ctx)
            case .site(let id): SitePane.draw(&c, snapshot: s, siteId: id, state: state, rect: body, ctx: ctx)
            case .shards: placement = ShardsPane.draw(&c, snapshot: s, state: state, rect: body, ctx: ctx)
            case .delivery: placement = DeliveryPane.draw(&c, snapshot: s, state: state, rect: body, ctx: ctx)
            case .query: break
            }
        } else {
            ctx.box(&c, body, state.screen.title)
            Chrome.empty(&c, body.inset(1), "waiting for the first snapshot…", ctx: ctx)
        }
        layout.listTop = placement.top; layout.listRows = placement.rows; layout.listOffset = placement.offset
        layout.listX0 = placement.x0; layout.listX1 = placement.x1
        Chrome.statusLine(&c, state: state, ctx: ctx)
        if state.showHelp { HelpOverlay.draw(&c, keymap: state.keymap, ctx: ctx) }
        return (c, layout)
    }
}

extension DashboardState {
    /// Takes the layout of the frame just drawn: mouse hit-testing and scroll offsets follow it.
    public mutating func adopt(_ layout: Layout) {
        self.layout = layout
        switch screen {
        case .overview: sites.offset = layout.listOffset
        case .shards: shards.offset = layout.listOffset
        case .delivery: partitions.offset = layout.listOffset
        case .query: query.rows.offset = layout.listOffset
        case .site: break
        }
    }
}
