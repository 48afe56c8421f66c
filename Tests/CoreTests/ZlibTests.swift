import NIOCore
import ObsCore
import Testing

@Suite struct ZlibTests {
    static let text: ByteBuffer = {
        var buffer = ByteBuffer()
        for i in 0..<5000 { buffer.writeString("2026-11-29T10:00:\(i % 60)Z stdout F request \(i) served in \(i % 17)ms\n") }
        return buffer
    }()

    @Test(arguments: [ZlibFormat.gzip, .zlib, .raw])
    func roundTrip(format: ZlibFormat) throws {
        let compressed = Zlib.compress(Self.text, format: format)
        #expect(compressed.readableBytes < Self.text.readableBytes / 4)
        let decoded = try Zlib.uncompress(compressed, format: format, maxDecodedSize: 1 << 24)
        #expect(decoded == Self.text)
    }

    @Test(arguments: [ZlibFormat.gzip, .zlib])
    func autoDetectsHeader(format: ZlibFormat) throws {
        let compressed = Zlib.compress(Self.text, format: format)
        #expect(try Zlib.uncompress(compressed, format: .auto, maxDecodedSize: 1 << 24) == Self.text)
    }

    @Test func emptyInputRoundTrips() throws {
        let compressed = Zlib.compress(ByteBuffer(), format: .gzip)
        #expect(try Zlib.uncompress(compressed, format: .gzip, maxDecodedSize: 10).readableBytes == 0)
    }

    @Test func streamingInSmallPiecesMatchesOneShot() throws {
        let compressed = Zlib.compress(Self.text, format: .gzip)
        let inflater = try Inflater(format: .gzip, maxDecodedSize: 1 << 24)
        var output = ByteBuffer()
        var rest = compressed
        while rest.readableBytes > 0 {
            let piece = rest.readSlice(length: min(7, rest.readableBytes))!
            try inflater.inflate(piece, into: &output)
        }
        try inflater.finish()
        #expect(output == Self.text)
    }

    @Test func streamingCompressionInPieces() throws {
        let deflater = Deflater(format: .gzip, level: 1)
        var compressed = ByteBuffer()
        var rest = Self.text
        while rest.readableBytes > 0 {
            deflater.deflate(rest.readSlice(length: min(1000, rest.readableBytes))!, into: &compressed)
        }
        deflater.finish(into: &compressed)
        #expect(try Zlib.uncompress(compressed, format: .gzip, maxDecodedSize: 1 << 24) == Self.text)
    }

    @Test func concatenatedGzipMembersDecodeAsOneStream() throws {
        var first = ByteBuffer(string: "hello ")
        var joined = Zlib.compress(first, format: .gzip)
        first = ByteBuffer(string: "world")
        var second = Zlib.compress(first, format: .gzip)
        joined.writeBuffer(&second)
        #expect(try Zlib.uncompress(joined, format: .gzip, maxDecodedSize: 100) == ByteBuffer(string: "hello world"))
    }

    @Test func truncatedStreamFailsOnFinish() throws {
        let compressed = Zlib.compress(Self.text, format: .gzip)
        let truncated = compressed.getSlice(at: compressed.readerIndex, length: compressed.readableBytes / 2)!
        #expect(throws: CoreError.self) { try Zlib.uncompress(truncated, format: .gzip, maxDecodedSize: 1 << 24) }
    }

    @Test func corruptInputThrows() throws {
        var compressed = Zlib.compress(Self.text, format: .zlib)
        for offset in 2..<40 { compressed.setInteger(UInt8(truncatingIfNeeded: offset &* 37), at: offset) }
        #expect(throws: CoreError.self) { try Zlib.uncompress(compressed, format: .zlib, maxDecodedSize: 1 << 24) }
        #expect(throws: CoreError.self) {
            try Zlib.uncompress(ByteBuffer(string: "not gzip at all"), format: .gzip, maxDecodedSize: 1 << 24)
        }
    }

    @Test func trailingGarbageAfterZlibStreamThrows() throws {
        var compressed = Zlib.compress(ByteBuffer(string: "abc"), format: .zlib)
        compressed.writeString("junk")
        #expect(throws: CoreError.self) { try Zlib.uncompress(compressed, format: .zlib, maxDecodedSize: 100) }
    }

    /// 64 MiB of zeros compress to about 64 KB; with a 1 MiB bound decoding stops at the bound
    /// instead of producing the whole output.
    @Test func decompressionBombStopsAtTheBound() throws {
        let deflater = Deflater(format: .gzip, level: 9)
        var bomb = ByteBuffer()
        let zeros = ByteBuffer(repeating: 0, count: 1 << 20)
        for _ in 0..<64 { deflater.deflate(zeros, into: &bomb) }
        deflater.finish(into: &bomb)
        #expect(bomb.readableBytes < 128 * 1024)

        let inflater = try Inflater(format: .gzip, maxDecodedSize: 1 << 20)
        var output = ByteBuffer()
        #expect(throws: CoreError.tooLarge(codec: "gzip", limit: 1 << 20, claimed: nil)) {
            try inflater.inflate(bomb, into: &output)
        }
        #expect(output.readableBytes <= (1 << 20) + 1)
    }
}
