/// Space-Saving top-K (Metwally, Agrawal, El Abbadi 2005) over 64-bit key hashes.
///
/// Keeps `capacity` counters. A key not being counted takes over the smallest counter and inherits
/// its count as `error`, so for every reported key `count - error ≤ true count ≤ count`, and every
/// key whose true count exceeds total / capacity is being counted.
///
/// Memory is fixed at construction: counters, a min-heap of them, an open-addressing index from
/// hash to counter, and `nameBytes` bytes per counter for the key's display name. A name is copied
/// (memcpy, no allocation) only when its key takes a counter, and turned into a `String` only by
/// `top(_:)`, so a stream of hashes costs no allocation.
public struct SpaceSaving: ~Copyable {
    public let capacity: Int
    public let nameBytes: Int
    public private(set) var total: Int64 = 0
    private var used = 0
    private let keys: UnsafeMutablePointer<UInt64>
    private let counts: UnsafeMutablePointer<Int64>
    private let errors: UnsafeMutablePointer<Int64>
    /// Min-heap of counter indices by count, and each counter's position in it.
    private let heap: UnsafeMutablePointer<Int32>
    private let heapPos: UnsafeMutablePointer<Int32>
    /// Open-addressing (linear probing) index: hash → counter index, -1 empty.
    private let table: UnsafeMutablePointer<Int32>
    private let tableMask: Int
    private let names: UnsafeMutablePointer<UInt8>
    private let nameLengths: UnsafeMutablePointer<UInt16>

    public init(capacity: Int, nameBytes: Int = 96) {
        precondition(capacity > 0 && capacity < Int(Int32.max / 4))
        self.capacity = capacity
        self.nameBytes = nameBytes
        keys = .allocate(capacity: capacity)
        counts = .allocate(capacity: capacity)
        errors = .allocate(capacity: capacity)
        heap = .allocate(capacity: capacity)
        heapPos = .allocate(capacity: capacity)
        var size = 8
        while size < capacity * 2 { size <<= 1 }
        table = .allocate(capacity: size)
        table.initialize(repeating: -1, count: size)
        tableMask = size - 1
        names = .allocate(capacity: max(1, capacity * nameBytes))
        nameLengths = .allocate(capacity: capacity)
    }

    deinit {
        keys.deallocate(); counts.deallocate(); errors.deallocate(); heap.deallocate()
        heapPos.deallocate(); table.deallocate(); names.deallocate(); nameLengths.deallocate()
    }

    /// Bytes held, for memory accounting.
    public var footprintBytes: Int { capacity * (8 + 8 + 8 + 4 + 4 + 2 + nameBytes) + (tableMask + 1) * 4 }

    public var trackedCount: Int { used }

    @inline(__always)
    private func home(_ key: UInt64) -> Int { Int(truncatingIfNeeded: Hash64.mix(key)) & tableMask }

    @inline(__always)
    private func find(_ key: UInt64) -> (slot: Int, counter: Int32) {
        var i = home(key)
        while true {
            let c = table[i]
            if c < 0 || keys[Int(c)] == key { return (i, c) }
            i = (i + 1) & tableMask
        }
    }

    /// Reads `key`'s index slot so a later `add` finds it in cache.
    @inline(__always)
    public func warm(_ key: UInt64) -> Int32 { table[home(key)] }

    /// Counts `key` `weight` times. `name` is read only if the key takes a counter.
    @inline(__always)
    public mutating func add(_ key: UInt64, weight: Int64 = 1, name: UnsafeRawBufferPointer) {
        total &+= weight
        let (slot, c) = find(key)
        if c >= 0 {
            counts[Int(c)] &+= weight
            siftDown(Int(heapPos[Int(c)]))
            return
        }
        if used < capacity {
            let n = used
            used += 1
            keys[n] = key; counts[n] = weight; errors[n] = 0
            table[slot] = Int32(n)
            heap[n] = Int32(n); heapPos[n] = Int32(n)
            setName(n, name)
            siftUp(n)
            return
        }
        // Take over the smallest counter.
        let n = Int(heap[0])
        removeFromTable(keys[n])
        let (slot2, _) = find(key)
        keys[n] = key
        errors[n] = counts[n]
        counts[n] &+= weight
        table[slot2] = Int32(n)
        setName(n, name)
        siftDown(0)
    }

    /// The counters with the highest counts, highest first (ties by lower error first).
    public func top(_ k: Int) -> [(key: UInt64, name: String, count: Int64, error: Int64)] {
        var idx = Array(0..<used)
        idx.sort { counts[$0] != counts[$1] ? counts[$0] > counts[$1] : errors[$0] < errors[$1] }
        return idx.prefix(k).map { i in
            let len = Int(nameLengths[i])
            let name = String(decoding: UnsafeBufferPointer(start: names + i * nameBytes, count: len), as: UTF8.self)
            return (keys[i], name, counts[i], errors[i])
        }
    }

    /// Estimated count of `key` (0 when it has no counter).
    public func estimate(_ key: UInt64) -> (count: Int64, error: Int64) {
        let (_, c) = find(key)
        return c >= 0 ? (counts[Int(c)], errors[Int(c)]) : (0, 0)
    }

    @inline(__always)
    private func setName(_ n: Int, _ name: UnsafeRawBufferPointer) {
        var len = min(name.count, nameBytes)
        // Do not cut a UTF-8 sequence in half.
        if len < name.count { while len > 0 && (name[len] & 0xC0) == 0x80 { len -= 1 } }
        if len > 0, let base = name.baseAddress {
            (names + n * nameBytes).update(from: base.assumingMemoryBound(to: UInt8.self), count: len)
        }
        nameLengths[n] = UInt16(len)
    }

    private mutating func removeFromTable(_ key: UInt64) {
        var (i, c) = find(key)
        guard c >= 0 else { return }
        // Backward-shift deletion keeps every probe chain unbroken without tombstones.
        var j = i
        while true {
            j = (j + 1) & tableMask
            let cj = table[j]
            if cj < 0 { break }
            let k = home(keys[Int(cj)])
            let movable = i <= j ? (k <= i || k > j) : (k <= i && k > j)
            if movable { table[i] = cj; i = j }
        }
        table[i] = -1
        c = -1
    }

    @inline(__always)
    private func siftDown(_ start: Int) {
        var i = start
        let n = used
        let item = heap[i]
        let v = counts[Int(item)]
        while true {
            let l = 2 * i + 1
            if l >= n { break }
            var m = l
            if l + 1 < n && counts[Int(heap[l + 1])] < counts[Int(heap[l])] { m = l + 1 }
            let hm = heap[m]
            if counts[Int(hm)] >= v { break }
            heap[i] = hm; heapPos[Int(hm)] = Int32(i)
            i = m
        }
        heap[i] = item; heapPos[Int(item)] = Int32(i)
    }

    private func siftUp(_ start: Int) {
        var i = start
        let item = heap[i]
        let v = counts[Int(item)]
        while i > 0 {
            let p = (i - 1) / 2
            let hp = heap[p]
            if counts[Int(hp)] <= v { break }
            heap[i] = hp; heapPos[Int(hp)] = Int32(i)
            i = p
        }
        heap[i] = item; heapPos[Int(item)] = Int32(i)
    }
}
