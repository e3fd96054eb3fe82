import Foundation
import Metrics

public struct DashboardOptions: Sendable {
    /// Draw with ASCII only (also chosen automatically when the locale is not UTF-8).
    public var ascii: Bool
    /// How often the source is polled, in milliseconds (`:refresh` changes it at run time).
    public var refreshMs: Int
    public var themeSearchPaths: [String]
    public var namedQueries: [NamedQuery]
    public var mouse: Bool
    public init(ascii: Bool = false, refreshMs: Int = 1000, themeSearchPaths: [String] = Theme.defaultSearchPaths(),
                namedQueries: [NamedQuery] = NamedQuery.defaults, mouse: Bool = true) {
        self.ascii = ascii; self.refreshMs = refreshMs; self.themeSearchPaths = themeSearchPaths
        self.namedQueries = namedQueries; self.mouse = mouse
    }
}

/// The dashboard's entry point: owns the terminal on one dedicated thread (every curses call
/// happens there), polls the source from a task, runs queries in tasks, and redraws when data,
/// a key or a resize arrives.
public enum Dashboard {
    /// Runs until the user quits. Throws `DashboardError` when stdin/stdout is not a terminal or
    /// the terminal cannot be set up, and `ThemeError` for an unknown theme; the caller prints
    /// the error and exits non-zero. The terminal is restored (endwin) on every path.
    public static func run(source: any SnapshotSource, query: (any QueryService)?, theme: String = "default",
                           options: DashboardOptions = DashboardOptions()) async throws {
        guard TerminalEnvironment.isTTY() else {
            throw DashboardError(message: "eddy's dashboard needs a terminal (stdin and stdout must be a TTY); use `eddy serve` for headless use")
        }
        let initialTheme = try Theme.load(named: theme, searchPaths: options.themeSearchPaths)
        let utf8 = TerminalEnvironment.setLocaleIsUTF8()
        let mailbox = Mailbox(refreshMs: options.refreshMs)

        let poller = Task {
            while !mailbox.stopped && !Task.isCancelled {
                do {
                    if let s = try await source.latest() { mailbox.post(snapshot: s) }
                } catch is CancellationError {
                    break
                } catch {
                    mailbox.post(sourceError: "data source: \(error)")
                }
                try? await Task.sleep(nanoseconds: UInt64(mailbox.refreshMs) * 1_000_000)
            }
        }
        defer { poller.cancel(); mailbox.cancelQuery() }

        // SIGTERM / SIGHUP: leave through the loop so endwin runs (Ctrl-C is a key in raw mode)
        var signalSources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler { mailbox.requestQuit() }
            src.resume()
            signalSources.append(src)
        }
        defer {
            for src in signalSources { src.cancel() }
            signal(SIGTERM, SIG_DFL); signal(SIGHUP, SIG_DFL)
        }

