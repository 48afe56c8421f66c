#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file that appears whole or not at all: bytes go to `<path>.tmp` (buffered, in as many
/// calls as the caller likes), and `commit` syncs it, renames it over `path` and syncs the directory.
/// Dropping the writer without committing removes the temporary file. One owner; blocking.
public final class AtomicFileWriter {
    public let path: String
    private let temporary: String
    private var fd: Int32
    private var pending: [UInt8] = []

    public init(path: String) throws {
        self.path = path
        temporary = path + ".tmp"
        fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CoreError.io(operation: "open", path: temporary, errno: errno) }
    }

    deinit {
        if fd >= 0 {
            close(fd)
            unlink(temporary)
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        pending += bytes
        if pending.count >= 1 << 20 { try flush() }
    }

    private func flush() throws {
        try FileIO.writeAll(fd: fd, pending, path: temporary)
        pending.removeAll(keepingCapacity: true)
    }

    public func commit() throws {
        try flush()
        guard fsync(fd) == 0 else { throw CoreError.io(operation: "fsync", path: temporary, errno: errno) }
        close(fd)
        fd = -1
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw CoreError.io(operation: "rename", path: path, errno: code)
        }
        try FileIO.syncDirectory(FileIO.parent(of: path))
    }
}
