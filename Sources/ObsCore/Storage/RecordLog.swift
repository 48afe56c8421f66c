import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a record log stores: records that encode to a payload under a one-byte kind.
public protocol LogRecord {
    /// Six bytes naming the log, then the format version and a flags byte; the first bytes of
    /// every segment and checkpoint.
    static var logMagic: [UInt8] { get }
    /// Versions (byte 6 of the magic) this code still reads.
    static var readableVersions: Set<UInt8> { get }
    /// The first version whose records may be compressed.
    static var firstCompressedVersion: UInt8 { get }
    /// Whether the writer snappy-compresses payloads (readers accept both either way).
    static var compressesPayloads: Bool { get }
    /// The first version whose checkpoints may hold zstd-compressed records; nil for none.
    static var firstZstdVersion: UInt8? { get }
    /// The kind byte, below 0x40 (the two high bits mark a compressed payload).
    var kindByte: UInt8 { get }
    /// Appends the payload (without framing) to `buffer`.
    func encodePayload(into buffer: inout ByteBuffer)
    /// Decodes a payload; throws `CoreError` on a malformed one.
    static func decode(kind: UInt8, payload: inout ByteBuffer) throws -> Self
}

extension LogRecord {
    public static var firstZstdVersion: UInt8? { nil }
}

/// A write-ahead log: numbered segment files of checksummed, optionally snappy-compressed records,
/// plus checkpoints that replace closed segments. `log` returns after the records are fsynced
/// (or, with `sync: false`, handed to the kernel). Replay reads every file in order and cuts a torn
/// or corrupt tail instead of failing. Framing in `MetricsTSDB/WAL/FORMAT.md`; the record kinds
/// belong to each store.
///
/// Thread-safe. `log` blocks on disk I/O: call it from a thread that may block.
public final class RecordLog<Record: LogRecord>: Sendable {
    public static var magic: [UInt8] { Record.logMagic }
    /// Set in a record's type byte when its payload is snappy-compressed.
    static var compressedFlag: UInt8 { 0x80 }
    /// Set in a record's type byte when its payload is a zstd frame (checkpoints of logs whose
    /// format allows it: written once, read on every start, so the better ratio pays).
    static var zstdFlag: UInt8 { 0x40 }
    /// Whether this build writes zstd records into checkpoints.
    static var writesZstd: Bool { Record.firstZstdVersion.map { Record.logMagic[6] >= $0 } ?? false }
    /// Largest decoded payload accepted on replay.
    static var maxPayload: Int { 256 << 20 }
    public static var recordHeaderSize: Int { 9 }

    public let directory: String
    public let segmentSize: Int
    private let writer = Mutex(Writer())

    struct Writer {
        var fd: Int32 = -1
        var segment = 0
        var size = 0
        /// Buffered commits wrote since the last sync.
        var unsynced = false
    }

    public struct ReplayReport: Equatable, Sendable {
        public var segments = 0
        public var records = 0
        public var truncatedBytes = 0
        /// The damaged file, where its good records end and why, when replay cut it.
        public var damage: Damage?

        public init() {}
    }

    public struct Damage: Equatable, Sendable {
        public var file: String
        public var offset: Int
        public var reason: String
    }

    public init(directory: String, segmentSize: Int = 128 << 20) throws {
        try FileIO.makeDirectories(directory)
        self.directory = directory
        self.segmentSize = segmentSize
    }

    deinit {
        writer.withLock { if $0.fd >= 0 { close($0.fd) } }
    }

    /// Segment numbers present on disk, ascending.
    public func segments() throws -> [Int] {
        try listDirectory().compactMap { name in
            guard name.count == 8, let number = Int(name), number > 0 else { return nil }
            return number
        }.sorted()
    }

