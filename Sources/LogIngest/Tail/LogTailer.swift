import Logging
import NIOPosix
import ObsCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Tails every file the inputs' patterns match, like Fluentd's `in_tail`: lines become entries in
/// the log store, and each file's position advances only with the store commit that holds its
/// lines (the commit carries the positions), then in SQLite. Renamed files are read to their end
/// before the new file at the path is opened; truncated files (copytruncate) are finished from
/// their copy when one is found; a file's identity is its device, inode and first bytes.
///
/// `run()` owns all file state; the rest of the type is immutable. Blocking reads happen on the
/// NIO thread pool.
public final class LogTailer: @unchecked Sendable {
    let inputs: [TailInput]
    let store: LogStore
    let positionsPath: String
    let logger: Logger
    let counters: TailCounters
    /// Bytes read per commit at most: bounds memory while the store is slow.
    let batchBytes = 2 << 20

    // Loop state, touched only by `run()`.
    private var files: [String: TailedFile] = [:]
    private var draining: [TailedFile] = []
    private var saved: [String: TailPosition] = [:]
    private var firstRun = false
    private var nextScan: [Int64]
    private var rules: [MultilineRule?] = []
    /// inotify on the tailed directories; nil where it is unavailable (then only polling).
    private let watcher = DirectoryWatcher()
    private let lag = Mutex<[String: Int64]>([:])

    public init(inputs: [TailInput], store: LogStore, positionsPath: String, metrics: MetricsRegistry, logger: Logger) throws {
        self.inputs = inputs
        self.store = store
        self.positionsPath = positionsPath
        self.logger = logger
        counters = TailCounters(metrics)
        nextScan = Array(repeating: 0, count: inputs.count)
        rules = try inputs.map { input in
            try input.multiline.map { try MultilineRule(preset: $0.preset, firstLine: $0.firstLine) }
        }
        metrics.addCollector { [weak self] writer in
            guard let self else { return }
            let lags = self.lag.withLock { $0 }
            writer.header(name: "obs_logs_tail_lag_bytes", help: "Bytes written to a tailed file and not yet read and stored.", type: "gauge")
            for (path, bytes) in lags.sorted(by: { $0.key < $1.key }) {
                writer.sample(name: "obs_logs_tail_lag_bytes", labelNames: ["path"], labelValues: [path], value: Double(bytes))
            }
        }
    }

