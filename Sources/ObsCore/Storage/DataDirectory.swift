#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The daemon's data directory, held exclusively for the life of this value.
///
/// Opening creates the directory and takes an `flock` on `<path>/lock`, as Prometheus does, so two
/// daemons never write the same files. The kernel drops the lock when the process dies, including
/// on `kill -9`, so a crash never leaves a stale lock behind. Each signal's store lives in its own
/// subdirectory (`subdirectory(_:)`).
public final class DataDirectory: Sendable {
    public let path: String
    private let lockDescriptor: Int32

    public init(path: String) throws {
        let trimmed = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        try FileIO.makeDirectories(trimmed)
        let lockPath = trimmed + "/lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CoreError.io(operation: "open", path: lockPath, errno: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { throw CoreError.locked(path: trimmed) }
            throw CoreError.io(operation: "flock", path: lockPath, errno: code)
        }
        // The lock file records the owner's pid for people looking at a busy directory.
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.path = trimmed
        self.lockDescriptor = fd
    }

    deinit {
        flock(lockDescriptor, LOCK_UN)
        close(lockDescriptor)
    }

    /// `<path>/<name>`, created if missing.
    public func subdirectory(_ name: String) throws -> String {
        let full = path + "/" + name
        try FileIO.makeDirectories(full)
        return full
    }
}
