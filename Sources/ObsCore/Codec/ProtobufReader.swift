import NIOCore

/// A minimal protobuf wire-format reader over a `ByteBuffer`, for decoders that walk messages field
/// by field without generated code (remote write, Loki push). Every read is bounds-checked; malformed
/// input throws `CoreError.corrupt` with the codec name given at creation.
public struct ProtobufReader {
    public enum WireType: UInt8 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case fixed32 = 5
    }

    private var buffer: ByteBuffer
    private let codec: String

    public init(_ buffer: ByteBuffer, codec: String) {
        self.buffer = buffer
        self.codec = codec
    }

    public var isAtEnd: Bool { buffer.readableBytes == 0 }

    /// The next field's number and wire type, or `nil` at the end of the message.
    public mutating func nextField() throws -> (number: UInt64, type: WireType)? {
        guard buffer.readableBytes > 0 else { return nil }
        let key = try varint()
        guard let type = WireType(rawValue: UInt8(key & 7)) else {
            throw CoreError.corrupt(codec: codec, detail: "unsupported wire type \(key & 7)")
        }
        let number = key >> 3
        guard number > 0 else { throw CoreError.corrupt(codec: codec, detail: "field number 0") }
        return (number, type)
    }

    public mutating func varint() throws -> UInt64 {
        guard let value = try buffer.readVarint() else {
            throw CoreError.corrupt(codec: codec, detail: "truncated varint")
        }
        return value
    }

    public mutating func fixed64() throws -> UInt64 {
        guard let value = buffer.readInteger(endianness: .little, as: UInt64.self) else {
            throw CoreError.corrupt(codec: codec, detail: "truncated fixed64")
        }
        return value
    }

    public mutating func fixed32() throws -> UInt32 {
        guard let value = buffer.readInteger(endianness: .little, as: UInt32.self) else {
            throw CoreError.corrupt(codec: codec, detail: "truncated fixed32")
        }
        return value
    }

    /// The bytes of a length-delimited field, as a slice sharing storage with the input.
    public mutating func lengthDelimited() throws -> ByteBuffer {
        let length = try varint()
        guard length <= UInt64(buffer.readableBytes), let slice = buffer.readSlice(length: Int(length)) else {
            throw CoreError.corrupt(codec: codec, detail: "field of \(length) bytes runs past the end")
        }
        return slice
    }

    public mutating func string() throws -> String {
        let bytes = try lengthDelimited()
        return String(buffer: bytes)
    }

    /// A nested message's reader.
    public mutating func message() throws -> ProtobufReader {
        ProtobufReader(try lengthDelimited(), codec: codec)
    }

    /// Skips a field of `type` that the decoder does not use.
    public mutating func skip(_ type: WireType) throws {
        switch type {
        case .varint: _ = try varint()
        case .fixed64: _ = try fixed64()
        case .fixed32: _ = try fixed32()
        case .lengthDelimited: _ = try lengthDelimited()
        }
    }
}

/// The matching writer, for tests and forwarders. Appends to a `ByteBuffer`.
public struct ProtobufWriter {
    public private(set) var buffer = ByteBuffer()

    public init() {}

    public mutating func writeVarint(field: UInt64, _ value: UInt64) {
        buffer.writeVarint(field << 3 | 0)
        buffer.writeVarint(value)
    }

    public mutating func writeFixed64(field: UInt64, _ value: UInt64) {
        buffer.writeVarint(field << 3 | 1)
        buffer.writeInteger(value, endianness: .little)
    }

    public mutating func writeFixed32(field: UInt64, _ value: UInt32) {
        buffer.writeVarint(field << 3 | 5)
        buffer.writeInteger(value, endianness: .little)
    }

    public mutating func writeBytes(field: UInt64, _ bytes: [UInt8]) {
        buffer.writeVarint(field << 3 | 2)
        buffer.writeVarint(UInt64(bytes.count))
        buffer.writeBytes(bytes)
    }

    public mutating func writeBytes(field: UInt64, _ bytes: ByteBuffer) {
        buffer.writeVarint(field << 3 | 2)
        buffer.writeVarint(UInt64(bytes.readableBytes))
        buffer.writeImmutableBuffer(bytes)
    }

    public mutating func writeString(field: UInt64, _ text: String) {
        buffer.writeVarint(field << 3 | 2)
        buffer.writeVarint(UInt64(text.utf8.count))
        buffer.writeString(text)
    }

    public mutating func writeMessage(field: UInt64, _ build: (inout ProtobufWriter) -> Void) {
        var nested = ProtobufWriter()
        build(&nested)
        writeBytes(field: field, nested.buffer)
    }
}
