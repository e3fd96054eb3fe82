import Foundation

/// A few dedicated threads that run fdatasync calls side by side, so one group commit over
/// several shards costs about one journal commit instead of one per shard. Threads, not the
/// Swift concurrency pool: fsync blocks, and the cooperative pool has only one thread per core.
final class SyncPool: @unchecked Sendable {
    private let cond = NSCondition()
    private var jobs: [() -> Void] = []
    private var pending = 0
    private var stopping = false
    private var alive = 0

    init(threads: Int) {
        for i in 0..<max(0, threads) {
            alive += 1
            let t = Thread { [self] in self.worker() }
            t.name = "eddy-stream-fsync-\(i)"
            t.start()
        }
    }

    /// Runs every job, the first on the calling thread, and returns when all are done.
    func runAll(_ work: [() -> Void]) {
        guard let first = work.first else { return }
        if work.count == 1 || alive == 0 { for w in work { w() }; return }
        cond.lock()
        jobs.append(contentsOf: work.dropFirst())
        pending += work.count - 1
        cond.broadcast()
        cond.unlock()
        first()
        cond.lock()
        // Help with what the workers have not picked up yet, then wait for the rest.
        while let j = jobs.popLast() { cond.unlock(); j(); cond.lock(); pending -= 1 }
        while pending > 0 { cond.wait() }
        cond.unlock()
    }

    func stop() {
        cond.lock(); stopping = true; cond.broadcast()
        while alive > 0 { cond.wait() }
        cond.unlock()
    }

    private func worker() {
        cond.lock()
        while true {
            while jobs.isEmpty && !stopping { cond.wait() }
            if stopping && jobs.isEmpty { break }
            let j = jobs.removeLast()
            cond.unlock()
            j()
            cond.lock()
            pending -= 1
            cond.broadcast()
        }
        alive -= 1
        cond.broadcast()
        cond.unlock()
    }
}
