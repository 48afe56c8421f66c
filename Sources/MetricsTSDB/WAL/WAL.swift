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
    static let magic: [UInt8] = Array("OBSWAL".utf8) + [1, 0]  // magic, format version 1, flags
    static let recordHeaderSize = 9

    let directory: String
    let segmentSize: Int
    private let logger: Logger
    private let writer = Mutex(Writer())

    struct Writer {
        var fd: Int32 = -1
        var segment = 0
        var size = 0
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
        guard let dir = opendir(directory) else { throw CoreError.io(operation: "opendir", path: directory, errno: errno) }
        defer { closedir(dir) }
        var numbers: [Int] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.count == 8, let number = Int(name), number > 0 { numbers.append(number) }
        }
        return numbers.sorted()
    }

    func path(ofSegment number: Int) -> String {
        let digits = String(number)
        return directory + "/" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// Reads every record in order, handing each to `apply`. A damaged record ends the log there:
    /// the segment is cut at the last good record and later segments are removed, so what stays on
    /// disk is exactly what was replayed. Then a fresh segment is opened for writing.
    func replay(_ apply: (WALRecord) throws -> Void) throws -> ReplayReport {
        var report = ReplayReport()
        let numbers = try segments()
        var damagedAt: (segment: Int, offset: Int, reason: String)?
        for number in numbers {
            let path = path(ofSegment: number)
            let bytes = try FileIO.readFile(path) ?? []
            report.segments += 1
            var buffer = ByteBuffer(bytes: bytes)
            guard bytes.count >= Self.magic.count, Array(bytes[0..<Self.magic.count]) == Self.magic else {
                damagedAt = (number, 0, "bad segment header")
                break
            }
            buffer.moveReaderIndex(forwardBy: Self.magic.count)
            while buffer.readableBytes > 0 {
                let start = buffer.readerIndex
                guard let kind = buffer.readInteger(as: UInt8.self),
                      let length = buffer.readInteger(endianness: .little, as: UInt32.self),
                      let checksum = buffer.readInteger(endianness: .little, as: UInt32.self),
                      var payload = buffer.readSlice(length: Int(length))
                else {
                    damagedAt = (number, start, "torn record")
                    break
                }
                let actual = CRC32C.checksum(payload, continuing: CRC32C.checksum([kind]))
                guard actual == checksum else {
                    damagedAt = (number, start, "checksum mismatch")
                    break
                }
                do {
                    try apply(try WALRecord.decode(kind: kind, payload: &payload))
                } catch let error as CoreError {
                    damagedAt = (number, start, "\(error)")
                    break
                }
                report.records += 1
            }
            if damagedAt != nil { break }
        }
        if let damage = damagedAt {
            report.truncatedBytes = try cut(at: damage.segment, offset: damage.offset, after: numbers)
            logger.warning("WAL damaged; dropped everything after the last good record", metadata: [
                "segment": "\(damage.segment)", "offset": "\(damage.offset)", "reason": "\(damage.reason)",
                "dropped_bytes": "\(report.truncatedBytes)",
            ])
        }
        try openSegment(number: (try segments().last ?? 0) + 1)
        return report
    }

    /// Truncates segment `number` at `offset` (removing it if nothing valid remains) and removes every
    /// later segment. Returns the bytes dropped.
    private func cut(at number: Int, offset: Int, after numbers: [Int]) throws -> Int {
        var dropped = 0
        for later in numbers where later > number {
            let path = path(ofSegment: later)
            var info = stat()
            if stat(path, &info) == 0 { dropped += Int(info.st_size) }
            unlink(path)
        }
        let path = path(ofSegment: number)
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

    private func openSegment(number: Int) throws {
        let path = path(ofSegment: number)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CoreError.io(operation: "open", path: path, errno: errno) }
        try FileIO.writeAll(fd: fd, Self.magic, path: path)
        guard fsync(fd) == 0 else { throw CoreError.io(operation: "fsync", path: path, errno: errno) }
        try FileIO.syncDirectory(directory)
        writer.withLock { state in
            if state.fd >= 0 { close(state.fd) }
            state = Writer(fd: fd, segment: number, size: Self.magic.count)
        }
    }

    /// Appends `records` and fsyncs. Blocking.
    func log(_ records: [WALRecord]) throws {
        guard !records.isEmpty else { return }
        var buffer = ByteBufferAllocator().buffer(capacity: 4096)
        var payload = ByteBufferAllocator().buffer(capacity: 4096)
        for record in records {
            payload.clear()
            record.encodePayload(into: &payload)
            let kind = record.kind.rawValue
            buffer.writeInteger(kind)
            buffer.writeInteger(UInt32(payload.readableBytes), endianness: .little)
            buffer.writeInteger(CRC32C.checksum(payload, continuing: CRC32C.checksum([kind])), endianness: .little)
            buffer.writeImmutableBuffer(payload)
        }
        let bytes = Array(buffer.readableBytesView)
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
            guard fdatasync(state.fd) == 0 else { throw CoreError.io(operation: "fdatasync", path: path, errno: errno) }
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
