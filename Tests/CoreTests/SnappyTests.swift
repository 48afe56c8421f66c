import NIOCore
import ObsCore
import Testing

@Suite struct SnappyTests {
    static func sample(_ count: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        for i in 0..<count { buffer.writeString("series_\(i % 97){job=\"node\",instance=\"10.0.0.\(i % 13):9100\"} \(i)\n") }
        return buffer
    }

    @Test(arguments: [0, 1, 100, 20_000])
    func roundTrip(lines: Int) throws {
        let original = Self.sample(lines)
        let compressed = Snappy.compress(original)
        if lines > 1 { #expect(compressed.readableBytes < original.readableBytes) }
        #expect(try Snappy.decodedLength(compressed) == original.readableBytes)
        let decoded = try Snappy.uncompress(compressed, maxDecodedSize: original.readableBytes)
        #expect(decoded == original)
    }

    @Test func corruptInputThrows() throws {
        var compressed = Snappy.compress(Self.sample(100))
        // Flip bytes in the middle of the body: snappy must report invalid input, never crash.
        let middle = compressed.readerIndex + compressed.readableBytes / 2
        for offset in 0..<16 {
            compressed.setInteger(UInt8(0xFF), at: middle + offset)
        }
        #expect(throws: CoreError.self) { try Snappy.uncompress(compressed, maxDecodedSize: 1 << 20) }
        #expect(throws: CoreError.self) { try Snappy.uncompress(ByteBuffer(bytes: [0xFF, 0xFF, 0xFF]), maxDecodedSize: 1 << 20) }
        #expect(throws: CoreError.self) { try Snappy.uncompress(ByteBuffer(), maxDecodedSize: 1 << 20) }
    }

    @Test func truncatedInputThrows() throws {
        let compressed = Snappy.compress(Self.sample(100))
        let truncated = compressed.getSlice(at: compressed.readerIndex, length: compressed.readableBytes - 10)!
        #expect(throws: CoreError.self) { try Snappy.uncompress(truncated, maxDecodedSize: 1 << 20) }
    }

    /// A 10 KB body whose header claims 4 GB must be refused by the header check, before any
    /// allocation of the claimed size.
    @Test func decompressionBombIsRefusedBeforeAllocation() throws {
        var bomb = ByteBuffer()
        // The header is a 32-bit varint, so 4 GiB - 1 is the largest size it can claim.
        let claimed = Int(UInt32.max)
        bomb.writeVarint(UInt64(claimed))
        bomb.writeBytes([UInt8](repeating: 0, count: 10 * 1024))
        #expect(try Snappy.decodedLength(bomb) == claimed)
        #expect(throws: CoreError.tooLarge(codec: "snappy", limit: 32 << 20, claimed: claimed)) {
            try Snappy.uncompress(bomb, maxDecodedSize: 32 << 20)
        }
    }

    @Test func limitIsInclusive() throws {
        let original = Self.sample(10)
        let compressed = Snappy.compress(original)
        #expect(try Snappy.uncompress(compressed, maxDecodedSize: original.readableBytes) == original)
        #expect(throws: CoreError.self) { try Snappy.uncompress(compressed, maxDecodedSize: original.readableBytes - 1) }
    }
}
