#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// The container of immutable store segments: an 8-byte magic (six name bytes, version, flags),
/// blocks appended one after another, an index, then a 24-byte footer (index offset u64, index
/// length u32, index CRC-32C u32, 8-byte trailer name), all little-endian. Stores put their own
/// block and index formats inside. Written atomically (`AtomicFileWriter`).
public enum BlockFile {
    public static let footerSize = 24

    /// Writes a block file: `magic`, then blocks as they come, then the index and footer on `finish`.
    public final class Writer {
        let writer: AtomicFileWriter
        let trailer: [UInt8]
        public private(set) var offset: Int

        public init(path: String, magic: [UInt8], trailer: [UInt8]) throws {
            precondition(magic.count == 8 && trailer.count == 8, "block file magic and trailer are 8 bytes")
            writer = try AtomicFileWriter(path: path)
            self.trailer = trailer
            try writer.write(magic)
            offset = magic.count
        }

        /// Appends a block; returns where it starts and its checksum.
        public func append(_ block: [UInt8]) throws -> (offset: Int, checksum: UInt32) {
            let start = offset
            try writer.write(block)
            offset += block.count
            return (start, CRC32C.checksum(block))
        }

        /// Writes the index and footer and commits the file; returns its size.
        public func finish(index: ByteBuffer) throws -> Int {
            let indexBytes = Array(index.readableBytesView)
            try writer.write(indexBytes)
            var footer = ByteBuffer()
            footer.writeInteger(UInt64(offset), endianness: .little)
            footer.writeInteger(UInt32(indexBytes.count), endianness: .little)
            footer.writeInteger(CRC32C.checksum(indexBytes), endianness: .little)
            footer.writeBytes(trailer)
            try writer.write(Array(footer.readableBytesView))
            try writer.commit()
            return offset + indexBytes.count + footerSize
        }
    }

    /// Why a block file cannot be read: the caller names the file in its own error.
    public struct Damage: Error, CustomStringConvertible {
        public var description: String

        public init(description: String) {
            self.description = description
        }
    }

    /// Checks the magic, footer and index checksum; returns the index and the file size. Blocking.
    public static func readIndex(path: String, magic: [UInt8], trailer: [UInt8]) throws -> (index: ByteBuffer, size: Int) {
        let (fd, size) = try FileIO.openForReading(path)
        defer { close(fd) }
        guard size >= magic.count + footerSize else { throw Damage(description: "file too short (\(size) bytes)") }
        guard try read(fd: fd, path: path, offset: 0, count: magic.count) == magic else { throw Damage(description: "bad header") }
        var footer = ByteBuffer(bytes: try read(fd: fd, path: path, offset: size - footerSize, count: footerSize))
        // The footer is untrusted until checked: an offset past the file (a truncated or damaged
        // file) must be refused before it is converted or added to.
        let rawOffset = footer.readInteger(endianness: .little, as: UInt64.self)!
        let indexLength = Int(footer.readInteger(endianness: .little, as: UInt32.self)!)
        let checksum = footer.readInteger(endianness: .little, as: UInt32.self)!
        guard Array(footer.readableBytesView) == trailer else { throw Damage(description: "bad trailer") }
        guard rawOffset <= UInt64(size) else { throw Damage(description: "index out of bounds") }
        let indexOffset = Int(rawOffset)
        guard indexOffset >= magic.count, indexOffset + indexLength + footerSize == size else {
            throw Damage(description: "index out of bounds")
        }
        let indexBytes = try read(fd: fd, path: path, offset: indexOffset, count: indexLength)
        guard CRC32C.checksum(indexBytes) == checksum else { throw Damage(description: "index checksum mismatch") }
        return (ByteBuffer(bytes: indexBytes), size)
    }

    /// Reads one block into `buffer` and checks it; calls `body` with its bytes. Blocking.
    public static func withBlock<R>(path: String, offset: Int, length: Int, checksum: UInt32, buffer: inout [UInt8],
                                    _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let (fd, _) = try FileIO.openForReading(path)
        defer { close(fd) }
        if buffer.count < length { buffer = [UInt8](repeating: 0, count: length) }
        let done = try buffer.withUnsafeMutableBytes { all in
            try FileIO.readFully(fd: fd, into: UnsafeMutableRawBufferPointer(rebasing: all[0..<length]), at: offset, path: path)
        }
        guard done == length else { throw Damage(description: "short read at offset \(offset)") }
        return try buffer.withUnsafeBytes { all in
            let bytes = UnsafeRawBufferPointer(rebasing: all[0..<length])
            guard CRC32C.checksum(bytes) == checksum else { throw Damage(description: "block checksum mismatch at offset \(offset)") }
            return try body(bytes)
        }
    }

    static func read(fd: Int32, path: String, offset: Int, count: Int) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            let done = try FileIO.readFully(fd: fd, into: UnsafeMutableRawBufferPointer(buffer), at: offset, path: path)
            initialized = done
            guard done == count else { throw Damage(description: "short read at offset \(offset)") }
        }
    }
}
