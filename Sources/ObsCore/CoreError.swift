/// Errors raised by the shared codecs and storage helpers. Each case carries enough context to be
/// logged or returned to a client as is.
public enum CoreError: Error, Equatable, CustomStringConvertible, Sendable {
    /// Input that cannot be decoded: `codec` names the format, `detail` says what was wrong.
    case corrupt(codec: String, detail: String)
    /// Decoding would exceed the caller's bound. `claimed` is the size the input announced, when it did.
    case tooLarge(codec: String, limit: Int, claimed: Int?)
    /// A system call failed.
    case io(operation: String, path: String, errno: Int32)
    /// Another process holds the data directory's lock.
    case locked(path: String)
    /// The store (named) was closed; nothing more is accepted.
    case closed(String)
    /// A file of a format version newer than this build reads: left as it is, never repaired.
    case newerFormat(path: String, version: UInt8, newestReadable: UInt8)

    public var description: String {
        switch self {
        case let .corrupt(codec, detail):
            return "\(codec): corrupt input: \(detail)"
        case let .tooLarge(codec, limit, claimed?):
            return "\(codec): decoded size \(claimed) bytes exceeds the limit of \(limit) bytes"
        case let .tooLarge(codec, limit, nil):
            return "\(codec): decoded size exceeds the limit of \(limit) bytes"
        case let .io(operation, path, errno):
            return "\(operation) \(path): \(String(cString: strerror(errno)))"
        case let .locked(path):
            return "data directory \(path) is in use by another process (lock held on \(path)/lock)"
        case let .closed(store):
            return "\(store) is closed"
        case let .newerFormat(path, version, newest):
            return "\(path) is format version \(version), newer than this build reads (up to \(newest)); "
                + "it was written by a newer obs-agent, so it is left untouched: run that version or a later one"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