        let config = LoopConfig(theme: initialTheme, ascii: options.ascii || !utf8, utf8: utf8, options: options)
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, Error>) in
            let thread = Thread {
                do {
                    try uiLoop(config: config, mailbox: mailbox, query: query)
                    cont.resume()
                } catch {
                    cont.resume(throwing: error)
                }
            }
            thread.name = "eddy-dashboard-ui"
            thread.stackSize = 8 << 20
            thread.start()
        }
        mailbox.stop()
    }

    struct LoopConfig: Sendable {
        var theme: Theme
        var ascii: Bool
        var utf8: Bool
        var options: DashboardOptions
    }

    /// The UI thread: the only place a `Terminal` exists.
    static func uiLoop(config: LoopConfig, mailbox: Mailbox, query: (any QueryService)?) throws {
        let term = try Terminal(mouse: config.options.mouse)
        defer { term.close() }
        var ctx = DrawContext(theme: config.theme, ascii: config.ascii)
        var state = DashboardState(namedQueries: config.options.namedQueries)
        state.themeName = config.theme.name
        state.refreshMs = config.options.refreshMs
        if !config.utf8 { state.message = "locale is not UTF-8: ASCII mode (set LANG=C.UTF-8 for charts in braille)" }
        else if let note = term.colorNote { state.message = note }
        var previous: Canvas? = nil
        var dirty = true
        var lastRunningTick: Int64 = 0
        let clock = { Int64(Date().timeIntervalSince1970 * 1000) }

        while true {
            // 1. collect what arrived
            if mailbox.quitRequested { return }
            if let s = mailbox.takeSnapshot() {
                state.receive(s)
                if state.message?.hasPrefix("data source:") == true { state.message = nil }
                dirty = true
            }
            if let e = mailbox.takeSourceError(), state.message != e { state.message = e; dirty = true }
            if let outcome = mailbox.takeQueryOutcome() {
                switch outcome {
                case .finished(let r): state.queryFinished(r)
                case .failed(let m): state.queryFailed(m)
                case .cancelled: state.queryCancelled()
                }
                dirty = true
            }
            state.nowMs = clock()
            if state.query.running && state.nowMs - lastRunningTick >= 200 { lastRunningTick = state.nowMs; dirty = true }

            // 2. draw: build the frame, diff against the last one, write only the changes
            if dirty {
                let (w, h) = term.size
                let (frame, layout) = Frame.render(state, width: w, height: h, ctx: ctx)
                term.write(Canvas.diff(old: previous, new: frame))
                previous = frame
                state.adopt(layout)
                dirty = false
            }

            // 3. input
            guard let key = term.readKey(timeoutMs: 50) else { continue }
            dirty = true
            if case .resize = key { previous = nil; term.invalidate() }
            for effect in state.handle(key) {
                switch effect {
                case .quit:
                    return
                case .runQuery(let sql):
                    guard let query else { state.queryFailed("this node offers no query service"); break }
                    mailbox.startQuery { try await query.run(sql: sql) }
                case .cancelQuery:
                    mailbox.cancelQuery()
                    state.queryCancelled()
                case .loadTheme(let name):
                    do {
                        ctx.theme = try Theme.load(named: name, searchPaths: config.options.themeSearchPaths)
                        state.themeName = name
                        state.message = "theme \(name)"
                        previous = nil
                    } catch {
                        state.message = "\(error)"
                    }
                case .listThemes:
                    state.message = "themes: " + Theme.available(searchPaths: config.options.themeSearchPaths).joined(separator: ", ")
                        + " (now \(state.themeName))"
                case .setRefresh(let ms):
                    mailbox.refreshMs = ms
                }
            }
        }
    }
}

/// What crosses from the data and query tasks to the UI thread. A lock, not an actor: the UI
/// thread is a plain thread that polls between key reads and must never block on async work.
final class Mailbox: @unchecked Sendable {
    enum QueryOutcome: Sendable { case finished(QueryResult), failed(String), cancelled }

    private let lock = NSLock()
    private var snapshot: NodeSnapshot?
    private var sourceError: String?
    private var outcome: QueryOutcome?
    private var queryTask: Task<Void, Never>?
    private var queryGeneration = 0
    private var _stopped = false
    private var _quit = false
    private var _refreshMs: Int

    init(refreshMs: Int) { _refreshMs = refreshMs }

    var stopped: Bool { lock.withLock { _stopped } }
    var quitRequested: Bool { lock.withLock { _quit } }
    func requestQuit() { lock.withLock { _quit = true } }
    func stop() { lock.withLock { _stopped = true } }
    var refreshMs: Int {
        get { lock.withLock { _refreshMs } }
        set { lock.withLock { _refreshMs = newValue } }
    }

    func post(snapshot s: NodeSnapshot) { lock.withLock { snapshot = s; sourceError = nil } }
    func post(sourceError e: String) { lock.withLock { sourceError = e } }
    func takeSnapshot() -> NodeSnapshot? { lock.withLock { defer { snapshot = nil }; return snapshot } }
    func takeSourceError() -> String? { lock.withLock { defer { sourceError = nil }; return sourceError } }
    var peekHasOutcome: Bool { lock.withLock { outcome != nil } }
    func takeQueryOutcome() -> QueryOutcome? { lock.withLock { defer { outcome = nil }; return outcome } }

    /// Starts a query task; a result from an older (cancelled) query is dropped by generation.
    func startQuery(_ body: @escaping @Sendable () async throws -> QueryResult) {
        let gen: Int = lock.withLock { queryGeneration += 1; return queryGeneration }
        let task = Task {
            let result: QueryOutcome
            do {
                result = .finished(try await body())
            } catch is CancellationError {
                result = .cancelled
            } catch {
                result = Task.isCancelled ? .cancelled : .failed("\(error)")
            }
            self.finish(gen, result)
        }
        lock.withLock { queryTask = task }
    }

    private func finish(_ gen: Int, _ r: QueryOutcome) {
        lock.withLock {
            guard gen == queryGeneration else { return }
            outcome = r
            queryTask = nil
        }
    }

    func cancelQuery() {
        lock.withLock {
            queryTask?.cancel()
            queryTask = nil
            queryGeneration += 1      // whatever it still returns is stale
        }
    }
}
