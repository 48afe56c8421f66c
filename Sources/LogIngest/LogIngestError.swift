/// Errors of the log store and the tailer, with the file or stream they concern.
public enum LogIngestError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A store file is damaged: which file and what was wrong.
    case corrupt(path: String, detail: String)
    /// A positions-database operation failed.
    case positions(path: String, detail: String)
    /// The store is closed.
    case closed
    /// The store cannot take entries now (segments cannot be written); it recovers by itself.
    case unavailable(String)

    public var description: String {
        switch self {
        case let .corrupt(path, detail): "\(path): corrupt log store file: \(detail)"
        case let .positions(path, detail): "\(path): tail positions: \(detail)"
        case .closed: "the log store is closed"
        case let .unavailable(reason): reason
        }
    }
}