    public func path(ofSegment number: Int) -> String {
        let digits = String(number)
        return directory + "/" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// The newest checkpoint (`checkpoint.NNNNNNNN`, covering segments up to NNNNNNNN), if any.
    public func checkpoints() throws -> [Int] {
        try listDirectory().compactMap { name in
            guard name.hasPrefix("checkpoint."), name.count == 19 else { return nil }
            return Int(name.dropFirst(11))
        }.sorted()
    }

    public func path(ofCheckpoint number: Int) -> String {
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
    public func replay(_ apply: (Record) throws -> Void) throws -> ReplayReport {
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
                report.damage = Damage(file: path, offset: damage.offset, reason: damage.reason)
                break
            }
        }
        let last = max(try segments().last ?? 0, try checkpoints().last ?? 0)
        try openSegment(number: last + 1)
        return report
    }

    /// The records of one file, and where and why reading stopped early if it did.
    public static func read(_ path: String) throws -> (records: [Record], damage: (offset: Int, reason: String)?) {
        var records: [Record] = []
        let damage = try read(path) { records.append($0) }
        return (records, damage)
    }

    /// Hands each record of one file to `apply` as it is decoded, so replay never holds more than one
    /// record; returns where and why reading stopped early, if it did.
    public static func read(_ path: String, _ apply: (Record) throws -> Void) throws -> (offset: Int, reason: String)? {
        try read(path, from: 0) { record, _ in try apply(record) }
    }

