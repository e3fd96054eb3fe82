/// A reusable batch of `LiveEvent`s with the name bytes they point into.
///
/// For callers that have names as Strings or byte slices at hand (tests, the bench, a simple
/// consumer). A caller that already holds the records' bytes can skip this and pass its own buffer
/// to `LiveAggregates.apply(_:names:)` with `NameRef`s into it. `removeAll` keeps capacity, so a
/// consumer reusing one batch does not allocate in steady state.
public struct LiveEventBatch: Sendable {
    public private(set) var events: [LiveEvent] = []
    public private(set) var nameBytes: [UInt8] = []

    public init(reservingCapacity n: Int = 0) {
        events.reserveCapacity(n)
        nameBytes.reserveCapacity(n * 24)
    }

    public var count: Int { events.count }

    public mutating func removeAll() {
        events.removeAll(keepingCapacity: true)
        nameBytes.removeAll(keepingCapacity: true)
    }

    /// Stores `bytes` in the batch's name buffer and returns where they are.
    public mutating func intern(_ bytes: UnsafeRawBufferPointer) -> NameRef {
        guard !bytes.isEmpty else { return .none }
        let ref = NameRef(offset: UInt32(nameBytes.count), length: UInt32(bytes.count))
        nameBytes.append(contentsOf: bytes)
        return ref
    }

    public mutating func intern(_ s: String) -> NameRef {
        var s = s
        return s.withUTF8 { intern(UnsafeRawBufferPointer($0)) }
    }

    /// Appends an event whose names are already set (or absent).
    public mutating func append(_ event: LiveEvent) { events.append(event) }

    /// Appends an event, storing the names given. Pass nil for a name the aggregates already know
    /// (e.g. the site name after the first batch) to save the copy.
    public mutating func append(_ event: LiveEvent, siteName: String?, pageName: String?, referrerName: String?) {
        var e = event
        if let s = siteName { e.siteName = intern(s) }
        if let p = pageName { e.pageName = intern(p) }
        if let r = referrerName { e.referrerName = intern(r) }
        events.append(e)
    }
}
