import ObsYAML

/// Everything the embedded Alertmanager can refuse or fail at, with the context a user needs.
public enum AlertmanagerError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The `alertmanager:` section (or its file) is invalid; located at file, line and key.
    case config(ConfigError)
    /// A matcher in a route, an inhibit rule, a silence or an API filter does not parse.
    case matcher(String)
    /// A posted alert or silence is invalid; the message is Alertmanager's.
    case invalid(String)
    /// A silence ID that does not exist.
    case silenceNotFound
    /// Expiring a silence that already ended.
    case alreadyExpired(String)
    /// The state database failed.
    case storage(path: String, detail: String)
    /// A notification could not be delivered.
    case delivery(String)

    public var description: String {
        switch self {
        case .config(let error): error.description
        case .matcher(let message): message
        case .invalid(let message): message
        case .silenceNotFound: "silence not found"
        case .alreadyExpired(let id): "silence \(id) already expired"
        case .storage(let path, let detail): "alertmanager state \(path): \(detail)"
        case .delivery(let message): message
        }
    }
}
