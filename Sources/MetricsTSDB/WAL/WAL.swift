import Logging
import NIOCore
import ObsCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The metrics write-ahead log: numbered segment files of checksummed records. `log` returns only
/// after the records are fsynced. Replay reads every segment in order and cuts a torn or corrupt
/// tail with a warning instead of failing. Format in `WAL/FORMAT.md`.
///
/// Thread-safe. `log` blocks on disk I/O: call it from a thread that may block.
final class WAL: Sendable {
    /// Magic, format version, flags. Version 2 added snappy-compressed payloads; version 1 files
    /// (never compressed) are still read.
    static let magic: [UInt8] = Array("OBSWAL".utf8) + [2, 0]
    static let readableVersions: Set<UInt8> = [1, 2]
    /// Set in a record's type byte when its payload is snappy-compressed.
    static let compressedFlag: UInt8 = 0x80
    /// Largest decoded payload accepted on replay.
    static let maxPayload = 256 << 20
    static let recordHeaderSize = 9

    let directory: String
    let segmentSize: Int
    private let logger: Logger
    let writer = Mutex(Writer())

    struct Writer {
        var fd: Int32 = -1
        var segment = 0
        var size = 0
        /// Buffered commits wrote since the last sync.
        var unsynced = false
    }

    struct ReplayReport: Equatable {
        var segments = 0
        var records = 0
        var truncatedBytes = 0
    }

    init(directory: String, segmentSize: Int = 128 << 20, logger: Logger) throws {
        try FileIO.makeDirectories(directory)
        self.directory = directory
        self.segmentSize = segmentSize
        self.logger = logger
    }

    deinit {
        writer.withLock { if $0.fd >= 0 { close($0.fd) } }
    }

    /// Segment numbers present on disk, ascending.
    func segments() throws -> [Int] {
        try listDirectory().compactMap { name in
            guard name.count == 8, let number = Int(name), number > 0 else { return nil }
            return number
        }.sorted()
    }

    func path(ofSegment number: Int) -> String {
        let digits = String(number)
        return directory + "/" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// The newest checkpoint (`checkpoint.NNNNNNNN`, covering segments up to NNNNNNNN), if any.
    func checkpoints() throws -> [Int] {
        try listDirectory().compactMap { name in
            guard name.hasPrefix("checkpoint."), name.count == 19 else { return nil }
            return Int(name.dropFirst(11))
        }.sorted()
    }

    func path(ofCheckpoint number: Int) -> String {
        let digits = String(number)
        return directory + "/checkpoint." + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    private func listDirectory() throws -> [String] { try FileIO.listDirectory(directory) }

    /// The files replay reads, in order: the newest checkpoint, then the segments after it.
    private func replayFiles() throws -> [String] {
        let checkpoint = try checkpoints().last
        var files: [String] = checkpoint.map { [path(ofCheckpoint: $0)] } ?? []
        files += try segments().filter { $0 > (checkpoint ?? 0) }.map(path(ofSegment:))
        return files
    }

    /// Reads every record in order, handing each to `apply`. A damaged record ends the log there:
    /// its file is cut at the last good record and later files are removed, so what stays on disk is
    /// exactly what was replayed. Then a fresh segment is opened for writing.
    func replay(_ apply: (WALRecord) throws -> Void) throws -> ReplayReport {
        var report = ReplayReport()
        // A checkpoint interrupted before its rename is incomplete by definition.
        for name in try listDirectory() where name.hasPrefix("checkpoint.") && name.hasSuffix(".tmp") {
            unlink(directory + "/" + name)
        }
        let files = try replayFiles()
        for (position, path) in files.enumerated() {
            report.segments += 1
            let damage = try Self.read(path) { record in
                try apply(record)
                report.records += 1
            }
            if let damage {
                report.truncatedBytes = try cut(path, at: damage.offset, later: Array(files[(position + 1)...]))
                logger.warning("WAL damaged; dropped everything after the last good record", metadata: [
                    "file": "\(path)", "offset": "\(damage.offset)", "reason": "\(damage.reason)",
                    "dropped_bytes": "\(report.truncatedBytes)",
                ])
                break
            }
        }
        let last = max(try segments().last ?? 0, try checkpoints().last ?? 0)
        try openSegment(number: last + 1)
        return report
    }

    /// The records of one file, and where and why reading stopped early if it did.
    static func read(_ path: String) throws -> (records: [WALRecord], damage: (offset: Int, reason: String)?) {
        var records: [WALRecord] = []
        let damage = try read(path) { records.append($0) }
        return (records, damage)
    }

    /// Hands each record of one file to `apply` as it is decoded, so replay never holds more than one
    /// record; returns where and why reading stopped early, if it did.
    static func read(_ path: String, _ apply: (WALRecord) throws -> Void) throws -> (offset: Int, reason: String)? {
        // Record by record with pread: memory holds one record, not a 128 MiB segment.
        let (fd, size) = try FileIO.openForReading(path)
        defer { close(fd) }
        func readExactly(_ count: Int, at offset: Int) throws -> ByteBuffer? {
            guard offset + count <= size else { return nil }
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            let got = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
                var done = 0
                while done < count {
                    let n = pread(fd, target.baseAddress! + done, count - done, off_t(offset + done))
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw CoreError.io(operation: "read", path: path, errno: errno)
                    }
                    if n == 0 { break }
                    done += n
                }
                return done
            }
            return got == count ? buffer : nil
        }
        guard let header = try readExactly(magic.count, at: 0),
              Array(header.readableBytesView.prefix(6)) == Array(magic[0..<6]),
              readableVersions.contains(header.getInteger(at: 6, as: UInt8.self)!)
        else { return (0, "bad file header") }
        let version = header.getInteger(at: 6, as: UInt8.self)!
        var offset = magic.count
        while offset < size {
            guard var frame = try readExactly(recordHeaderSize, at: offset),
                  let kind = frame.readInteger(as: UInt8.self),
                  let length = frame.readInteger(endianness: .little, as: UInt32.self),
                  let checksum = frame.readInteger(endianness: .little, as: UInt32.self),
                  var payload = try readExactly(Int(length), at: offset + recordHeaderSize)
            else { return (offset, "torn record") }
            guard CRC32C.checksum(payload, continuing: CRC32C.checksum([kind])) == checksum else {
                return (offset, "checksum mismatch")
            }
            do {
                if kind & compressedFlag != 0 {
                    guard version >= 2 else { return (offset, "compressed record in a version 1 file") }
                    payload = try Snappy.uncompress(payload, maxDecodedSize: maxPayload)
                }
                let record = try WALRecord.decode(kind: kind & ~compressedFlag, payload: &payload)
                try apply(record)
            } catch let error as CoreError {
                return (offset, "\(error)")
            }
            offset += recordHeaderSize + Int(length)
        }
        return nil
    }

