#if canImport(Glibc)
import Glibc
#endif
import ObsCore
import Synchronization

/// A forwarder's position on disk, rewritten in place: `segment:offset` padded with spaces to a
/// fixed slot at the start of the file, overwritten with one `pwrite` and synced. Saving needs no new
/// disk blocks, so it works on a full disk, where writing a new file and renaming it over the old
/// one (how other state files are saved) fails; and the forwarder must keep moving there, since
/// what it delivers is what frees the space. The slot lies within one disk sector, which disks
/// write whole; should it still read as no position, readers start from the oldest data they hold
/// (sending some twice rather than losing any). Files written the old way (the bare text) read
/// the same.
final class PositionFile: Sendable {
    static let slot = 64
    let path: String
    private let fd: Mutex<Int32>

    /// What the file holds.
    enum Saved: Equatable {
        /// Nothing saved yet (a new queue).
        case none
        case position(WALPosition)
        /// Text that is no position: the reader must start from the oldest data it still has.
        case unreadable
    }

    /// Opens or creates the file, giving it its full slot now, while the disk has room.
    init(path: String) throws {
        self.path = path
        try FileIO.makeDirectories(FileIO.parent(of: path))
        let created = FileIO.fileSize(path) == 0
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw CoreError.io(operation: "open", path: path, errno: errno) }
        fd = Mutex(descriptor)
        if created {
            try write(WALPosition(segment: 0, offset: 0), allowEmpty: true)
            try FileIO.syncDirectory(FileIO.parent(of: path))
        } else if FileIO.fileSize(path) < Self.slot, case let .position(saved) = read() {
            // Written the old way: padded to its slot now. An unreadable one stays as it is.
            try write(saved)
        }
    }

    deinit { fd.withLock { _ = close($0) } }

    /// Reads at most two slots' worth: a longer file is no position either.
    func read() -> Saved {
        var bytes = [UInt8](repeating: 0, count: 2 * Self.slot)
        let count = fd.withLock { fd in bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) } }
        guard count > 0 else { return count == 0 ? .none : .unreadable }
        guard let text = String(validating: bytes[..<count], as: UTF8.self) else { return .unreadable }
        if text.allSatisfy({ $0 == " " || $0 == "\n" }) { return .none }
        return WALPosition(text).map(Saved.position) ?? .unreadable
    }

    /// Saves `position` durably. Blocking.
    func write(_ position: WALPosition) throws { try write(position, allowEmpty: false) }

    /// With `allowEmpty`, a slot of spaces: "no position yet".
    private func write(_ position: WALPosition, allowEmpty: Bool) throws {
        var bytes = allowEmpty ? [] : Array(position.description.utf8)
        bytes += [UInt8](repeating: UInt8(ascii: " "), count: Self.slot - 1 - bytes.count) + [UInt8(ascii: "\n")]
        try fd.withLock { fd in
            let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            guard written == bytes.count else { throw CoreError.io(operation: "pwrite", path: path, errno: written < 0 ? errno : EIO) }
            guard fdatasync(fd) == 0 else { throw CoreError.io(operation: "fdatasync", path: path, errno: errno) }
        }
    }
}
