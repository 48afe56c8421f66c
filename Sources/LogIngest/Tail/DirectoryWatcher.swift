#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// inotify on the directories being tailed, so the tailer wakes as soon as a file is written,
/// created or renamed instead of at its next poll. Only says *that* something happened (and
/// whether files appeared or moved); the tailer then looks for itself. Non-blocking; one owner.
final class DirectoryWatcher {
    private let fd: Int32
    private var watched = Set<String>()

    struct Events {
        /// Something was written.
        var modified = false
        /// A file was created, moved in or out, or deleted: the patterns should be expanded again.
        var namesChanged = false
    }

    init?() {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
    }

    deinit { close(fd) }

    /// Starts watching `directory` (once); false when it cannot be watched.
    @discardableResult
    func watch(_ directory: String) -> Bool {
        guard !watched.contains(directory) else { return true }
        let mask = UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_CLOSE_WRITE)
        guard inotify_add_watch(fd, directory, mask) >= 0 else { return false }
        watched.insert(directory)
        return true
    }

    /// Reads every pending event without waiting.
    func drain() -> Events {
        var events = Events()
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            guard count > 0 else { break }
            buffer.withUnsafeBytes { bytes in
                var offset = 0
                while offset + MemoryLayout<inotify_event>.size <= count {
                    let mask = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                    let nameLength = Int(bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                    if mask & UInt32(IN_MODIFY | IN_CLOSE_WRITE) != 0 { events.modified = true }
                    if mask & UInt32(IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_Q_OVERFLOW) != 0 {
                        events.namesChanged = true
                    }
                    offset += MemoryLayout<inotify_event>.size + nameLength
                }
            }
        }
        return events
    }
}
