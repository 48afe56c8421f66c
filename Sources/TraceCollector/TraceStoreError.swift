/// Why the trace store or a receiver failed, naming the file or input concerned.
public enum TraceStoreError: Error, Sendable, CustomStringConvertible {
    case corrupt(path: String, detail: String)
    case io(String)
    case closed

    public var description: String {
        switch self {
        case let .corrupt(path, detail): "trace store file \(path) is damaged: \(detail)"
        case let .io(detail): "trace store: \(detail)"
        case .closed: "trace store is closed"
        }
    }
}
