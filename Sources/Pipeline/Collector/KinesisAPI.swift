import Foundation

/// An error answered in the AWS JSON protocol shape: `{"__type": "...", "message": "..."}`.
public struct AWSError: Error, Sendable, Equatable {
    public var type: String
    public var message: String
    public var status: Int
    public init(_ type: String, _ message: String, status: Int = 400) { self.type = type; self.message = message; self.status = status }

    public init(_ e: StreamError) {
        self.init(e.kinesisErrorType, e.message, status: e.kinesisErrorType == "InternalFailure" ? 500 : 400)
    }

    public func json() -> [UInt8] {
        var o: [UInt8] = Array("{\"__type\":".utf8)
        JSONOut.string(type, into: &o)
        o.appendString(",\"message\":")
        JSONOut.string(message, into: &o)
        o.appendString("}")
        return o
    }

    static func validation(_ value: String, _ field: String, _ constraint: String) -> AWSError {
        AWSError("ValidationException", "1 validation error detected: Value '\(value)' at '\(field)' failed to satisfy constraint: \(constraint)")
    }
    static func serialization(_ m: String) -> AWSError { AWSError("SerializationException", m) }
}

/// The Kinesis Data Streams (Kinesis_20131202) and Firehose (Firehose_20150804) JSON APIs over a
/// `StreamRegistry`. Shapes and errors follow shared/KINESIS.md.
public struct KinesisAPI: Sendable {
    public let registry: StreamRegistry
    public let ingest: EventIngest
    public var region = "us-east-1"
    public var account = "000000000000"
    public let nowMs: @Sendable () -> Int64

    public init(registry: StreamRegistry, ingest: EventIngest = EventIngest(),
                nowMs: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) {
        self.registry = registry; self.ingest = ingest; self.nowMs = nowMs
    }

    public static let maxRecordsPerCall = 500
    public static let maxRecordBytes = 1 << 20

