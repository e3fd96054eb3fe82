/// The on-demand scaling decision as a pure state machine: fed each tick's per-shard write
/// rates, it returns what to do. The stream performs the actions. No clock, no disk.
struct AutoScaler {
    struct Load { var index: Int; var start: HashKey; var end: HashKey; var bytesPerSec: Double; var recordsPerSec: Double }
    enum Action: Equatable { case split(Int), merge(Int, Int) }

    var hotTicks: [Int: Int] = [:]
    var coldTicks: [Int: Int] = [:]   // keyed by the lower shard of an adjacent pair
    var cooldown: [Int: Int] = [:]

    /// `open` sorted by starting hash key.
    mutating func decide(open: [Load], config c: AutoScaleConfig) -> [Action] {
        for (k, v) in cooldown { cooldown[k] = v > 1 ? v - 1 : nil }
        var actions: [Action] = []
        var count = open.count
        var busy = Set<Int>()
        for l in open {
            let hot = l.bytesPerSec > c.splitBytesPerSec || l.recordsPerSec > c.splitRecordsPerSec
            if hot { hotTicks[l.index, default: 0] += 1 } else { hotTicks[l.index] = nil }
            if hot, (hotTicks[l.index] ?? 0) >= c.sustainTicks, cooldown[l.index] == nil, count < c.maxShards,
               l.start < l.end {
                actions.append(.split(l.index)); busy.insert(l.index); count += 1; hotTicks[l.index] = nil
            }
        }
        if open.count >= 2 {
            for i in 0..<(open.count - 1) {
                let a = open[i], b = open[i + 1]
                let cold = a.bytesPerSec + b.bytesPerSec < c.mergeBytesPerSec
                    && a.recordsPerSec + b.recordsPerSec < c.splitRecordsPerSec / 2
                if cold { coldTicks[a.index, default: 0] += 1 } else { coldTicks[a.index] = nil }
                if cold, (coldTicks[a.index] ?? 0) >= c.coldTicks, count > c.minShards,
                   !busy.contains(a.index), !busy.contains(b.index), cooldown[a.index] == nil, cooldown[b.index] == nil {
                    actions.append(.merge(a.index, b.index)); busy.insert(a.index); busy.insert(b.index); count -= 1
                    coldTicks[a.index] = nil
                }
            }
        }
        return actions
    }

    /// New shards rest before they may change again.
    mutating func rest(_ idx: Int, ticks: Int) { if ticks > 0 { cooldown[idx] = ticks } }
}