    /// Truncates `path` at `offset` (removing it if nothing valid remains) and removes `later` files.
    /// Returns the bytes dropped.
    private func cut(_ path: String, at offset: Int, later: [String]) throws -> Int {
        var dropped = 0
        for file in later {
            var info = stat()
            if stat(file, &info) == 0 { dropped += Int(info.st_size) }
            unlink(file)
        }
        var info = stat()
        if stat(path, &info) == 0 { dropped += Int(info.st_size) - offset }
        if offset <= Self.magic.count {
            unlink(path)
        } else {
            guard truncate(path, off_t(offset)) == 0 else { throw CoreError.io(operation: "truncate", path: path, errno: errno) }
        }
        try FileIO.syncDirectory(directory)
        return dropped
    }

    /// A record with its header: type, length, checksum, payload. Payloads of 64 bytes and more are
    /// snappy-compressed when that makes them smaller (sample records shrink to about half).
    static func frame(_ record: WALRecord) -> [UInt8] {
        var payload = ByteBuffer()
        record.encodePayload(into: &payload)
        var kind = record.kind.rawValue
        if payload.readableBytes >= 64 {
            let compressed = Snappy.compress(payload)
            if compressed.readableBytes < payload.readableBytes {
                payload = compressed
                kind |= compressedFlag
            }
        }
        var framed = ByteBuffer()
        framed.writeInteger(kind)
        framed.writeInteger(UInt32(payload.readableBytes), endianness: .little)
        framed.writeInteger(CRC32C.checksum(payload, continuing: CRC32C.checksum([kind])), endianness: .little)
        framed.writeImmutableBuffer(payload)
        return Array(framed.readableBytesView)
    }

    func openSegment(number: Int) throws {
        let path = path(ofSegment: number)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CoreError.io(operation: "open", path: path, errno: errno) }
        try FileIO.writeAll(fd: fd, Self.magic, path: path)
        guard fsync(fd) == 0 else { throw CoreError.io(operation: "fsync", path: path, errno: errno) }
        try FileIO.syncDirectory(directory)
        writer.withLock { state in
            if state.fd >= 0 {
                // A closed segment holds no buffered commit that is not on disk.
                if state.unsynced { fdatasync(state.fd) }
                close(state.fd)
            }
            state = Writer(fd: fd, segment: number, size: Self.magic.count)
        }
    }

    /// Appends `records` and, with `sync`, fsyncs (with everything written before). Blocking.
    func log(_ records: [WALRecord], sync: Bool = true) throws {
        guard !records.isEmpty else { return }
        var bytes: [UInt8] = []
        for record in records { bytes += Self.frame(record) }
        let needsNewSegment = writer.withLock { $0.size > Self.magic.count && $0.size + bytes.count > segmentSize }
        if needsNewSegment {
            let next = writer.withLock { $0.segment } + 1
            try openSegment(number: next)
        }
        try writer.withLock { state in
            guard state.fd >= 0 else { throw CoreError.io(operation: "write", path: directory, errno: EBADF) }
            let path = path(ofSegment: state.segment)
            do {
                try FileIO.writeAll(fd: state.fd, bytes, path: path)
            } catch {
                // Never leave half a record behind: replay would stop there and hide later records.
                _ = ftruncate(state.fd, off_t(state.size))
                throw error
            }
            state.size += bytes.count
            guard sync else {
                state.unsynced = true
                return
            }
            guard fdatasync(state.fd) == 0 else { throw CoreError.io(operation: "fdatasync", path: path, errno: errno) }
            state.unsynced = false
        }
    }

    /// Syncs what buffered commits wrote since the last sync. Blocking.
    func syncBuffered() throws {
        try writer.withLock { state in
            guard state.unsynced, state.fd >= 0 else { return }
            guard fdatasync(state.fd) == 0 else { throw CoreError.io(operation: "fdatasync", path: path(ofSegment: state.segment), errno: errno) }
            state.unsynced = false
        }
    }

    /// Bytes taken by segments and checkpoints.
    func sizeInBytes() -> Int {
        ((try? listDirectory()) ?? []).reduce(0) { total, name in
            var info = stat()
            return stat(directory + "/" + name, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG ? total + Int(info.st_size) : total
        }
    }

    /// Syncs and closes the open segment; later `log` calls fail.
    func shutdown() {
        writer.withLock { state in
            if state.fd >= 0 {
                fsync(state.fd)
                close(state.fd)
                state.fd = -1
            }
        }
    }
}