    /// Handles one call. Returns the JSON answer body (status 200) or throws `AWSError`.
    public func handle(target: String, body: [UInt8], metrics: CollectorMetrics? = nil) async throws -> [UInt8] {
        let parts = target.split(separator: ".", maxSplits: 1)
        guard parts.count == 2 else { throw AWSError("UnknownOperationException", "Unknown target '\(target)'") }
        let req: [String: Any]
        if body.isEmpty { req = [:] } else {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
                throw AWSError.serialization("Start of structure or map found where not expected: the body is not a JSON object")
            }
            req = obj
        }
        let op = String(parts[1])
        do {
            switch (parts[0], op) {
            case ("Kinesis_20131202", "PutRecord"): return try await putRecord(req, metrics: metrics)
            case ("Kinesis_20131202", "PutRecords"): return try await putRecords(req, metrics: metrics)
            case ("Kinesis_20131202", "GetShardIterator"): return try getShardIterator(req)
            case ("Kinesis_20131202", "GetRecords"): return try getRecords(req)
            case ("Kinesis_20131202", "ListShards"): return try listShards(req)
            case ("Kinesis_20131202", "ListStreams"): return try listStreams(req)
            case ("Kinesis_20131202", "DescribeStream"): return try describeStream(req)
            case ("Kinesis_20131202", "DescribeStreamSummary"): return try describeStreamSummary(req)
            case ("Kinesis_20131202", "CreateStream"): return try createStream(req)
            case ("Kinesis_20131202", "SplitShard"): return try splitShard(req)
            case ("Kinesis_20131202", "MergeShards"): return try mergeShards(req)
            case ("Kinesis_20131202", "UpdateShardCount"): return try updateShardCount(req)
            case ("Firehose_20150804", "PutRecord"): return try await firehosePut(req, batch: false, metrics: metrics)
            case ("Firehose_20150804", "PutRecordBatch"): return try await firehosePut(req, batch: true, metrics: metrics)
            default: throw AWSError("UnknownOperationException", "Operation \(target) is not supported by eddy")
            }
        } catch let e as AWSError {
            throw e
        } catch let e as StreamError {
            throw AWSError(e)
        } catch {
            throw AWSError("InternalFailure", "\(error)", status: 500)
        }
    }

    // MARK: inputs

    func string(_ req: [String: Any], _ key: String, field: String? = nil, required: Bool = true) throws -> String? {
        guard let v = req[key] else {
            if required { throw AWSError.validation("null", field ?? lowerFirst(key), "Member must not be null") }
            return nil
        }
        guard let s = v as? String else { throw AWSError.serialization("Unexpected value type in payload for \(key)") }
        return s
    }

    func lowerFirst(_ s: String) -> String { s.prefix(1).lowercased() + s.dropFirst() }

    static func validName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 128 && s.utf8.allSatisfy { b in
            (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95 || b == 46 || b == 45
        }
    }

    func streamName(_ req: [String: Any]) throws -> String {
        var name = try string(req, "StreamName", required: false)
        if name == nil, let arn = try string(req, "StreamARN", required: false) {
            name = arn.split(separator: "/").last.map(String.init)
        }
        guard let n = name else {
            throw AWSError("InvalidArgumentException", "Either StreamName or StreamARN should be provided.")
        }
        guard Self.validName(n) else {
            throw AWSError.validation(n, "streamName", "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
        }
        return n
    }

    func stream(_ req: [String: Any]) throws -> ShardedStream {
        let n = try streamName(req)
        guard let s = registry.stream(named: n) else {
            throw AWSError("ResourceNotFoundException", "Stream \(n) under account \(account) not found.")
        }
        return s
    }

    func arn(_ name: String) -> String { "arn:aws:kinesis:\(region):\(account):stream/\(name)" }

    func data(_ v: Any?, field: String) throws -> [UInt8] {
        guard let v else { throw AWSError.validation("null", field, "Member must not be null") }
        guard let s = v as? String else { throw AWSError.serialization("Unexpected value type in payload for Data") }
        guard let d = Data(base64Encoded: s) else {
            throw AWSError.serialization("Base64 encoded value for Data is invalid")
        }
        if d.count > Self.maxRecordBytes {
            throw AWSError.validation("java.nio.HeapByteBuffer[pos=0 lim=\(d.count) cap=\(d.count)]", field,
                                      "Member must have length less than or equal to \(Self.maxRecordBytes)")
        }
        return Array(d)
    }

    func partitionKey(_ v: Any?, field: String) throws -> String {
        guard let v else { throw AWSError.validation("null", field, "Member must not be null") }
        guard let s = v as? String else { throw AWSError.serialization("Unexpected value type in payload for PartitionKey") }
        let n = s.count
        guard n >= 1 && n <= 256 else {
            throw AWSError.validation(s, field, "Member must have length \(n < 1 ? "greater than or equal to 1" : "less than or equal to 256")")
        }
        return s
    }

    func explicitHashKey(_ v: Any?, field: String) throws -> HashKey? {
        guard let v else { return nil }
        guard let s = v as? String, let k = HashKey(decimal: s) else {
            throw AWSError.validation("\(v)", field, "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})")
        }
        return k
    }

    // MARK: writes

    func putRecord(_ req: [String: Any], metrics: CollectorMetrics?) async throws -> [UInt8] {
        let s = try stream(req)
        let d = try data(req["Data"], field: "data")
        let pk = try partitionKey(req["PartitionKey"], field: "partitionKey")
        let ehk = try explicitHashKey(req["ExplicitHashKey"], field: "explicitHashKey")
        var batch = RecordBatch()
        batch.append(data: d, partitionKey: pk, explicitHashKey: ehk)
        let r = try await s.append(batch)[0]
        if let e = r.error {
            metrics?.rejected(code: e == .throughputExceeded ? "throughput_exceeded" : "internal_failure")
            throw AWSError(StreamError(e, r.errorMessage ?? "Rate exceeded for shard in stream \(s.name) under account \(account)."))
        }
        metrics?.accepted(records: 1, bytes: d.count)
        return jsonBytes(["ShardId": r.shardId!, "SequenceNumber": r.sequenceNumber!.description, "EncryptionType": "NONE"])
    }

    func putRecords(_ req: [String: Any], metrics: CollectorMetrics?) async throws -> [UInt8] {
        let s = try stream(req)
        guard let recs = req["Records"] as? [[String: Any]] else {
            if req["Records"] == nil { throw AWSError.validation("null", "records", "Member must not be null") }
            throw AWSError.serialization("Unexpected value type in payload for Records")
        }
        guard !recs.isEmpty else { throw AWSError.validation("[]", "records", "Member must have length greater than or equal to 1") }
        guard recs.count <= Self.maxRecordsPerCall else {
            throw AWSError.validation("[...\(recs.count) records]", "records", "Member must have length less than or equal to 500")
        }
        var batch = RecordBatch(reservingRecords: recs.count, bytes: 0)
        var total = 0
        for (i, r) in recs.enumerated() {
            let d = try data(r["Data"], field: "records.\(i + 1).member.data")
            let pk = try partitionKey(r["PartitionKey"], field: "records.\(i + 1).member.partitionKey")
            let ehk = try explicitHashKey(r["ExplicitHashKey"], field: "records.\(i + 1).member.explicitHashKey")
            total += d.count + pk.utf8.count
            batch.append(data: d, partitionKey: pk, explicitHashKey: ehk)
        }
        if total > 5 << 20 {
            throw AWSError("InvalidArgumentException", "Records size exceeds 5 MB limit")
        }
        let results = try await s.append(batch)
        var out: [[String: Any]] = []
        out.reserveCapacity(results.count)
        var failed = 0, okBytes = 0
        for (i, r) in results.enumerated() {
            if let e = r.error {
                failed += 1
                let type = e == .throughputExceeded ? "ProvisionedThroughputExceededException" : "InternalFailure"
                metrics?.rejected(code: e == .throughputExceeded ? "throughput_exceeded" : "internal_failure")
                out.append(["ErrorCode": type, "ErrorMessage": r.errorMessage ?? "Rate exceeded for shard in stream \(s.name) under account \(account)."])
            } else {
                okBytes += batch.entries[i].dataCount
                out.append(["ShardId": r.shardId!, "SequenceNumber": r.sequenceNumber!.description])
            }
        }
        metrics?.accepted(records: results.count - failed, bytes: okBytes)
        return jsonBytes(["FailedRecordCount": failed, "Records": out, "EncryptionType": "NONE"])
    }

    /// Firehose: each record's Data is one event or NDJSON; every event is validated like the
    /// native API (a relay's rights: all sites) and appended to the stream of the same name.
    func firehosePut(_ req: [String: Any], batch isBatch: Bool, metrics: CollectorMetrics?) async throws -> [UInt8] {
        guard let name = try string(req, "DeliveryStreamName", field: "deliveryStreamName") else { throw AWSError("InternalFailure", "") }
        guard let s = registry.stream(named: name) else {
            throw AWSError("ResourceNotFoundException", "Firehose \(name) under account \(account) not found.")
        }
        let recs: [[String: Any]]
        if isBatch {
            guard let r = req["Records"] as? [[String: Any]] else { throw AWSError.validation("null", "records", "Member must not be null") }
            guard !r.isEmpty, r.count <= Self.maxRecordsPerCall else {
                throw AWSError.validation("[...\(r.count) records]", "records", "Member must have length less than or equal to 500")
            }
            recs = r
        } else {
            guard let r = req["Record"] as? [String: Any] else { throw AWSError.validation("null", "record", "Member must not be null") }
            recs = [r]
        }
        var datas: [[UInt8]] = []
        var size = 0
        for (i, r) in recs.enumerated() {
            let d = try data(r["Data"], field: isBatch ? "records.\(i + 1).member.data" : "record.data")
            if d.count > 1000 * 1024 {
                throw AWSError.validation("java.nio.HeapByteBuffer[pos=0 lim=\(d.count) cap=\(d.count)]",
                                          isBatch ? "records.\(i + 1).member.data" : "record.data",
                                          "Member must have length less than or equal to 1024000")
            }
            size += d.count; datas.append(d)
        }
        if size > 4 << 20 { throw AWSError("InvalidArgumentException", "Records size exceeds 4 MiB limit") }
        // One stream batch for the whole call; a Firehose record fails if any of its events fails.
        var batch = RecordBatch()
        var owner: [Int] = []
        var recordErrors = [String?](repeating: nil, count: datas.count)
        let now = nowMs()
        for (i, d) in datas.enumerated() {
            let (b, _, pre) = ingest.prepare(body: d, scope: .relay, clientIP: nil, nowMs: now)
            if let f = pre.failures.first {
                recordErrors[i] = "\(f.code): \(f.message)"
                metrics?.rejected(code: f.code, count: pre.failures.count)
                continue
            }
            if b.count == 0 { recordErrors[i] = "missing_field: the record holds no event"; continue }
            for e in b.entries {
                let ks = batch.bytes.count
                batch.bytes.append(contentsOf: b.bytes[e.keyStart..<(e.keyStart + e.keyCount)])
                let ds = batch.bytes.count
                batch.bytes.append(contentsOf: b.bytes[e.dataStart..<(e.dataStart + e.dataCount)])
                batch.entries.append(.init(dataStart: ds, dataCount: e.dataCount, keyStart: ks, keyCount: e.keyCount))
                owner.append(i)
            }
        }
        var throttled = Set<Int>()
        if batch.count > 0 {
            let results = try await s.append(batch)
            var okBytes = 0, ok = 0
            for (j, r) in results.enumerated() {
                if r.succeeded { ok += 1; okBytes += batch.entries[j].dataCount } else { throttled.insert(owner[j]) }
            }
            metrics?.accepted(records: ok, bytes: okBytes)
        }
        var responses: [[String: Any]] = []
        var failed = 0
        for i in 0..<datas.count {
            if let m = recordErrors[i] {
                failed += 1; responses.append(["ErrorCode": "InvalidArgumentException", "ErrorMessage": m])
            } else if throttled.contains(i) {
                failed += 1; responses.append(["ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down: a shard was throttled; retry this record."])
            } else {
                var g = SplitMix64(seed: UInt64.random(in: 0...UInt64.max))
                responses.append(["RecordId": g.uuid()])
            }
        }
        if !isBatch {
            if let m = recordErrors[0] { throw AWSError("InvalidArgumentException", m) }
            if throttled.contains(0) { throw AWSError("ServiceUnavailableException", "Slow down: a shard was throttled; retry.") }
            return jsonBytes(["RecordId": responses[0]["RecordId"]!, "Encrypted": false])
        }
        return jsonBytes(["FailedPutCount": failed, "Encrypted": false, "RequestResponses": responses])
    }

    // MARK: reads

    func getShardIterator(_ req: [String: Any]) throws -> [UInt8] {
        let s = try stream(req)
        guard let shardId = try string(req, "ShardId") else { throw AWSError("InternalFailure", "") }
        guard let typeName = try string(req, "ShardIteratorType") else { throw AWSError("InternalFailure", "") }
        guard s.shardMap().shard(id: shardId) != nil else {
            throw AWSError("ResourceNotFoundException", "Shard \(shardId) in stream \(s.name) under account \(account) does not exist")
        }
        let type: ShardIteratorType
        func seq() throws -> SequenceNumber {
            guard let str = try string(req, "StartingSequenceNumber", required: false) else {
                throw AWSError("InvalidArgumentException", "Must specify StartingSequenceNumber for \(typeName) ShardIteratorType")
            }
            guard let q = SequenceNumber(str) else {
                throw AWSError.validation(str, "startingSequenceNumber", "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})")
            }
            return q
        }
        switch typeName {
        case "TRIM_HORIZON": type = .trimHorizon
        case "LATEST": type = .latest
        case "AT_SEQUENCE_NUMBER": type = .atSequenceNumber(try seq())
        case "AFTER_SEQUENCE_NUMBER": type = .afterSequenceNumber(try seq())
        case "AT_TIMESTAMP":
            guard let t = req["Timestamp"] as? Double else {
                throw AWSError("InvalidArgumentException", "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.")
            }
            // Seconds as a double: a value whose milliseconds do not fit an Int64 (or inf/NaN) is no
            // time at all, and converting it would trap (seen while writing Fuzz/; the regression seed is
            // Fuzz/corpus/kinesis/regress-at-timestamp-1e300).
            guard t.isFinite, abs(t) < 9e15 else {
                throw AWSError.serialization("Timestamp \(t) is out of range")
            }
            type = .atTimestamp(Int64((t * 1000).rounded()))
        default:
            throw AWSError.validation(typeName, "shardIteratorType",
                                      "Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, AT_SEQUENCE_NUMBER, AT_TIMESTAMP, TRIM_HORIZON, LATEST]")
        }
        let it = try s.shardIterator(shardId: shardId, type: type)
        return jsonBytes(["ShardIterator": it.token])
    }

    func getRecords(_ req: [String: Any]) throws -> [UInt8] {
        guard let token = try string(req, "ShardIterator") else { throw AWSError("InternalFailure", "") }
        var limit = 10_000
        if let l = req["Limit"] {
            guard let n = l as? Int, n >= 1, n <= 10_000 else {
                throw AWSError.validation("\(l)", "limit", "Member must have value \((l as? Int ?? 0) < 1 ? "greater than or equal to 1" : "less than or equal to 10000")")
            }
            limit = n
        }
        let it: ShardIterator
        do { it = try ShardIterator(token: token) } catch {
            throw AWSError("InvalidArgumentException", "Invalid ShardIterator.")
        }
        guard let s = registry.stream(named: it.streamName) else {
            throw AWSError("ResourceNotFoundException", "Stream \(it.streamName) under account \(account) not found.")
        }
        let r = try s.getRecords(it, limit: limit)
        // Built by hand: base64 of many records through JSONSerialization would dominate.
        var o: [UInt8] = Array("{\"Records\":[".utf8)
        o.reserveCapacity(r.batch.bytes.count * 4 / 3 + r.batch.count * 120 + 256)
        for i in 0..<r.batch.count {
            if i > 0 { o.append(UInt8(ascii: ",")) }
            let rec = r.batch.records[i]
            o.appendString("{\"SequenceNumber\":\"\(r.batch.sequenceNumber(i))\",\"ApproximateArrivalTimestamp\":")
            o.appendString(String(format: "%.3f", Double(rec.arrivalMs) / 1000))
            o.appendString(",\"Data\":\"")
            o.appendString(Data(r.batch.data(i)).base64EncodedString())
            o.appendString("\",\"PartitionKey\":")
            JSONOut.string(r.batch.partitionKey(i), into: &o)
            o.appendString(",\"EncryptionType\":\"NONE\"}")
        }
        o.appendString("],\"MillisBehindLatest\":\(max(0, r.millisBehindLatest))")
        if let next = r.nextIterator {
            o.appendString(",\"NextShardIterator\":"); JSONOut.string(next.token, into: &o)
        } else {
            o.appendString(",\"NextShardIterator\":null")
        }
        if let kids = r.childShards, !kids.isEmpty {
            let arr = kids.map { k -> [String: Any] in
                ["ShardId": k.shardId, "ParentShards": k.parents,
                 "HashKeyRange": ["StartingHashKey": k.startingHashKey.description, "EndingHashKey": k.endingHashKey.description]]
            }
            let d = (try? JSONSerialization.data(withJSONObject: arr)) ?? Data("[]".utf8)
            o.appendString(",\"ChildShards\":"); o.append(contentsOf: d)
        }
        o.appendString("}")
        return o
    }

    // MARK: describe

    func shardJSON(_ d: ShardDescriptor) -> [String: Any] {
        var m: [String: Any] = [
            "ShardId": d.shardId,
            "HashKeyRange": ["StartingHashKey": d.startingHashKey.description, "EndingHashKey": d.endingHashKey.description],
        ]
        var seq: [String: Any] = ["StartingSequenceNumber": d.startingSequenceNumber.description]
        if let e = d.endingSequenceNumber { seq["EndingSequenceNumber"] = e.description }
        m["SequenceNumberRange"] = seq
        if let p = d.parentShardId { m["ParentShardId"] = p }
        if let p = d.adjacentParentShardId { m["AdjacentParentShardId"] = p }
        return m
    }

    func listShards(_ req: [String: Any]) throws -> [UInt8] {
        var all: [ShardDescriptor]
        var name: String
        if let tok = try string(req, "NextToken", required: false) {
            if req["StreamName"] != nil {
                throw AWSError("InvalidArgumentException", "NextToken and StreamName cannot be provided together.")
            }
            let parts = (Data(base64Encoded: tok).map { String(decoding: $0, as: UTF8.self) } ?? "").split(separator: "|")
            // The token comes back from the client: a negative or huge start would trap in dropFirst / start + max.
            guard parts.count == 2, let start = Int(parts[1]), start >= 0, start <= 1_000_000 else {
                throw AWSError("InvalidArgumentException", "Invalid NextToken.")
            }
            name = String(parts[0])
            guard let s = registry.stream(named: name) else { throw AWSError("ResourceNotFoundException", "Stream \(name) under account \(account) not found.") }
            all = Array(s.shardMap().shards.sorted { $0.index < $1.index }.dropFirst(start))
            return try pageShards(all, name: name, start: start, req: req)
        }
        let s = try stream(req)
        name = s.name
        all = s.shardMap().shards.sorted { $0.index < $1.index }
        if let f = req["ShardFilter"] as? [String: Any], let t = f["Type"] as? String {
            switch t {
            case "AT_LATEST": all = all.filter { $0.state == .open }
            case "AT_TRIM_HORIZON", "FROM_TRIM_HORIZON": break
            case "AFTER_SHARD_ID":
                if let id = f["ShardId"] as? String, let idx = ShardID.index(of: id) { all = all.filter { $0.index > idx } }
            default: break
            }
        } else if let after = try string(req, "ExclusiveStartShardId", required: false), let idx = ShardID.index(of: after) {
            all = all.filter { $0.index > idx }
        }
        return try pageShards(all, name: name, start: 0, req: req)
    }

    func pageShards(_ all: [ShardDescriptor], name: String, start: Int, req: [String: Any]) throws -> [UInt8] {
        var max = 10_000
        if let m = req["MaxResults"] {
            guard let n = m as? Int, n >= 1, n <= 10_000 else {
                throw AWSError.validation("\(m)", "maxResults", "Member must have value between 1 and 10000")
            }
            max = n
        }
        var out: [String: Any] = ["Shards": all.prefix(max).map(shardJSON)]
        if all.count > max {
            out["NextToken"] = Data("\(name)|\(start + max)".utf8).base64EncodedString()
        }
        return jsonBytes(out)
    }

    func modeDetails() -> [String: Any] { ["StreamMode": "PROVISIONED"] }

    /// DescribeStream / ListStreams `Limit`: 1…10000, default 100 (a negative one used to trap in prefix()).
    func pageLimit(_ req: [String: Any]) throws -> Int {
        guard let l = req["Limit"] else { return 100 }
        guard let n = l as? Int, n >= 1, n <= 10_000 else {
            throw AWSError.validation("\(l)", "limit", "Member must have value between 1 and 10000")
        }
        return n
    }

    func describeStream(_ req: [String: Any]) throws -> [UInt8] {
        let s = try stream(req)
        var shards = s.shardMap().shards.sorted { $0.index < $1.index }
        if let after = try string(req, "ExclusiveStartShardId", required: false), let idx = ShardID.index(of: after) {
            shards = shards.filter { $0.index > idx }
        }
        let limit = try pageLimit(req)
        let desc: [String: Any] = [
            "StreamName": s.name, "StreamARN": arn(s.name), "StreamStatus": "ACTIVE",
            "StreamModeDetails": modeDetails(),
            "Shards": shards.prefix(limit).map(shardJSON), "HasMoreShards": shards.count > limit,
            "RetentionPeriodHours": Int(s.config.retentionMs / 3_600_000),
            "StreamCreationTimestamp": Double(registry.creationMs(s.name)) / 1000,
            "EnhancedMonitoring": [["ShardLevelMetrics": [String]()]], "EncryptionType": "NONE",
        ]
        return jsonBytes(["StreamDescription": desc])
    }

    func describeStreamSummary(_ req: [String: Any]) throws -> [UInt8] {
        let s = try stream(req)
        let desc: [String: Any] = [
            "StreamName": s.name, "StreamARN": arn(s.name), "StreamStatus": "ACTIVE",
            "StreamModeDetails": modeDetails(),
            "RetentionPeriodHours": Int(s.config.retentionMs / 3_600_000),
            "StreamCreationTimestamp": Double(registry.creationMs(s.name)) / 1000,
            "EnhancedMonitoring": [["ShardLevelMetrics": [String]()]], "EncryptionType": "NONE",
            "OpenShardCount": s.shardMap().openShards.count, "ConsumerCount": 0,
        ]
        return jsonBytes(["StreamDescriptionSummary": desc])
    }

    func listStreams(_ req: [String: Any]) throws -> [UInt8] {
        var names = registry.names
        if let start = try string(req, "ExclusiveStartStreamName", required: false) { names = names.filter { $0 > start } }
        let limit = try pageLimit(req)
        let page = Array(names.prefix(limit))
        let summaries = page.map { n -> [String: Any] in
            ["StreamName": n, "StreamARN": arn(n), "StreamStatus": "ACTIVE", "StreamModeDetails": modeDetails(),
             "StreamCreationTimestamp": Double(registry.creationMs(n)) / 1000]
        }
        return jsonBytes(["StreamNames": page, "HasMoreStreams": names.count > limit, "StreamSummaries": summaries])
    }

    // MARK: admin

    func createStream(_ req: [String: Any]) throws -> [UInt8] {
        let name = try streamName(req)
        var count = 1
        if let c = req["ShardCount"] {
            guard let n = c as? Int, n >= 1 else {
                throw AWSError.validation("\(c)", "shardCount", "Member must have value greater than or equal to 1")
            }
            count = n
        } else if let mode = (req["StreamModeDetails"] as? [String: Any])?["StreamMode"] as? String, mode == "ON_DEMAND" {
            count = 4
        } else {
            throw AWSError("InvalidArgumentException", "ShardCount is required for a PROVISIONED stream.")
        }
        if count > 500 { throw AWSError("LimitExceededException", "This request would exceed the shard limit for the account \(account) in \(region). Current shard count for the account: 0. Limit: 500.") }
        try registry.create(name: name, shardCount: count)
        return Array("{}".utf8)
    }

    func splitShard(_ req: [String: Any]) throws -> [UInt8] {
        let s = try stream(req)
        guard let shard = try string(req, "ShardToSplit") else { throw AWSError("InternalFailure", "") }
        guard let keyStr = try string(req, "NewStartingHashKey") else { throw AWSError("InternalFailure", "") }
        guard let key = HashKey(decimal: keyStr) else {
            throw AWSError.validation(keyStr, "newStartingHashKey", "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})")
        }
        guard s.shardMap().shard(id: shard) != nil else {
            throw AWSError("ResourceNotFoundException", "Could not find shard \(shard) in stream \(s.name) under account \(account).")
        }
        _ = try s.splitShard(shard, newStartingHashKey: key)
        return Array("{}".utf8)
    }

    func mergeShards(_ req: [String: Any]) throws -> [UInt8] {
        let s = try stream(req)
        guard let a = try string(req, "ShardToMerge") else { throw AWSError("InternalFailure", "") }
        guard let b = try string(req, "AdjacentShardToMerge") else { throw AWSError("InternalFailure", "") }
        for id in [a, b] where s.shardMap().shard(id: id) == nil {
            throw AWSError("ResourceNotFoundException", "Could not find shard \(id) in stream \(s.name) under account \(account).")
        }
        _ = try s.mergeShards(a, adjacentShardId: b)
        return Array("{}".utf8)
    }

    func updateShardCount(_ req: [String: Any]) throws -> [UInt8] {
        let s = try stream(req)
        guard let target = req["TargetShardCount"] as? Int, target >= 1 else {
            throw AWSError.validation("\(req["TargetShardCount"] ?? "null")", "targetShardCount", "Member must have value greater than or equal to 1")
        }
        guard (req["ScalingType"] as? String) == "UNIFORM_SCALING" else {
            throw AWSError.validation("\(req["ScalingType"] ?? "null")", "scalingType", "Member must satisfy enum value set: [UNIFORM_SCALING]")
        }
        let current = s.shardMap().openShards.count
        try s.updateShardCount(target)
        return jsonBytes(["StreamName": s.name, "StreamARN": arn(s.name), "CurrentShardCount": current, "TargetShardCount": target])
    }

    func jsonBytes(_ obj: [String: Any]) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: obj)) ?? Data("{}".utf8))
    }
}
