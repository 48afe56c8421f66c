import NIOCore
import ObsCore
import Testing

@Suite struct CRC32CTests {
    // Check values from RFC 3720 (iSCSI), appendix B.4, and the common "123456789" vector.
    @Test func knownVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
    }

    @Test func piecewiseEqualsWhole() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let whole = CRC32C.checksum(bytes)
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let first = CRC32C.checksum(bytes[..<split])
            #expect(CRC32C.checksum(bytes[split...], continuing: first) == whole)
        }
    }

    @Test func byteBufferUsesReadableBytesOnly() {
        var buffer = ByteBuffer(bytes: [0xAA, 0xBB] + Array("123456789".utf8))
        buffer.moveReaderIndex(forwardBy: 2)
        #expect(CRC32C.checksum(buffer) == 0xE306_9283)
    }
}
