import Logging
import ObsCore
import ObsYAML
import Synchronization

/// `file_sd_configs`: target groups read from JSON or YAML files matched by glob patterns. Files
/// are checked every second and re-read when their modification time or size changes, and in any
/// case every `refresh_interval`. A file that does not parse keeps its last good groups (and the
/// error is logged), as in Prometheus.
final class FileDiscovery: Sendable {
    private struct Watch {
        var job: String
        var patterns: [String]
        var refresh: Int64
        var lastFull: Int64 = 0
        /// Per file: the stamp it was read at and the groups it gave.
        var files: [String: (stamp: String, groups: [TargetGroup])] = [:]
    }

    private let watches = Mutex<[Watch]>([])
    private let logger: Logger

    private let time: any TimeSource

    init(time: any TimeSource, logger: Logger) {
        self.time = time
        self.logger = logger
    }

    func configure(_ jobs: [ScrapeJob]) {
        watches.withLock { watches in
            watches = jobs.flatMap { job in
                job.fileDiscovery.map { Watch(job: job.name, patterns: $0.files, refresh: $0.refreshInterval) }
            }
        }
    }

    /// Jobs whose discovered groups changed, each with all its file groups now.
    func poll() -> [String: [TargetGroup]] {
        let now = time.now()
        return watches.withLock { watches in
            var changedJobs = Set<String>()
            for w in watches.indices {
                let full = now - watches[w].lastFull >= watches[w].refresh
                if full { watches[w].lastFull = now }
                var seen = Set<String>()
                for path in watches[w].patterns.flatMap(Self.expand) {
                    seen.insert(path)
                    let stamp = Self.stamp(path)
                    if !full, watches[w].files[path]?.stamp == stamp { continue }
                    do {
                        let groups = try Self.read(path)
                        if watches[w].files[path]?.groups != groups { changedJobs.insert(watches[w].job) }
                        watches[w].files[path] = (stamp, groups)
                    } catch {
                        logger.error("Reading a discovery file failed", metadata: ["file": "\(path)", "err": "\(error)"])
                        // The last good groups stay; the same broken file is not read again until it changes.
                        watches[w].files[path] = (stamp, watches[w].files[path]?.groups ?? [])
                    }
                }
                for path in watches[w].files.keys where !seen.contains(path) {
                    watches[w].files[path] = nil
                    changedJobs.insert(watches[w].job)
                }
            }
            var changed: [String: [TargetGroup]] = [:]
            for job in changedJobs {
                changed[job] = watches.filter { $0.job == job }.flatMap { $0.files.values.flatMap(\.groups) }
            }
            return changed
        }
    }

    /// Files matching a pattern; only the last path element may hold `*`, `?` or `[…]`.
    static func expand(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }

    static func stamp(_ path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "" }
        return "\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)/\(info.st_size)"
    }

    /// The groups in one file: a JSON or YAML list of `{targets: [...], labels: {...}}` (JSON is
    /// read as YAML, which it is a subset of, so both get the same errors with line numbers).
    static func read(_ path: String) throws -> [TargetGroup] {
        guard path.hasSuffix(".json") || path.hasSuffix(".yml") || path.hasSuffix(".yaml") else {
            throw ConfigError(file: path, line: nil, column: nil, key: "", message: "discovery files must end in .json, .yml or .yaml")
        }
        guard let root = try YAMLValue.parse(FileIO.readText(path), file: path) else { return [] }
        var groups: [TargetGroup] = []
        for (index, entry) in try root.sequence().enumerated() {
            let map = try entry.mapping(allowedKeys: ["targets", "labels"])
            let targets: [String] = try map.decode("targets", default: [])
            var labels: [String: String] = [:]
            if let given = map["labels"] {
                for (name, value) in try given.stringMap() { labels[name] = try value.scalar() }
            }
            labels["__meta_filepath"] = path
            groups.append(TargetGroup(targets: targets.map { ["__address__": $0] }, labels: labels, source: "file:\(path):\(index)"))
        }
        return groups
    }
}