    /// Like `read`, from the record at `start` (0 or `magic.count` for the first), handing each
    /// record with the offset just past it: what a reader following a segment being written uses
    /// to go on later where it stopped. A record cut short at the end reads as "torn record".
    public static func read(_ path: String, from start: Int, _ apply: (Record, _ end: Int) throws -> Void) throws -> (offset: Int, reason: String)? {
        // Record by record with pread: memory holds one record, not a 128 MiB segment.
        let (fd, size) = try FileIO.openForReading(path)
        defer { close(fd) }
        func readExactly(_ count: Int, at offset: Int) throws -> ByteBuffer? {
            guard offset + count <= size else { return nil }
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            let got = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
                try FileIO.readFully(fd: fd, into: UnsafeMutableRawBufferPointer(rebasing: target[..<count]), at: offset, path: path)
            }
            return got == count ? buffer : nil
        }
        guard let header = try readExactly(magic.count, at: 0),
              Array(header.readableBytesView.prefix(6)) == Array(magic[0..<6])
        else { return (0, "bad file header") }
        let version = header.getInteger(at: 6, as: UInt8.self)!
        // A newer build's file is not damage: reading on would truncate or remove it.
        if let newest = Record.readableVersions.max(), version > newest {
            throw CoreError.newerFormat(path: path, version: version, newestReadable: newest)
        }
        guard Record.readableVersions.contains(version) else { return (0, "bad file header") }
        var offset = max(start, magic.count)
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
                    guard version >= Record.firstCompressedVersion else {
                        return (offset, "compressed record in a version \(version) file")
                    }
                    payload = try Snappy.uncompress(payload, maxDecodedSize: maxPayload)
                } else if kind & zstdFlag != 0 {
                    guard let first = Record.firstZstdVersion, version >= first else {
                        return (offset, "zstd record in a version \(version) file")
                    }
                    payload = ByteBuffer(bytes: try payload.withUnsafeReadableBytes { try Zstd.decompress($0, maxDecodedSize: maxPayload) })
                }
                let record = try Record.decode(kind: kind & ~(compressedFlag | zstdFlag), payload: &payload)
                try apply(record, offset + recordHeaderSize + Int(length))
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
    public static func frame(_ record: Record) -> [UInt8] {
        var framed = ByteBuffer()
        append(record, to: &framed)
        return Array(framed.readableBytesView)
    }

    /// A record framed for a checkpoint: a zstd frame where the format allows it and that is
    /// smaller, otherwise as `frame` does.
    static func checkpointFrame(_ record: Record) -> [UInt8] {
        var framed = ByteBuffer()
        append(record, to: &framed, zstd: writesZstd)
        return Array(framed.readableBytesView)
    }

    /// Appends `record` with its header to `buffer`, encoding the payload in place (no copies of it
    /// unless it is compressed). Payloads of 64 bytes and more are compressed when that makes them
    /// smaller: with zstd when `zstd` is set (checkpoints), else with snappy if the log's records are.
    static func append(_ record: Record, to buffer: inout ByteBuffer, zstd: Bool = false) {
        let headerAt = buffer.writerIndex
        buffer.writeRepeatingByte(0, count: recordHeaderSize)
        let payloadAt = buffer.writerIndex
        record.encodePayload(into: &buffer)
        var kind = record.kindByte
        var length = buffer.writerIndex - payloadAt
        if zstd && length >= 64 {
            let compressed = buffer.withUnsafeReadableBytes { bytes in
                Zstd.compress(UnsafeRawBufferPointer(rebasing: bytes[(payloadAt - buffer.readerIndex)...]), level: 3)
            }
            if compressed.count < length {
                buffer.moveWriterIndex(to: payloadAt)
                buffer.writeBytes(compressed)
                length = compressed.count
                kind |= zstdFlag
            }
        }
        if kind == record.kindByte && Record.compressesPayloads && length >= 64 {
            let compressed = Snappy.compress(buffer.getSlice(at: payloadAt, length: length)!)
            if compressed.readableBytes < length {
                buffer.moveWriterIndex(to: payloadAt)
                buffer.writeImmutableBuffer(compressed)
                length = compressed.readableBytes
                kind |= compressedFlag
            }
        }
        let checksum = buffer.withUnsafeReadableBytes { bytes in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[(payloadAt - buffer.readerIndex)..<(payloadAt - buffer.readerIndex + length)]),
                            continuing: CRC32C.checksum([kind]))
        }
        buffer.setInteger(kind, at: headerAt)
        buffer.setInteger(UInt32(length), at: headerAt + 1, endianness: .little)
        buffer.setInteger(checksum, at: headerAt + 5, endianness: .little)
    }

    /// The segment being written.
    public var currentSegment: Int { writer.withLock { $0.segment } }

    public func openSegment(number: Int) throws {
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
    public func log(_ records: [Record], sync: Bool = true) throws {
        guard !records.isEmpty else { return }
        var bytes = ByteBuffer()
        for record in records { Self.append(record, to: &bytes) }
        let needsNewSegment = writer.withLock { $0.size > Self.magic.count && $0.size + bytes.readableBytes > segmentSize }
        if needsNewSegment {
            let next = writer.withLock { $0.segment } + 1
            try openSegment(number: next)
        }
        try writer.withLock { state in
            guard state.fd >= 0 else { throw CoreError.io(operation: "write", path: directory, errno: EBADF) }
            let path = path(ofSegment: state.segment)
            do {
                try bytes.withUnsafeReadableBytes { try FileIO.writeAll(fd: state.fd, $0, path: path) }
            } catch {
                // Never leave half a record behind: replay would stop there and hide later records.
                _ = ftruncate(state.fd, off_t(state.size))
                throw error
            }
            state.size += bytes.readableBytes
            guard sync else {
                state.unsynced = true
                return
            }
            guard fdatasync(state.fd) == 0 else { throw CoreError.io(operation: "fdatasync", path: path, errno: errno) }
            state.unsynced = false
        }
    }

    /// Where the next record will be written: what `rollback(to:)` returns to.
    public struct Mark: Sendable, Equatable {
        public let segment: Int
        public let size: Int
    }

    public func mark() -> Mark {
        writer.withLock { Mark(segment: $0.segment, size: $0.size) }
    }

    /// Removes what was appended since `mark` (the caller makes sure nothing else was): a log
    /// that moved to a new segment meanwhile empties that segment. Blocking.
    public func rollback(to mark: Mark) throws {
        try writer.withLock { state in
            let keep = state.segment == mark.segment ? mark.size : Self.magic.count
            guard state.fd >= 0, keep <= state.size else { return }
            guard ftruncate(state.fd, off_t(keep)) == 0 else {
                throw CoreError.io(operation: "ftruncate", path: path(ofSegment: state.segment), errno: errno)
            }
            state.size = keep
        }
    }

    /// Syncs what buffered commits wrote since the last sync. Blocking.
    public func syncBuffered() throws {
        try writer.withLock { state in
            guard state.unsynced, state.fd >= 0 else { return }
            guard fdatasync(state.fd) == 0 else { throw CoreError.io(operation: "fdatasync", path: path(ofSegment: state.segment), errno: errno) }
            state.unsynced = false
        }
    }

    /// Bytes taken by segments and checkpoints.
    public func sizeInBytes() -> Int {
        ((try? listDirectory()) ?? []).reduce(0) { total, name in
            var info = stat()
            return stat(directory + "/" + name, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG ? total + Int(info.st_size) : total
        }
    }

    /// Replaces every closed segment (and the previous checkpoint) with one checkpoint holding what
    /// `keep` returns for each of their records (nil drops a record), in the original order. Appends
    /// continue meanwhile in a fresh segment. Records stream from the sources to the checkpoint file,
    /// so memory stays at one record whatever the size of the log. Blocking.
    /// With `through`, only the segments up to that number go into the checkpoint; later closed
    /// segments stay as they are (a reader still needs them).
    /// `leading` records go first: a store that snapshots its state passes it there and keeps
    /// little or nothing of the old records. Segments from `retaining` on stay on disk even when
    /// the checkpoint covers them (readers still need them); replay skips them, as it skips every
    /// segment a checkpoint covers.
    public func checkpoint(through limit: Int? = nil, leading: [Record] = [], retaining retained: Int? = nil,
                           _ keep: (Record) throws -> Record?) throws {
        let current = currentSegment
        try openSegment(number: current + 1)
        let previous = try checkpoints().last
        let last = min(current, limit ?? current)
        guard last > (previous ?? 0) else { return }
        var sources: [String] = previous.map { [path(ofCheckpoint: $0)] } ?? []
        let present = try segments()
        sources += present.filter { $0 <= last && $0 > (previous ?? 0) }.map(path(ofSegment:))

        let checkpoint = try AtomicFileWriter(path: path(ofCheckpoint: last))
        try checkpoint.write(Self.magic)
        for record in leading { try checkpoint.write(Self.checkpointFrame(record)) }
        for source in sources {
            // Closed segments were replayed (and cut if damaged) before; keep what reads cleanly.
            _ = try Self.read(source) { record in
                if let kept = try keep(record) { try checkpoint.write(Self.checkpointFrame(kept)) }
            }
        }
        try checkpoint.commit()
        for number in present where number <= last && number < (retained ?? .max) { unlink(path(ofSegment: number)) }
        if let previous { unlink(path(ofCheckpoint: previous)) }
        try FileIO.syncDirectory(directory)
    }

    /// Starts a new segment; returns the number of the one it closed. Blocking.
    public func rotate() throws -> Int {
        let current = currentSegment
        try openSegment(number: current + 1)
        return current
    }

    /// Removes the segments up to `number` and every checkpoint: for stores that persist what those
    /// held elsewhere. Blocking.
    public func removeSegments(through number: Int) throws {
        for segment in try segments() where segment <= number { unlink(path(ofSegment: segment)) }
        for checkpoint in try checkpoints() where checkpoint <= number { unlink(path(ofCheckpoint: checkpoint)) }
        try FileIO.syncDirectory(directory)
    }

    /// Syncs and closes the open segment; later `log` calls fail.
    public func shutdown() {
        writer.withLock { state in
            if state.fd >= 0 {
                fsync(state.fd)
                close(state.fd)
                state.fd = -1
            }
        }
    }
}
