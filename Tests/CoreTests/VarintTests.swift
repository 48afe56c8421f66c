import NIOCore
import ObsCore
import Testing

@Suite struct VarintTests {
    static let values: [UInt64] = [0, 1, 127, 128, 255, 300, 16_383, 16_384, 1 << 32, UInt64.max - 1, UInt64.max]

    @Test(arguments: values)
    func roundTrip(value: UInt64) throws {
        var buffer = ByteBuffer()
        let written = buffer.writeVarint(value)
        #expect(written == Varint.encodedLength(value))
        #expect(buffer.readableBytes == written)
        #expect(try buffer.readVarint() == value)
        #expect(buffer.readableBytes == 0)
    }

    @Test(arguments: [Int64.min, -1_000_000, -64, -1, 0, 1, 63, 64, 1_000_000, Int64.max])
    func signedRoundTrip(value: Int64) throws {
        var buffer = ByteBuffer()
        buffer.writeSignedVarint(value)
        #expect(try buffer.readSignedVarint() == value)
    }

    @Test func zigZagKeepsSmallMagnitudesShort() {
        #expect(Varint.zigZag(0) == 0)
        #expect(Varint.zigZag(-1) == 1)
        #expect(Varint.zigZag(1) == 2)
        #expect(Varint.zigZag(-2) == 3)
    }

    @Test func truncatedInputAsksForMoreWithoutConsuming() throws {
        var buffer = ByteBuffer(bytes: [0xAC])  // first byte of 300, continuation bit set
        #expect(try buffer.readVarint() == nil)
        #expect(buffer.readerIndex == 0)
        buffer.writeInteger(UInt8(0x02))
        #expect(try buffer.readVarint() == 300)
    }

    @Test func overlongEncodingThrows() {
        var tooLong = ByteBuffer(bytes: Array(repeating: 0xFF, count: 10) + [0x01])
        #expect(throws: CoreError.self) { try tooLong.readVarint() }
        var overflow = ByteBuffer(bytes: Array(repeating: 0xFF, count: 9) + [0x02])
        #expect(throws: CoreError.self) { try overflow.readVarint() }
    }

    @Test func getVarintDoesNotMoveReader() throws {
        var buffer = ByteBuffer()
        buffer.writeVarint(1)
        buffer.writeVarint(300)
        let second = try buffer.getVarint(at: buffer.readerIndex + 1)
        #expect(second?.value == 300)
        #expect(second?.length == 2)
        #expect(buffer.readerIndex == 0)
    }
}
