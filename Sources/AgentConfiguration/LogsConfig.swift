import OutboundHTTP
import ObsCore
import ObsYAML

/// `logs:` — the log store's settings and the files to tail.
package struct LogsConfig: Sendable, Equatable {
    package var storage = LogStorageConfig()
    package var inputs: [LogInputConfig] = []
    package var forward: [ForwardConfig] = []
}

/// `logs.storage:`.
package struct LogStorageConfig: Sendable, Equatable {
    /// How long entries are kept; zero keeps them until `retention_size` needs the room.
    package var retention = PrometheusDuration(milliseconds: 0)
    package var retentionSize = ByteSize(bytes: 0)
    /// Entries per compressed block, before compression.
    package var blockSize = ByteSize(bytes: 256 << 10)
    /// Longest an entry waits in memory (and the WAL) before it is written to a segment.
    package var flushInterval = PrometheusDuration.seconds(300)
    /// Head memory that triggers a flush.
    package var flushSize = ByteSize(bytes: 8 << 20)
    /// How far behind its stream's newest entry an entry may arrive.
    package var outOfOrderWindow = PrometheusDuration.seconds(3600)
    /// Longest line accepted from Loki push; longer tailed lines are truncated to it.
    package var maxLineSize = ByteSize(bytes: 256 << 10)
}

/// One entry of `logs.inputs:`: files to tail and how to read them.
package struct LogInputConfig: Sendable, Equatable {
    package enum Format: String, Sendable, Equatable { case auto, cri, docker, text }
    package enum StartAt: String, Sendable, Equatable { case beginning, end }

    package var name: String
    package var paths: [String]
    package var exclude: [String] = []
    package var format = Format.auto
    /// Labels every line of this input gets.
    package var labels = LabelMap()
    /// Whether `namespace`, `pod`, `container` and `pod_uid` come from the kubelet's path layout.
    package var kubernetesLabels = true
    /// Where to start in files that already exist the first time the input runs.
    package var startAt = StartAt.beginning
    package var multiline: MultilineConfig?
    /// How often the globs are expanded again (new files also arrive through inotify).
    package var rescanInterval = PrometheusDuration.seconds(1)
}

/// `multiline:` — joining continuation lines into one entry.
package struct MultilineConfig: Sendable, Equatable {
    /// A built-in first-line pattern: `java`, `python` or `go`.
    package var preset: String?
    /// A regex matching the first line of an entry; lines that do not match continue the entry.
    package var firstLine: String?
    /// An entry still open this long without a new line is emitted.
    package var timeout = PrometheusDuration(milliseconds: 3000)
    package var maxLines = 500
}

extension LogsConfig {
    package init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: ["storage", "inputs", "forward"])
        if let storage = map["storage"] { self.storage = try LogStorageConfig(yaml: storage) }
        var names = Set<String>()
        for entry in try map["inputs"]?.sequence() ?? [] {
            let input = try LogInputConfig(yaml: entry)
            guard names.insert(input.name).inserted else { throw entry.error("found multiple log inputs named \"\(input.name)\"") }
            inputs.append(input)
        }
        var forwarders = Set<String>()
        for entry in try map["forward"]?.sequence() ?? [] {
            let destination = try ForwardConfig(yaml: entry, signal: .logs)
            guard forwarders.insert(destination.name).inserted else {
                throw entry.error("found multiple log forward destinations named \"\(destination.name)\"; give each a name")
            }
            forward.append(destination)
        }
    }
}

