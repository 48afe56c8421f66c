import ObsCore
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Writes one line per log event to stderr, as logfmt (`ts=… level=info msg="…" key=value`) or JSON,
/// like Prometheus's `--log.format`. Lines are written with a single `write(2)` so concurrent events
/// never interleave. Thread-safe.
struct LineLogHandler: LogHandler {
    enum Format: String, Sendable, CaseIterable {
        case logfmt, json
    }

    let label: String
    let format: Format
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, format: Format, level: Logger.Level) {
        self.label = label
        self.format = format
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("ts", Self.timestamp()),
            ("level", Self.levelName(event.level)),
            ("component", label),
            ("msg", "\(event.message)"),
        ]
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        for key in merged.keys.sorted() { fields.append((key, "\(merged[key]!)")) }

        var line = format == .json ? Self.json(fields) : Self.logfmt(fields)
        line += "\n"
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if n <= 0 { if errno == EINTR { continue } else { return } }
                offset += n
            }
        }
    }

    /// Prometheus's level names.
    static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: "debug"
        case .info, .notice: "info"
        case .warning: "warn"
        case .error, .critical: "error"
        }
    }

    /// Parses `--log.level` values (Prometheus's names, plus swift-log's).
    static func level(named name: String) -> Logger.Level? {
        switch name {
        case "debug": .debug
        case "info": .info
        case "warn", "warning": .warning
        case "error": .error
        case "trace": .trace
        default: nil
        }
    }

    static func logfmt(_ fields: [(String, String)]) -> String {
        var out = ""
        for (index, (key, value)) in fields.enumerated() {
            if index > 0 { out += " " }
            out += key
            out += "="
            let needsQuotes = value.isEmpty || value.contains { $0 == " " || $0 == "=" || $0 == "\"" || $0.asciiValue.map { $0 < 0x20 } ?? false }
            if needsQuotes {
                out += "\""
                for character in value {
                    switch character {
                    case "\"": out += "\\\""
                    case "\\": out += "\\\\"
                    case "\n": out += "\\n"
                    case "\t": out += "\\t"
                    default: out.append(character)
                    }
                }
                out += "\""
            } else {
                out += value
            }
        }
        return out
    }

    static func json(_ fields: [(String, String)]) -> String {
        var out = "{"
        for (index, (key, value)) in fields.enumerated() {
            if index > 0 { out += "," }
            out += JSONText.quote(key)
            out += ":"
            out += JSONText.quote(value)
        }
        return out + "}"
    }

    /// RFC 3339 UTC with milliseconds, without Foundation's formatter on the logging path.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + "\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }
}
