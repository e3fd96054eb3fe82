/// A batch of records to append: payloads and partition keys live in one contiguous buffer,
/// entries say where. Built once per request by the collector; no object per record.
public struct RecordBatch: Sendable {
    public struct Entry: Sendable {
        public var dataStart: Int
        public var dataCount: Int
        public var keyStart: Int
        public var keyCount: Int
        public var explicitHashKey: HashKey?
        public init(dataStart: Int, dataCount: Int, keyStart: Int, keyCount: Int, explicitHashKey: HashKey? = nil) {
            self.dataStart = dataStart; self.dataCount = dataCount; self.keyStart = keyStart
            self.keyCount = keyCount; self.explicitHashKey = explicitHashKey
        }
    }

    public var bytes: [UInt8]
    public var entries: [Entry]

    public init(bytes: [UInt8] = [], entries: [Entry] = []) { self.bytes = bytes; self.entries = entries }

    public init(reservingRecords n: Int, bytes: Int) {
        self.bytes = []; self.bytes.reserveCapacity(bytes); self.entries = []; self.entries.reserveCapacity(n)
    }

    public var count: Int { entries.count }

    public mutating func append(data: UnsafeRawBufferPointer, partitionKey: UnsafeRawBufferPointer,
                                explicitHashKey: HashKey? = nil) {
        let ks = bytes.count
        bytes.append(contentsOf: partitionKey)
        let ds = bytes.count
        bytes.append(contentsOf: data)
        entries.append(Entry(dataStart: ds, dataCount: data.count, keyStart: ks, keyCount: partitionKey.count,
                             explicitHashKey: explicitHashKey))
    }

    public mutating func append(data: [UInt8], partitionKey: String, explicitHashKey: HashKey? = nil) {
        var k = partitionKey
        k.withUTF8 { kp in
            data.withUnsafeBytes { dp in append(data: dp, partitionKey: UnsafeRawBufferPointer(kp), explicitHashKey: explicitHashKey) }
        }
    }

    public mutating func append(data: String, partitionKey: String, explicitHashKey: HashKey? = nil) {
        append(data: Array(data.utf8), partitionKey: partitionKey, explicitHashKey: explicitHashKey)
    }
}

/// Outcome of one record of an append, in request order.
public struct AppendResult: Sendable, Equatable {
    /// −1 when the record failed.
    public var shardIndex: Int32
    public var offset: UInt64
    public var error: StreamError.Code?
    public var errorMessage: String?

    public var succeeded: Bool { error == nil }
    public var sequenceNumber: SequenceNumber? {
        error == nil ? SequenceNumber(shardIndex: Int(shardIndex), offset: offset) : nil
    }
    public var shardId: String? { error == nil ? ShardID.make(Int(shardIndex)) : nil }
}

/// Records read from one shard: frames copied into `bytes`, `records` point into it.
public struct ReadBatch: Sendable {
    public struct Record: Sendable, Equatable {
        public var offset: UInt64
        public var arrivalMs: Int64
        public var keyStart: Int
        public var keyCount: Int
        public var dataStart: Int
        public var dataCount: Int
    }
    public var shardIndex: Int
    public var bytes: [UInt8] = []
    public var records: [Record] = []
    /// Offset of the next record to read after this batch.
    public var nextOffset: UInt64
    /// Records that were asked for but had already been removed by retention.
    public var skippedByRetention: UInt64 = 0
    public var dataBytes: Int = 0

    public var shardId: String { ShardID.make(shardIndex) }
    public var count: Int { records.count }
    public func sequenceNumber(_ i: Int) -> SequenceNumber { SequenceNumber(shardIndex: shardIndex, offset: records[i].offset) }
    public func data(_ i: Int) -> ArraySlice<UInt8> { bytes[records[i].dataStart..<(records[i].dataStart + records[i].dataCount)] }
    public func partitionKey(_ i: Int) -> String {
        String(decoding: bytes[records[i].keyStart..<(records[i].keyStart + records[i].keyCount)], as: UTF8.self)
    }
    public func withData<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[records[i].dataStart..<(records[i].dataStart + records[i].dataCount)]))
        }
    }
}