extension LogStorageConfig {
    package init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: ["retention", "retention_size", "block_size", "flush_interval", "flush_size",
                                                 "out_of_order_window", "max_line_size"])
        let defaults = LogStorageConfig()
        retention = try map.decode("retention", default: defaults.retention)
        retentionSize = try map.decode("retention_size", default: defaults.retentionSize)
        blockSize = try map.decode("block_size", default: defaults.blockSize)
        flushInterval = try map.decode("flush_interval", default: defaults.flushInterval)
        flushSize = try map.decode("flush_size", default: defaults.flushSize)
        outOfOrderWindow = try map.decode("out_of_order_window", default: defaults.outOfOrderWindow)
        maxLineSize = try map.decode("max_line_size", default: defaults.maxLineSize)
        // The store keeps these in nanoseconds: past 146 years they would not fit.
        for (key, duration) in [("retention", retention), ("out_of_order_window", outOfOrderWindow)]
        where duration.milliseconds > CheckedTime.maxNanoseconds / 1_000_000 {
            throw map.error(at: key, "\(key) must be at most 146 years")
        }
        if blockSize.bytes < 1024 || blockSize.bytes > 16 << 20 {
            throw map.error(at: "block_size", "block size must be between 1KB and 16MB")
        }
        if flushInterval.milliseconds <= 0 { throw map.error(at: "flush_interval", "flush interval must be greater than zero") }
        if flushSize.bytes <= 0 { throw map.error(at: "flush_size", "flush size must be greater than zero") }
        if maxLineSize.bytes <= 0 { throw map.error(at: "max_line_size", "max line size must be greater than zero") }
    }

    /// The store's options for this configuration.
    package var storeOptions: (blockSize: Int, flushBytes: Int, flushAge: Int64, window: Int64, maxLine: Int, retention: Int64, retentionBytes: Int) {
        (Int(blockSize.bytes), Int(flushSize.bytes), flushInterval.milliseconds, outOfOrderWindow.milliseconds * 1_000_000,
         Int(maxLineSize.bytes), retention.milliseconds * 1_000_000, Int(retentionSize.bytes))
    }
}

extension LogInputConfig {
    package init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: ["name", "paths", "exclude", "format", "labels", "kubernetes_labels", "start_at",
                                                 "multiline", "rescan_interval"])
        name = try map.require("name")
        paths = try map.require("paths")
        if paths.isEmpty { throw map.error(at: "paths", "an input needs at least one path pattern") }
        exclude = try map.decode("exclude", default: [])
        let formatText: String = try map.decode("format", default: "auto")
        guard let format = Format(rawValue: formatText) else {
            throw map.error(at: "format", "unknown format \"\(formatText)\" (want auto, cri, docker or text)")
        }
        self.format = format
        labels = try map.decode("labels", default: LabelMap())
        kubernetesLabels = try map.decode("kubernetes_labels", default: true)
        let startText: String = try map.decode("start_at", default: "beginning")
        guard let startAt = StartAt(rawValue: startText) else {
            throw map.error(at: "start_at", "unknown start_at \"\(startText)\" (want beginning or end)")
        }
        self.startAt = startAt
        rescanInterval = try map.decode("rescan_interval", default: PrometheusDuration.seconds(1))
        if rescanInterval.milliseconds <= 0 { throw map.error(at: "rescan_interval", "rescan interval must be greater than zero") }
        if let multiline = map["multiline"] { self.multiline = try MultilineConfig(yaml: multiline) }
    }
}

extension MultilineConfig {
    package static let presets = ["java", "python", "go"]

    package init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: ["preset", "first_line", "timeout", "max_lines"])
        preset = try map.decode("preset", as: String.self)
        firstLine = try map.decode("first_line", as: String.self)
        timeout = try map.decode("timeout", default: PrometheusDuration(milliseconds: 3000))
        maxLines = try map.decode("max_lines", default: 500)
        if let preset, !Self.presets.contains(preset) {
            throw map.error(at: "preset", "unknown multiline preset \"\(preset)\" (want java, python or go)")
        }
        if preset != nil && firstLine != nil { throw map.error(at: "first_line", "set either preset or first_line, not both") }
        if preset == nil && firstLine == nil { throw map.error(at: "preset", "multiline needs a preset or a first_line pattern") }
        if let firstLine {
            do {
                _ = try LinearRegex(firstLine)
            } catch {
                throw map.error(at: "first_line", "\(error)")
            }
        }
        if maxLines <= 0 { throw map.error(at: "max_lines", "max lines must be greater than zero") }
    }
}

