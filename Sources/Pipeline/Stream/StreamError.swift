/// Every failure the stream reports. A struct so it can grow; `code` is what callers switch on
/// (the collector maps `.throughputExceeded` to ProvisionedThroughputExceededException), `message`
/// is what a user reads, `path` names the file involved when there is one.
public struct StreamError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable {
        case invalidArgument        // InvalidArgumentException / ValidationException
        case resourceNotFound       // ResourceNotFoundException
        case resourceInUse          // ResourceInUseException (e.g. splitting a CLOSED shard)
        case throughputExceeded     // ProvisionedThroughputExceededException
        case limitExceeded          // LimitExceededException
        case expiredIterator        // ExpiredIteratorException
        case io                     // the disk said no: InternalFailure
        case corrupt                // bytes on disk do not check out
        case closed                 // the stream was closed or failed an fsync earlier
    }
    public var code: Code
    public var message: String
    public var path: String?

    public init(_ code: Code, _ message: String, path: String? = nil) {
        self.code = code; self.message = message; self.path = path
    }

    public var description: String {
        var s = "\(code.rawValue): \(message)"
        if let p = path { s += " (\(p))" }
        return s
    }

    /// The Kinesis `__type` an API front end should answer with.
    public var kinesisErrorType: String {
        switch code {
        case .invalidArgument: return "InvalidArgumentException"
        case .resourceNotFound: return "ResourceNotFoundException"
        case .resourceInUse: return "ResourceInUseException"
        case .throughputExceeded: return "ProvisionedThroughputExceededException"
        case .limitExceeded: return "LimitExceededException"
        case .expiredIterator: return "ExpiredIteratorException"
        case .io, .corrupt, .closed: return "InternalFailure"
        }
    }
}
