/// A configuration problem, located by file, line and key path so the user can go straight to it.
///
/// Rendered as `file:line:column: key: message`, e.g.
/// `obs-agent.yml:7:5: scrape_configs[0].scrape_interval: not a valid duration string: "15x"`.
public struct ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    public var file: String
    public var line: Int?
    public var column: Int?
    /// Dotted path to the offending key (`global.scrape_interval`, `scrape_configs[2].job_name`); empty
    /// for problems with the document as a whole.
    public var key: String
    public var message: String

    public init(file: String, line: Int?, column: Int?, key: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.message = message
    }

    public var description: String {
        var out = file
        if let line {
            out += ":\(line)"
            if let column { out += ":\(column)" }
        }
        out += ": "
        if !key.isEmpty { out += "\(key): " }
        return out + message
    }
}
