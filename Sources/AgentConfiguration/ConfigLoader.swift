import ObsCore
import ObsYAML

/// Reads the configuration from `--config.file`, or the embedded default when none is given.
/// Called at start and on every reload; each call reads the file afresh.
package struct ConfigLoader: Sendable {
    /// The file to read, or `nil` for the embedded default.
    package let path: String?
    /// The listen address, so the embedded default can scrape this daemon.
    package let selfTarget: String
    /// Where the embedded default tails pod logs (the daemon replays its samples there).
    package let sampleLogs: String

    package init(path: String?, selfTarget: String, sampleLogs: String = "examples/logs/pods") {
        self.path = path
        self.selfTarget = selfTarget
        self.sampleLogs = sampleLogs
    }

    package func load() throws(ConfigError) -> AgentConfig {
        guard let path else {
            return try AgentConfig.parse(DefaultConfig.text(selfTarget: selfTarget, sampleLogs: sampleLogs), file: DefaultConfig.source)
        }
        let text: String
        do {
            text = try FileIO.readText(path)
        } catch {
            throw ConfigError(file: path, line: nil, column: nil, key: "", message: "cannot read file: \(error)")
        }
        return try AgentConfig.parse(text, file: path)
    }
}
