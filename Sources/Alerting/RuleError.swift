import ObsYAML

/// Why a rule file, a rule or an evaluation failed, with the context to find it.
public enum RuleError: Error, CustomStringConvertible, Sendable {
    /// A rule file that does not decode or validate: file, line and key.
    case config(ConfigError)
    /// A file that cannot be read or matched.
    case file(String, String)
    /// An expression that does not parse.
    case expression(String)
    /// An evaluation that failed: the query, its result, or the rule's limit.
    case evaluation(String)

    public var description: String {
        switch self {
        case let .config(error): error.description
        case let .file(path, message): "\(path): \(message)"
        case let .expression(message): message
        case let .evaluation(message): message
        }
    }
}
