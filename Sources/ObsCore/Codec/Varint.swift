import NIOCore

/// Unsigned LEB128 varints (protobuf's encoding) and their zig-zag signed form, read from and
/// written to `ByteBuffer`s.
///
/// Readers return `nil` when the buffer ends mid-varint (more bytes may arrive) and leave the reader
/// index untouched; they throw when the bytes can never form a valid 64-bit varint.
extension ByteBuffer {
    /// Appends `value` as a varint and returns the number of bytes written (1...10).
    @discardableResult
    @inlinable
    public mutating func writeVarint(_ value: UInt64) -> Int {
        var v = value
        var written = 0
        while v >= 0x80 {
            written += writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        written += writeInteger(UInt8(truncatingIfNeeded: v))
        return written
    }

    /// Appends `value` zig-zag encoded, so small negative numbers stay short.
    @discardableResult
    @inlinable
    public mutating func writeSignedVarint(_ value: Int64) -> Int {
        writeVarint(Varint.zigZag(value))
    }

    /// Reads a varint; `nil` if the buffer ends before its last byte.
    @inlinable
    public mutating func readVarint() throws -> UInt64? {
        guard let (value, length) = try getVarint(at: readerIndex) else { return nil }
        moveReaderIndex(forwardBy: length)
        return value
    }

    /// Reads a zig-zag encoded signed varint.
    @inlinable
    public mutating func readSignedVarint() throws -> Int64? {
        try readVarint().map(Varint.unZigZag)
    }

    /// Decodes the varint starting at `index` without moving the reader index.
    /// Returns the value and its encoded length, or `nil` if the readable bytes end first.
    @inlinable
    public func getVarint(at index: Int) throws -> (value: UInt64, length: Int)? {
        try withUnsafeReadableBytes { bytes in
            let start = index - readerIndex
            guard start >= 0, start <= bytes.count else { return nil }
            return try Varint.decode(UnsafeRawBufferPointer(rebasing: bytes[start...]))
        }
    }
}

/// Varint helpers over raw memory, for decoders that walk bytes directly.
public enum Varint {
    /// Largest encoded length of a 64-bit varint.
    public static let maxLength = 10

    @inlinable
    public static func zigZag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }

    @inlinable
    public static func unZigZag(_ value: UInt64) -> Int64 {
        Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1)
    }

    /// Number of bytes `value` takes as a varint.
    @inlinable
    public static func encodedLength(_ value: UInt64) -> Int {
        value == 0 ? 1 : (64 - value.leadingZeroBitCount + 6) / 7
    }

    /// Decodes one varint from the start of `bytes`. `nil` when `bytes` ends first; throws when the
    /// encoding is longer than ten bytes or overflows 64 bits.
    @inlinable
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> (value: UInt64, length: Int)? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            i += 1
            if i == maxLength && byte > 1 {
                throw CoreError.corrupt(codec: "varint", detail: "value overflows 64 bits")
            }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return (result, i) }
            shift += 7
        }
        return nil
    }
}

/// Length-prefixed fields of the stores' own binary formats (WAL records, segment indexes), read
/// with one error for every kind of truncation.
extension ByteBuffer {
    public mutating func writeLengthPrefixed(_ text: String) {
        writeVarint(UInt64(text.utf8.count))
        writeString(text)
    }

    public mutating func readVarint(orThrow error: @autoclosure () -> any Error) throws -> UInt64 {
        guard let value = try readVarint() else { throw error() }
        return value
    }

    /// A count that must fit in what is left of the buffer (at least a byte per item).
    public mutating func readCount(orThrow error: @autoclosure () -> any Error) throws -> Int {
        let value = try readVarint(orThrow: error())
        guard value <= UInt64(readableBytes) else { throw error() }
        return Int(value)
    }

    public mutating func readLengthPrefixedString(orThrow error: @autoclosure () -> any Error) throws -> String {
        let length = try readCount(orThrow: error())
        guard let text = readString(length: length) else { throw error() }
        return text
    }
}
