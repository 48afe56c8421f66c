/// Everything that can go wrong between a query string and its result. Parse errors carry the byte
/// offset; the API maps each case to Prometheus's error type and status code.
public enum PromQLError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A syntax or type error at a byte offset of the query; `PromQLParser` turns it into `.syntax`.
    case parse(Int, String)
    /// A syntax or type error as Prometheus prints it: `1:5: parse error: …`.
    case syntax(String)
    /// The query was valid but could not be evaluated (Prometheus's "execution" errors).
    case execution(String)
    case timeout(String)
    case canceled
    case tooManySamples(Int)

    public var description: String {
        switch self {
        case let .parse(position, message): "1:\(position + 1): parse error: \(message)"
        case let .syntax(message): message
        case let .execution(message): message
        case let .timeout(stage): "query timed out in \(stage)"
        case .canceled: "query was canceled"
        case .tooManySamples:
            "query processing would load too many samples into memory in query execution"
        }
    }
}
