import Logging
import NIOPosix
import ObsCore
import ServiceLifecycle

/// The sample pod logs of `examples/logs/pods`, replayed as live container logs for the embedded
/// default configuration, so that a first run shows lines in "the last hour": once, the whole
/// sample spread over the last ten minutes, then one line of each file every few seconds, cycling,
/// with the time it is written, in the kubelet's CRI format and layout (`<ns>_<pod>_<uid>/<container>/0.log`,
/// rotated to `0.log.1` past a megabyte, as the kubelet rotates). Runs only on the embedded default.
struct SampleLogReplay: Sendable {
    struct Entry: Sendable, Equatable {
        var stream: String
        /// `F` for a full line, `P` for a part the next entry continues.
        var tag: String
        var message: String
    }

    struct File: Sendable {
        /// Relative to the sample directory: `<ns>_<pod>_<uid>/<container>/0.log`.
        var path: String
        var entries: [Entry]
    }

    let files: [File]

    /// Reads the CRI lines of every `*/*/*.log` under `directory` (timestamps are replaced).
    static func load(from directory: String) -> SampleLogReplay {
        var files: [File] = []
        let manager = FileManager.default
        for pod in ((try? manager.contentsOfDirectory(atPath: directory)) ?? []).sorted() {
            for container in ((try? manager.contentsOfDirectory(atPath: directory + "/" + pod)) ?? []).sorted() {
                let folder = directory + "/" + pod + "/" + container
                for name in ((try? manager.contentsOfDirectory(atPath: folder)) ?? []).sorted() where name.hasSuffix(".log") {
                    guard let text = try? FileIO.readText(folder + "/" + name) else { continue }
                    let entries = text.split(separator: "\n").compactMap(parse)
                    if !entries.isEmpty { files.append(File(path: pod + "/" + container + "/" + name, entries: entries)) }
                }
            }
        }
        return SampleLogReplay(files: files)
    }

    /// `<time> <stream> <tag> <message>`; nil for anything else.
    static func parse(_ line: Substring) -> Entry? {
        let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count >= 3, parts[1] == "stdout" || parts[1] == "stderr", parts[2] == "F" || parts[2] == "P" else { return nil }
        return Entry(stream: String(parts[1]), tag: String(parts[2]), message: parts.count > 3 ? String(parts[3]) : "")
    }

    static func line(_ entry: Entry, at milliseconds: Int64) -> String {
        "\(TimeParsing.rfc3339String(nanoseconds: milliseconds * 1_000_000)) \(entry.stream) \(entry.tag) \(entry.message)\n"
    }

    /// A file's whole sample with times spread evenly over `span` milliseconds up to `now`.
    static func backfill(_ file: File, endingAt now: Int64, span: Int64) -> String {
        let count = Int64(file.entries.count)
        return file.entries.enumerated().map { index, entry in
            line(entry, at: now - span + span * Int64(index + 1) / count)
        }.joined()
    }
}

struct SampleLogService: Service {
    let source: String
    let target: String
    let time: any TimeSource
    let logger: Logger
    /// Time between two live lines of one file.
    var interval: Int64 = 3000
    /// Past this size a file is rotated.
    var maxFileSize = 1 << 20

    func run() async throws {
        let replay = SampleLogReplay.load(from: source)
        if replay.files.isEmpty {
            logger.info("No sample pod logs to replay", metadata: ["directory": "\(source)"])
        } else {
            logger.info("Replaying the sample pod logs as live lines", metadata: ["from": "\(source)", "to": "\(target)"])
        }
        let now = time.now()
        try? await write { for file in replay.files { try self.start(file, now: now) } }
        var position = 0
        while !replay.files.isEmpty {
            do {
                try await cancelWhenGracefulShutdown { try await time.sleep(until: time.now() + interval) }
            } catch {
                return
            }
            let stamp = time.now()
            let index = position
            do {
                try await write {
                    for file in replay.files {
                        try self.append(SampleLogReplay.line(file.entries[index % file.entries.count], at: stamp), to: file.path)
                    }
                }
            } catch {
                logger.warning("Writing sample pod logs failed", metadata: ["err": "\(error)"])
            }
            position += 1
        }
        // Nothing to replay: stay until shutdown (a service that returns ends the whole group).
        try? await gracefulShutdown()
    }

    private func write(_ work: @escaping @Sendable () throws -> Void) async throws {
        try await NIOThreadPool.singleton.runIfActive(work)
    }

    /// The first run writes the whole sample into the last ten minutes; later runs go on from there.
    private func start(_ file: SampleLogReplay.File, now: Int64) throws {
        let path = target + "/" + file.path
        guard !FileManager.default.fileExists(atPath: path) else { return }
        try FileManager.default.createDirectory(atPath: FileIO.parent(of: path), withIntermediateDirectories: true)
        try append(SampleLogReplay.backfill(file, endingAt: now, span: 600_000), to: file.path)
    }

    private func append(_ text: String, to relative: String) throws {
        let path = target + "/" + relative
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > maxFileSize {
            _ = try? FileManager.default.removeItem(atPath: path + ".1")
            try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        }
        if !FileManager.default.fileExists(atPath: path) {
            try FileManager.default.createDirectory(atPath: FileIO.parent(of: path), withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: path, contents: nil)
        }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CoreError.io(operation: "open", path: path, errno: errno) }
        defer { close(fd) }
        try FileIO.writeAll(fd: fd, Array(text.utf8), path: path)
    }
}