    /// Tails until cancelled. Lines read but not yet committed when it stops are read again by the
    /// next run, from the committed positions.
    public func run() async {
        let database: PositionsDatabase
        do {
            database = try PositionsDatabase(path: positionsPath)
            saved = try database.all()
        } catch {
            logger.error("Tail positions unavailable; tailing is off", metadata: ["err": "\(error)"])
            return
        }
        // The store's positions are never behind SQLite's: they are committed first.
        for (path, position) in store.positions() { saved[path] = position }
        firstRun = saved.isEmpty
        while !Task.isCancelled {
            let pass = try? await NIOThreadPool.singleton.runIfActive { self.round() }
            let positions = pass?.positions ?? []
            if !positions.isEmpty {
                do {
                    try await commit(positions, database: database)
                } catch {
                    // Nothing of the failed batch is stored: it is read again from the last commit.
                    for file in files.values { file.rewind() }
                    for file in draining { file.rewind() }
                    logger.error("Storing tailed lines failed; retrying", metadata: ["err": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                    continue
                }
            }
            // Published only once the lines read are stored: a lag of 0 means nothing is left to lose.
            if let lags = pass?.lags { lag.withLock { $0 = lags } }
            if pass?.progressed != true { await idle() }
        }
    }

    /// Waits for the next write, creation or rename in a watched directory (checked every 20 ms),
    /// at most a quarter second, after which the files are looked at anyway.
    private func idle() async {
        for _ in 0..<12 {
            if let events = watcher?.drain() {
                if events.namesChanged {
                    for index in nextScan.indices { nextScan[index] = 0 }
                }
                if events.modified || events.namesChanged { return }
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The directory part of a pattern before its first wildcard: watched so new files and
    /// directories under it wake the tailer.
    static func fixedPrefix(_ pattern: String) -> String {
        let components = pattern.split(separator: "/", omittingEmptySubsequences: false)
        var fixed: [Substring] = []
        for component in components.dropLast() {
            if component.contains(where: { "*?[".contains($0) }) { break }
            fixed.append(component)
        }
        let joined = fixed.joined(separator: "/")
        return joined.isEmpty ? (pattern.hasPrefix("/") ? "/" : ".") : joined
    }

    private var appender: (any LogAppender)?

    private func commit(_ positions: [TailPosition], database: PositionsDatabase) async throws {
        var batch = appender ?? store.appender()
        appender = nil
        try await batch.commit(positions: positions)
        for position in positions {
            for file in draining where file.path == position.path {
                file.committedOffset = position.offset
                file.needsCommit = false
            }
            if let file = files[position.path], !draining.contains(where: { $0.path == position.path }) {
                file.committedOffset = position.offset
                file.needsCommit = false
            }
        }
        try await NIOThreadPool.singleton.runIfActive { try database.save(positions) }
    }

    /// One pass: discovery, rotation checks, reading. Returns whether anything was read and the
    /// positions that moved (with their entries in `appender`), and each path's bytes not yet read.
    private func round() -> (progressed: Bool, positions: [TailPosition], lags: [String: Int64]) {
        let now = WallClock.milliseconds()
        for index in inputs.indices where now >= nextScan[index] {
            discover(index)
            nextScan[index] = now + inputs[index].rescanInterval
        }
        // Entries a round appended without moving a position (none should) are kept for the next commit.
        var entries = appender ?? store.appender()
        var budget = batchBytes
        var progressed = false
        var moved: [String: TailPosition] = [:]
        // Per path, files are read oldest first: a renamed file to its end, then the one that
        // replaced it. The path's position is that of the oldest unfinished file.
        var heads: [String: TailedFile] = [:]
        var headChanged = Set<String>()
        for file in draining where heads[file.path] == nil {
            progressed = read(file, into: &entries, budget: &budget) || progressed
            if file.readOffset >= file.size && budget > 0 {
                finish(file, into: &entries)
                nextScan[file.input] = 0
                headChanged.insert(file.path)
            } else {
                heads[file.path] = file
            }
        }
        draining.removeAll { $0.draining == false }
        for file in files.values {
            checkRotation(file, into: &entries)
        }
        for file in files.values where heads[file.path] == nil {
            progressed = read(file, into: &entries, budget: &budget) || progressed
            flushTimedOut(file, into: &entries, now: now * 1_000_000)
            heads[file.path] = file
        }
        for (path, file) in heads where file.safeOffset != file.committedOffset || file.needsCommit || headChanged.contains(path) {
            moved[path] = file.position
        }
        var lags: [String: Int64] = [:]
        for file in files.values { lags[file.path] = max(0, file.size - file.readOffset) }
        for file in draining { lags[file.path, default: 0] += max(0, file.size - file.readOffset) + 1 }
        appender = entries
        firstRun = false
        return (progressed, Array(moved.values), lags)
    }

    // MARK: Discovery

    private func discover(_ index: Int) {
        let input = inputs[index]
        for pattern in input.paths { watcher?.watch(Self.fixedPrefix(pattern)) }
        for path in Self.expand(input.paths) where !input.exclude.contains(where: { fnmatch($0, path, FNM_PATHNAME) == 0 }) {
            guard files[path] == nil else { continue }
            // A saved position applies to the first file found at its path; later ones start at 0.
            let previous = saved.removeValue(forKey: path)
            var resumeOld = false
            let opened = TailedFile.open(path, input: index) { device, inode, size in
                if let previous {
                    if previous.device == device && previous.inode == inode { return previous.offset <= size ? previous.offset : 0 }
                    resumeOld = true
                    return 0
                }
                return firstRun && input.startAtEnd ? size : 0
            }
            guard let file = opened else {
                if let previous { saved[path] = previous }
                continue
            }
            if resumeOld, let previous, let old = findRenamed(previous) {
                // Rotated while the agent was down: the old file is finished first, then this one.
                old.draining = true
                draining.append(old)
                logger.info("Finishing a file rotated while stopped", metadata: ["path": "\(path)"])
            }
            if let previous, previous.device == file.device, previous.inode == file.inode,
               previous.offset > file.size || (previous.fingerprint != 0 && file.fingerprint != previous.fingerprint) {
                // Truncated (or the inode reused) while the agent was down: what a copy kept past the
                // position is read first, then the file from its start.
                if let copy = findCopy(fingerprint: previous.fingerprint, reaching: previous.offset, besides: path) {
                    let old = TailedFile(path: path, input: index, fd: copy.fd, device: copy.device, inode: copy.inode,
                                         offset: previous.offset).with(fingerprint: previous.fingerprint)
                    old.draining = true
                    draining.append(old)
                }
                file.readOffset = 0
                file.committedOffset = 0
                file.needsCommit = true
            }
            // The file's identity is committed in this round even before a line is read, so that a
            // rename right after this is recognised by a restarted tailer.
            file.needsCommit = true
            files[path] = file
            watcher?.watch(FileIO.parent(of: path))
            counters.filesOpened.inc()
        }
    }

    /// The file `position` was read from, found again in its directory under another name.
    private func findRenamed(_ position: TailPosition) -> TailedFile? {
        let directory = FileIO.parent(of: position.path)
        for name in (try? FileIO.listDirectory(directory)) ?? [] {
            let candidate = directory + "/" + name
            var info = stat()
            guard stat(candidate, &info) == 0, UInt64(info.st_dev) == position.device, UInt64(info.st_ino) == position.inode
            else { continue }
            let input = inputs.firstIndex { input in input.paths.contains { fnmatch($0, position.path, FNM_PATHNAME) == 0 } } ?? 0
            guard let file = TailedFile.open(candidate, as: position.path, input: input,
                                             offset: { _, _, size in min(position.offset, size) }) else { continue }
            guard position.fingerprint == 0 || file.fingerprint == position.fingerprint else { return nil }
            return file
        }
        return nil
    }

    static func expand(_ patterns: [String]) -> [String] {
        var result: [String] = []
        for pattern in patterns {
            var matches = glob_t()
            defer { globfree(&matches) }
            guard glob(pattern, 0, nil, &matches) == 0 else { continue }
            for index in 0..<Int(matches.gl_pathc) {
                if let path = matches.gl_pathv[index] { result.append(String(cString: path)) }
            }
        }
        return result
    }

    // MARK: Rotation

    private func checkRotation(_ file: TailedFile, into entries: inout any LogAppender) {
        var info = stat()
        let exists = stat(file.path, &info) == 0
        if !exists || UInt64(info.st_ino) != file.inode || UInt64(info.st_dev) != file.device {
            // Renamed away or deleted: read what is left through the open descriptor.
            files[file.path] = nil
            file.draining = true
            draining.append(file)
            nextScan[file.input] = 0
            counters.rotations.labels("rename").inc()
            return
        }
        let size = file.size
        let current = file.currentFingerprint()
        let replaced = file.fingerprint != 0 && current != nil && current != file.fingerprint
        guard size < file.readOffset || replaced else {
            if file.fingerprint == 0, let current { file.fingerprint = current }
            return
        }
        // Truncated in place (copytruncate): finish from the copy, if one is there, then restart at 0.
        counters.rotations.labels("truncate").inc()
        if let copy = findCopy(of: file) {
            var budget = Int.max
            while true {
                let chunk = file.readChunk(from: copy)
                if chunk.isEmpty { break }
                consume(chunk, file: file, into: &entries, budget: &budget)
            }
            close(copy)
        }
        flushAll(file, into: &entries)
        file.buffer = []
        file.readOffset = 0
        file.pendingStarts = [:]
        file.fingerprint = current ?? 0
        file.committedOffset = 0
        file.needsCommit = true
    }

    /// A sibling file with the same first bytes that reaches at least as far as `file` was read.
    private func findCopy(of file: TailedFile) -> Int32? {
        findCopy(fingerprint: file.fingerprint, reaching: file.readOffset, besides: file.path)?.fd
    }

    /// A file beside `path` whose first bytes hash to `fingerprint` and that is at least `offset`
    /// long: the copy a copytruncate rotation left.
    private func findCopy(fingerprint: UInt64, reaching offset: Int64, besides path: String) -> (fd: Int32, device: UInt64, inode: UInt64)? {
        guard fingerprint != 0 else { return nil }
        let directory = FileIO.parent(of: path)
        for name in (try? FileIO.listDirectory(directory)) ?? [] {
            let candidate = directory + "/" + name
            guard candidate != path else { continue }
            let fd = open(candidate, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            var info = stat()
            if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, Int64(info.st_size) >= offset,
               TailedFile.fingerprint(fd: fd) == fingerprint {
                return (fd, UInt64(info.st_dev), UInt64(info.st_ino))
            }
            close(fd)
        }
        return nil
    }

    // MARK: Reading

    /// Reads what the file has, up to the budget; returns whether anything was read.
    private func read(_ file: TailedFile, into entries: inout any LogAppender, budget: inout Int) -> Bool {
        var progressed = false
        while budget > 0 {
            let chunk = file.readChunk()
            if chunk.isEmpty { break }
            progressed = true
            consume(chunk, file: file, into: &entries, budget: &budget)
        }
        return progressed
    }

    /// Splits `chunk` (read at `file.readOffset`) into lines and hands them on.
    private func consume(_ chunk: [UInt8], file: TailedFile, into entries: inout any LogAppender, budget: inout Int) {
        file.counters(counters).bytes.inc(Double(chunk.count))
        budget -= chunk.count
        // The identity is taken from the bytes read, so it describes the content the position counts.
        if file.fingerprint == 0 && file.readOffset + Int64(chunk.count) >= Int64(TailedFile.fingerprintLength) {
            file.fingerprint = file.readOffset == 0 ? TailedFile.fingerprint(of: chunk.prefix(TailedFile.fingerprintLength))
                : file.currentFingerprint() ?? 0
        }
        let input = inputs[file.input]
        var lineStart = file.readOffset - Int64(file.buffer.count)
        file.readOffset += Int64(chunk.count)
        file.buffer.append(contentsOf: chunk)
        let limit = input.maxLineSize + (64 << 10)
        file.buffer.withUnsafeBytes { bytes in
            var start = 0
            while start < bytes.count {
                guard let newline = memchr(bytes.baseAddress! + start, 0x0A, bytes.count - start) else { break }
                let end = bytes.baseAddress!.distance(to: UnsafeRawPointer(newline))
                var line = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
                if line.last == 0x0D { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
                handle(line, at: lineStart, file: file, into: &entries)
                lineStart += Int64(end + 1 - start)
                start = end + 1
            }
            // A line with no end in sight is cut, so memory stays bounded.
            if bytes.count - start > limit {
                handle(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + input.maxLineSize)]), at: lineStart, file: file, into: &entries)
                counters.truncated.inc()
                start = bytes.count
            }
            file.buffer.removeFirst(start)
        }
    }

    private func handle(_ line: UnsafeRawBufferPointer, at offset: Int64, file: TailedFile, into entries: inout any LogAppender) {
        let input = inputs[file.input]
        if file.format == nil {
            switch input.format {
            case .auto: file.format = LineFormat.detect(line)
            case .cri: file.format = .cri
            case .docker: file.format = .docker
            case .text: file.format = .text
            }
        }
        let raw = RawLine(line, format: file.format!)
        if raw.malformed { counters.malformed.inc() }
        file.counters(counters).lines.inc()
        let stream = raw.stream ?? ""
        var assembler = file.assemblers[stream] ?? EntryAssembler(
            rule: rules[file.input], maxLines: input.multiline?.maxLines ?? 1, maxBytes: input.maxLineSize)
        let truncatedBefore = assembler.truncated
        let finished = assembler.add(raw, now: WallClock.milliseconds() * 1_000_000)
        if assembler.truncated > truncatedBefore { counters.truncated.inc() }
        if assembler.hasPending {
            // The unfinished entry starts at this line unless it was already open.
            if finished.isEmpty, let start = file.pendingStarts[stream] {
                file.pendingStarts[stream] = start
            } else {
                file.pendingStarts[stream] = offset
            }
        } else {
            file.pendingStarts[stream] = nil
        }
        file.assemblers[stream] = assembler
        emit(finished, stream: stream, file: file, into: &entries)
    }

    private func emit(_ finished: [EntryAssembler.Entry], stream: String, file: TailedFile, into entries: inout any LogAppender) {
        guard !finished.isEmpty else { return }
        let labels = file.labelsByStream[stream] ?? {
            var pairs = inputs[file.input].labels.pairs + inputs[file.input].pathLabels(file.path)
            if !stream.isEmpty { pairs.append(Label("stream", stream)) }
            let labels = Labels(pairs)
            file.labelsByStream[stream] = labels
            return labels
        }()
        for entry in finished {
            do {
                try entries.append(labels, LogEntry(timestamp: entry.timestamp, line: entry.line))
            } catch {
                switch error {
                case .tooFarBehind, .tooOld: counters.dropped.labels("too_far_behind").inc()
                case .lineTooLong: counters.dropped.labels("line_too_long").inc()
                case .invalidStream: counters.dropped.labels("invalid_labels").inc()
                case .refused: counters.dropped.labels("stream_limits").inc()
                }
                logger.debug("Tailed line refused", metadata: ["path": "\(file.path)", "err": "\(error)"])
            }
        }
    }

    /// Emits multiline entries left open longer than the input's timeout.
    private func flushTimedOut(_ file: TailedFile, into entries: inout any LogAppender, now: Int64) {
        guard let timeout = inputs[file.input].multiline?.timeout else { return }
        for (stream, var assembler) in file.assemblers where assembler.hasPending && now - assembler.pendingSince >= timeout * 1_000_000 {
            let finished = assembler.take()
            file.assemblers[stream] = assembler
            if !assembler.hasPending { file.pendingStarts[stream] = nil }
            emit(finished, stream: stream, file: file, into: &entries)
        }
    }

    private func flushAll(_ file: TailedFile, into entries: inout any LogAppender) {
        if !file.buffer.isEmpty {
            let rest = file.buffer
            file.buffer = []
            rest.withUnsafeBytes { handle($0, at: file.readOffset - Int64(rest.count), file: file, into: &entries) }
        }
        for (stream, var assembler) in file.assemblers {
            let finished = assembler.take()
            file.assemblers[stream] = assembler
            emit(finished, stream: stream, file: file, into: &entries)
        }
        file.pendingStarts = [:]
    }

    /// A drained file is done: its last line (even without a newline) and open entries go out.
    private func finish(_ file: TailedFile, into entries: inout any LogAppender) {
        flushAll(file, into: &entries)
        file.draining = false
    }
}

extension TailedFile {
    func with(fingerprint: UInt64) -> TailedFile {
        self.fingerprint = fingerprint
        return self
    }
}

/// The tailer's self metrics.
struct TailCounters: Sendable {
    let bytesRead: CounterFamily
    let lines: CounterFamily
    let malformed: Counter
    let truncated: Counter
    let dropped: CounterFamily
    let filesOpened: Counter
    let rotations: CounterFamily

    init(_ metrics: MetricsRegistry) {
        bytesRead = metrics.counter("obs_logs_tail_read_bytes_total", help: "Bytes read from tailed files, per file.",
                                    labelNames: ["path"])
        lines = metrics.counter("obs_logs_tail_lines_total", help: "Lines read from tailed files, per file.", labelNames: ["path"])
        malformed = metrics.counter("obs_logs_tail_malformed_lines_total",
                                    help: "Lines that did not have their file's format, kept as they were.").labels()
        truncated = metrics.counter("obs_logs_tail_truncated_lines_total", help: "Entries cut to the maximum line size.").labels()
        dropped = metrics.counter("obs_logs_tail_dropped_lines_total", help: "Tailed entries the store refused, by reason.",
                                  labelNames: ["reason"])
        filesOpened = metrics.counter("obs_logs_tail_files_opened_total", help: "Files opened for tailing.").labels()
        rotations = metrics.counter("obs_logs_tail_rotations_total", help: "Rotations seen, by style.", labelNames: ["style"])
    }
}
