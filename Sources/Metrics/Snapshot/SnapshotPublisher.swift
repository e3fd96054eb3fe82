import Foundation

/// Holds the latest `NodeSnapshot` for any number of readers.
///
/// The writer builds a snapshot off to the side and `publish`es it; the lock is held only to swap
/// a reference (a `NodeSnapshot` is a value whose arrays are shared copy-on-write), so neither
/// side waits on the other for more than a pointer copy. Readers get an immutable value and never
/// see live state. The JSON form is encoded at most once per published version, on first request,
/// so many `/v1/stats` clients cost one encoding (`SnapshotJSON`, not `JSONEncoder`, which is
/// about a hundred times slower on a 320-site snapshot).
public final class SnapshotPublisher: @unchecked Sendable {
    private let lock = NSLock()
    private var current: NodeSnapshot
    private var currentVersion: UInt64 = 0
    private var json: (version: UInt64, data: Data)?

    public init(_ initial: NodeSnapshot = NodeSnapshot()) { current = initial }

    public func publish(_ snapshot: NodeSnapshot) {
        lock.lock()
        current = snapshot
        currentVersion &+= 1
        lock.unlock()
    }

    /// The latest snapshot.
    public var latest: NodeSnapshot {
        lock.lock(); defer { lock.unlock() }
        return current
    }

    /// The latest snapshot and its version (incremented by every `publish`).
    public func latestVersioned() -> (version: UInt64, snapshot: NodeSnapshot) {
        lock.lock(); defer { lock.unlock() }
        return (currentVersion, current)
    }

    /// JSON of the latest snapshot, encoded once per version (encoding happens outside the lock).
    public func latestJSON() -> Data {
        let (version, snapshot) = latestVersioned()
        lock.lock()
        if let j = json, j.version == version { lock.unlock(); return j.data }
        lock.unlock()
        let data = Data(SnapshotJSON.encode(snapshot))
        lock.lock()
        if json == nil || json!.version < version { json = (version, data) }
        lock.unlock()
        return data
    }

    /// A Foundation encoder for the same document (sorted keys), for callers that want one.
    public static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}
