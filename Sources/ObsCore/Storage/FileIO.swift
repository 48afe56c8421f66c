#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin, throwing wrappers over the POSIX calls the stores need for durable writes. Every failure
/// becomes `CoreError.io` naming the operation and path. Blocking: call from a thread that may block,
/// not from the cooperative pool's hot paths.
public enum FileIO {
    /// Writes `bytes` to `path` so that a crash at any instant leaves either the old file or the new
    /// one: write to `path.tmp`, fsync it, rename over `path`, fsync the directory.
    public static func writeAtomically(_ bytes: some Sequence<UInt8>, to path: String) throws {
        let writer = try AtomicFileWriter(path: path)
        try writer.write(Array(bytes))
        try writer.commit()
    }

    /// Opens `path` for reading and returns the descriptor (the caller closes it) and the file size.
    public static func openForReading(_ path: String) throws -> (fd: Int32, size: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CoreError.io(operation: "open", path: path, errno: errno) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            throw CoreError.io(operation: "fstat", path: path, errno: code)
        }
        return (fd, Int(info.st_size))
    }

    /// The file's size in bytes, 0 when it cannot be read.
    public static func fileSize(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    /// When the file was last written, in milliseconds since the epoch; nil when it cannot be read.
    public static func modificationTime(_ path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int64(info.st_mtim.tv_sec) * 1000 + Int64(info.st_mtim.tv_nsec) / 1_000_000
    }

    /// Reads a whole file; `nil` if it does not exist. Sized by `fstat` so a large file is read in one
    /// pass without regrowing the array; files that report no size (`/proc`) are read in chunks.
    public static func readFile(_ path: String) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw CoreError.io(operation: "open", path: path, errno: errno)
        }
        defer { close(fd) }
        var info = stat()
        let expected = fstat(fd, &info) == 0 ? Int(info.st_size) : 0
        var result = [UInt8](repeating: 0, count: max(expected, 64 * 1024))
        var filled = 0
        while true {
            if filled == result.count { result.append(contentsOf: repeatElement(0, count: result.count)) }
            let n = result.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CoreError.io(operation: "read", path: path, errno: errno)
            }
            if n == 0 { break }
            filled += n
        }
        result.removeSubrange(filled...)
        return result
    }

    /// Reads a whole text file (configuration, rules, tokens). A missing file is an error that names
    /// it, as Go's reads say it: `open /etc/x.yml: No such file or directory`.
    public static func readText(_ path: String) throws -> String {
        guard let bytes = try readFile(path) else { throw CoreError.io(operation: "open", path: path, errno: ENOENT) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw CoreError.corrupt(codec: path, detail: "not valid UTF-8 text")
        }
        return text
    }

    /// Creates `path` and any missing parents (mode 0755); succeeds if it already exists.
    public static func makeDirectories(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw CoreError.io(operation: "mkdir", path: prefix, errno: errno)
            }
            prefix += "/"
        }
        var info = stat()
        guard stat(path, &info) == 0 else { throw CoreError.io(operation: "stat", path: path, errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw CoreError.io(operation: "mkdir", path: path, errno: ENOTDIR)
        }
    }

    /// Names in a directory, `.` and `..` excluded.
    public static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw CoreError.io(operation: "opendir", path: path, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes a file or a directory with everything in it; succeeds if it does not exist.
    public static func removeTree(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw CoreError.io(operation: "stat", path: path, errno: errno)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in try listDirectory(path) { try removeTree(path + "/" + name) }
            guard rmdir(path) == 0 else { throw CoreError.io(operation: "rmdir", path: path, errno: errno) }
        } else {
            guard unlink(path) == 0 || errno == ENOENT else { throw CoreError.io(operation: "unlink", path: path, errno: errno) }
        }
    }

    /// Creates a hard link `path` to `source` (same file system): an instant, space-free copy of an
    /// immutable file.
    public static func link(_ source: String, to path: String) throws {
        guard Glibc.link(source, path) == 0 else { throw CoreError.io(operation: "link", path: path, errno: errno) }
    }

    /// fsyncs a directory so that entries created or renamed in it survive a crash.
    public static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw CoreError.io(operation: "open", path: path, errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw CoreError.io(operation: "fsync", path: path, errno: errno) }
    }

    /// Writes all of `bytes` to `fd`, retrying short writes and EINTR.
    public static func writeAll(fd: Int32, _ bytes: [UInt8], path: String) throws {
        try bytes.withUnsafeBytes { try writeAll(fd: fd, $0, path: path) }
    }

    public static func writeAll(fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < buffer.count {
            let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw CoreError.io(operation: "write", path: path, errno: errno)
            }
            offset += n
        }
    }

    /// Reads up to `target.count` bytes at `offset` with `pread`, retrying short reads and EINTR;
    /// returns how many were read (fewer only at the end of the file).
    public static func readFully(fd: Int32, into target: UnsafeMutableRawBufferPointer, at offset: Int, path: String) throws -> Int {
        var done = 0
        while done < target.count {
            let n = pread(fd, target.baseAddress! + done, target.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw CoreError.io(operation: "read", path: path, errno: errno)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// The directory part of a path as written, empty for a bare file name: what relative paths
    /// inside a file (`rule_files`) are resolved against.
    public static func directoryPart(of path: String) -> String {
        path.contains("/") ? parent(of: path) : ""
    }

    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
