import Foundation

/// A run of complete lines of one lake object, decompressed (and, for the loader, parsed) by the
/// producer thread of a `LinePipeline`. Lines are copied into `bytes`; for a parsed block, each
/// row's column spans index `bytes` too (strings with escapes are decoded into `bytes` after the
/// line), so a consumer reads a row as `ParsedLine` spans over `line` with nothing `decoded`.
final class LineBlock {
    static let columns = EventColumn.count
    /// A block is handed over at this many rows or bytes, whichever comes first.
    static let maxRows = 1024
    static let targetBytes = 1 << 20

    private(set) var bytes: UnsafeMutablePointer<UInt8>
    private(set) var cap: Int
    private(set) var used = 0
    private(set) var rows = 0
    let parsed: Bool
    // Per row.
    let lineStart: UnsafeMutablePointer<Int>
    let lineEnd: UnsafeMutablePointer<Int>
    let lineNumber: UnsafeMutablePointer<Int>
    // Per row × column (parsed blocks only).
    let kinds: UnsafeMutablePointer<ParsedLine.ValueKind>
    let starts: UnsafeMutablePointer<Int>
    let ends: UnsafeMutablePointer<Int>
    let bools: UnsafeMutablePointer<Bool>

    /// Index of the object (in the pipeline's list) the rows belong to.
    var object = 0
    /// This block is the object's last one (at its end, or at `error`).
    var objectEnd = false
    /// Compressed bytes of the object read so far when the block was handed over.
    var compressedBytesRead: Int64 = 0
    /// Reading the object stopped here, after `rows` good rows.
    var error: Error?

    init(parsed: Bool) {
        self.parsed = parsed
        cap = Self.targetBytes + (64 << 10)
        bytes = .allocate(capacity: cap)
        lineStart = .allocate(capacity: Self.maxRows)
        lineEnd = .allocate(capacity: Self.maxRows)
        lineNumber = .allocate(capacity: Self.maxRows)
        let cells = parsed ? Self.maxRows * Self.columns : 1
        kinds = .allocate(capacity: cells)
        starts = .allocate(capacity: cells)
        ends = .allocate(capacity: cells)
        bools = .allocate(capacity: cells)
    }

    deinit {
        bytes.deallocate(); lineStart.deallocate(); lineEnd.deallocate(); lineNumber.deallocate()
        kinds.deallocate(); starts.deallocate(); ends.deallocate(); bools.deallocate()
    }

    func reset(object: Int) {
        used = 0; rows = 0
        self.object = object
        objectEnd = false; compressedBytesRead = 0; error = nil
    }

    var isFull: Bool { rows >= Self.maxRows || used >= Self.targetBytes }

    /// All the block's bytes: the `line` buffer that row spans index.
    var buffer: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: bytes, count: used) }

    private func reserve(_ n: Int) { RawBytes.reserve(&bytes, capacity: &cap, used: used, more: n) }

    /// Appends one line (and, for a parsed block, its parse). Caller checks `isFull` first.
    func append(_ line: UnsafeBufferPointer<UInt8>, number: Int, parse p: ParsedLine?) {
        let n = line.count
        let extra = p?.scratch.count ?? 0
        reserve(n + extra)
        let base = used
        if n > 0 { (bytes + base).update(from: line.baseAddress!, count: n) }
        lineStart[rows] = base; lineEnd[rows] = base + n; lineNumber[rows] = number
        if let p {
            let sbase = base + n
            if extra > 0 { p.scratch.withUnsafeBufferPointer { (bytes + sbase).update(from: $0.baseAddress!, count: extra) } }
            let cell = rows * Self.columns
            for c in 0..<Self.columns {
                var k = p.kinds[c]
                let off = p.decoded[c] ? sbase : base
                // An escaped ts string stays what the line parser made of it: not a usable ts.
                if p.decoded[c], c == EventColumn.ts.rawValue { k = .raw }
                kinds[cell + c] = k
                starts[cell + c] = off + p.starts[c]
                ends[cell + c] = off + p.ends[c]
                bools[cell + c] = p.boolValue[c]
            }
        }
        used = base + n + extra
        rows += 1
    }

    /// Calls `body` with a line of the block (a range of `buffer`).
    @inline(__always) func withLine<T>(_ r: Range<Int>, _ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        try body(UnsafeBufferPointer(start: bytes + r.lowerBound, count: r.count))
    }

    /// Loads row `r` into `p` as spans over `buffer` (nothing decoded).
    @inline(__always) func load(row r: Int, into p: inout ParsedLine) {
        let cell = r * Self.columns
        p.kinds.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: kinds + cell, count: Self.columns) }
        p.starts.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: starts + cell, count: Self.columns) }
        p.ends.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: ends + cell, count: Self.columns) }
        p.boolValue.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: bools + cell, count: Self.columns) }
    }
}

