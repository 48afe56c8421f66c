import ObsCore

/// Bounds-checked reads from mapped memory. Every read past the end or malformed varint throws
/// `CoreError.corrupt` naming `file`.
struct RawCursor {
    let bytes: UnsafeRawBufferPointer
    let file: String
    let codec: String
    var offset: Int

    init(_ bytes: UnsafeRawBufferPointer, file: String, codec: String = "block", at offset: Int = 0) {
        self.bytes = bytes
        self.file = file
        self.codec = codec
        self.offset = offset
    }

    func corrupt(_ detail: String) -> CoreError {
        .corrupt(codec: codec, detail: "\(file) at offset \(offset): \(detail)")
    }

    mutating func u8() throws -> UInt8 {
        guard offset >= 0, offset < bytes.count else { throw corrupt("truncated u8") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u32() throws -> UInt32 {
        guard offset >= 0, offset + 4 <= bytes.count else { throw corrupt("truncated u32") }
        defer { offset += 4 }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    mutating func u64() throws -> UInt64 {
        guard offset >= 0, offset + 8 <= bytes.count else { throw corrupt("truncated u64") }
        defer { offset += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    mutating func varint() throws -> UInt64 {
        guard offset >= 0, offset <= bytes.count,
              let (value, length) = try Varint.decode(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
        else { throw corrupt("truncated varint") }
        offset += length
        return value
    }

    mutating func signedVarint() throws -> Int64 { Varint.unZigZag(try varint()) }

    mutating func bytes(_ count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, offset >= 0, offset + count <= bytes.count else { throw corrupt("truncated field of \(count) bytes") }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count])
    }

    mutating func string() throws -> String {
        let length = try varint()
        guard length <= UInt64(bytes.count) else { throw corrupt("string length \(length) too large") }
        return String(decoding: try self.bytes(Int(length)), as: UTF8.self)
    }
}
