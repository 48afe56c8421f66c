import ObsCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One open file being tailed: where it has been read to, the bytes after its last newline, and
/// the per-stream assemblers. Owned by the tailer's loop.
final class TailedFile {
    static let fingerprintLength = 256
    static let chunkSize = 1 << 20

    let path: String
    let input: Int
    let fd: Int32
    let device: UInt64
    let inode: UInt64
    /// A hash of the first `fingerprintLength` bytes, 0 until the file is that long.
    var fingerprint: UInt64 = 0
    /// The next byte to read.
    var readOffset: Int64
    /// Bytes read after the last newline.
    var buffer: [UInt8] = []
    var format: LineFormat?
    /// Renamed or deleted: read to the end, then closed.
    var draining = false
    var assemblers: [String: EntryAssembler] = [:]
    /// Where each stream's unfinished entry starts in the file: the position never passes it.
    var pendingStarts: [String: Int64] = [:]
    var labelsByStream: [String: Labels] = [:]
    /// The position last committed to the store (or the one the file was opened at).
    var committedOffset: Int64
    /// The position must be committed even if the offset did not move (a new identity).
    var needsCommit = true
    private var ownCounters: (bytes: Counter, lines: Counter)?

    /// This file's read counters, looked up once.
    func counters(_ all: TailCounters) -> (bytes: Counter, lines: Counter) {
        if let ownCounters { return ownCounters }
        let made = (all.bytesRead.labels(path), all.lines.labels(path))
        ownCounters = made
        return made
    }

    init(path: String, input: Int, fd: Int32, device: UInt64, inode: UInt64, offset: Int64) {
        self.path = path
        self.input = input
        self.fd = fd
        self.device = device
        self.inode = inode
        readOffset = offset
        committedOffset = offset
    }

    deinit { close(fd) }

    /// Opens `path` and reads its identity; nil when it is not a readable regular file. `name` is
    /// the tailed path it stands for, when it was found under another name (a renamed file).
    static func open(_ path: String, as name: String? = nil, input: Int,
                     offset: (_ device: UInt64, _ inode: UInt64, _ size: Int64) -> Int64) -> TailedFile? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            return nil
        }
        let device = UInt64(info.st_dev), inode = UInt64(info.st_ino)
        let file = TailedFile(path: name ?? path, input: input, fd: fd, device: device, inode: inode,
                              offset: offset(device, inode, Int64(info.st_size)))
        file.fingerprint = file.currentFingerprint() ?? 0
        return file
    }

    var size: Int64 {
        var info = stat()
        return fstat(fd, &info) == 0 ? Int64(info.st_size) : 0
    }

    /// The hash of the file's first bytes as they are now, nil while it is shorter than that.
    func currentFingerprint() -> UInt64? {
        Self.fingerprint(fd: fd)
    }

    static func fingerprint(fd: Int32) -> UInt64? {
        var bytes = [UInt8](repeating: 0, count: fingerprintLength)
        let read = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, fingerprintLength, 0) }
        guard read == fingerprintLength else { return nil }
        return fingerprint(of: bytes)
    }

    /// FNV-1a of a file's first bytes: stable across runs, which the positions need; never 0,
    /// which means "not known yet".
    static func fingerprint(of bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        return hash == 0 ? 1 : hash
    }

    /// Reads up to one chunk from `readOffset`; returns the bytes (empty at the end of the file).
    func readChunk(from source: Int32? = nil) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Self.chunkSize) { buffer, count in
            let n = pread(source ?? fd, buffer.baseAddress!, Self.chunkSize, off_t(readOffset))
            count = max(0, n)
        }
    }

    /// Where a restart must read from so that nothing not yet handed to the store is skipped.
    var safeOffset: Int64 {
        let unread = readOffset - Int64(buffer.count)
        return pendingStarts.values.reduce(unread) { min($0, $1) }
    }

    /// Forgets everything read since the last commit, which failed: reading resumes there.
    func rewind() {
        readOffset = committedOffset
        buffer = []
        assemblers = [:]
        pendingStarts = [:]
    }

    var position: TailPosition {
        TailPosition(path: path, device: device, inode: inode, fingerprint: fingerprint, offset: safeOffset)
    }
}