/// Reads a list of lake objects on a second thread: decompresses them, splits lines and (for the
/// loader) parses every line, handing over `LineBlock`s in object order through a small bounded
/// queue, so the consumer (SQLite, single-threaded) never waits for zstd or the JSON scan while
/// the producer stays at most `depth` blocks ahead. A failing object gives a block with `error`
/// (after its good rows) and the producer moves on to the next object; the consumer decides.
final class LinePipeline: @unchecked Sendable {
    let paths: [String]
    let parse: Bool
    private let cond = NSCondition()
    private var ready: [LineBlock] = []
    private var free: [LineBlock] = []
    private var cancelled = false
    private var exited = false
    private var started = false

    init(paths: [String], parse: Bool, depth: Int = 4) {
        self.paths = paths
        self.parse = parse
        for _ in 0..<max(2, depth) { free.append(LineBlock(parsed: parse)) }
    }

    deinit { finish() }

    func start() {
        cond.lock(); defer { cond.unlock() }
        guard !started else { return }
        started = true
        let t = Thread { [self] in self.produce() }
        t.name = "eddy-lake-reader"
        t.stackSize = 1 << 20
        t.start()
    }

    /// Stops the producer and waits until it has exited (no block is touched after this).
    func finish() {
        cond.lock()
        cancelled = true
        cond.broadcast()
        while started && !exited { cond.wait() }
        cond.unlock()
    }

    /// The next block in order, nil when every object has been handed over.
    func next() -> LineBlock? {
        cond.lock(); defer { cond.unlock() }
        while ready.isEmpty && !exited { cond.wait() }
        return ready.isEmpty ? nil : ready.removeFirst()
    }

    /// Gives a consumed block back to the producer.
    func recycle(_ b: LineBlock) {
        cond.lock(); free.append(b); cond.signal(); cond.unlock()
    }

    private func takeFree() -> LineBlock? {
        cond.lock(); defer { cond.unlock() }
        while free.isEmpty && !cancelled { cond.wait() }
        return cancelled ? nil : free.removeLast()
    }

    private func hand(_ b: LineBlock) {
        cond.lock(); ready.append(b); cond.broadcast(); cond.unlock()
    }

    private func produce() {
        defer { cond.lock(); exited = true; cond.broadcast(); cond.unlock() }
        var p = ParsedLine()
        for (k, path) in paths.enumerated() {
            guard var b = takeFree() else { return }
            b.reset(object: k)
            var reader: LakeObjectReader?
            do {
                let r = try LakeObjectReader(path: path)
                reader = r
                while let l = try r.nextLine() {
                    if b.isFull {
                        b.compressedBytesRead = r.compressedBytesRead
                        hand(b)
                        guard let nb = takeFree() else { return }
                        b = nb
                        b.reset(object: k)
                    }
                    try r.withLine(l) { line in
                        if parse {
                            do { try LakeLineParser.parse(line, into: &p) } catch let e as LakeLineParser.Bad {
                                throw LakeLineError(message: e.message, line: r.lineNumber)
                            }
                            b.append(line, number: r.lineNumber, parse: p)
                        } else {
                            b.append(line, number: r.lineNumber, parse: nil)
                        }
                    }
                }
            } catch {
                b.error = error
            }
            b.compressedBytesRead = reader?.compressedBytesRead ?? 0
            b.objectEnd = true
            hand(b)
        }
    }
}

/// A line of an object that did not parse (the consumer adds the object's name).
struct LakeLineError: Error { var message: String; var line: Int }
