import Foundation
import NIOCore
import ObsCore

/// Compression codecs on container log lines: each CRI line's text (after time, stream and tag),
/// newline-joined into blocks of about `blockSize` bytes, compressed and decompressed one block at
/// a time on one core.
enum Codecs {
    struct Codec: Sendable {
        let name: String
        let compress: @Sendable (UnsafeRawBufferPointer) -> [UInt8]
        let decompress: @Sendable ([UInt8], Int) throws -> Int
    }

    static let all: [Codec] = [
        Codec(name: "snappy", compress: { Array(Snappy.compress(ByteBuffer(bytes: $0)).readableBytesView) },
              decompress: { try Snappy.uncompress(ByteBuffer(bytes: $0), maxDecodedSize: $1).readableBytes }),
        Codec(name: "gzip-1", compress: { deflate($0, level: 1) }, decompress: inflate),
        Codec(name: "gzip-6", compress: { deflate($0, level: 6) }, decompress: inflate),
        Codec(name: "zstd-1", compress: { Zstd.compress($0, level: 1) },
              decompress: unzstd),
        Codec(name: "zstd-3", compress: { Zstd.compress($0, level: 3) },
              decompress: unzstd),
        Codec(name: "zstd-6", compress: { Zstd.compress($0, level: 6) },
              decompress: unzstd),
    ]

    static func deflate(_ input: UnsafeRawBufferPointer, level: Int32) -> [UInt8] {
        let deflater = Deflater(format: .gzip, level: level)
        var output = ByteBuffer()
        deflater.deflate(ByteBuffer(bytes: input), into: &output)
        deflater.finish(into: &output)
        return Array(output.readableBytesView)
    }

    static func unzstd(_ input: [UInt8], _ limit: Int) throws -> Int {
        try input.withUnsafeBytes { try Zstd.decompress($0, maxDecodedSize: limit).count }
    }

    static func inflate(_ input: [UInt8], _ limit: Int) throws -> Int {
        let inflater = try Inflater(format: .gzip, maxDecodedSize: limit)
        var output = ByteBuffer()
        try inflater.inflate(ByteBuffer(bytes: input), into: &output)
        try inflater.finish()
        return output.readableBytes
    }

    /// The text of each CRI line, cut into blocks.
    static func blocks(_ file: [UInt8], blockSize: Int) -> [[UInt8]] {
        var blocks: [[UInt8]] = []
        var current: [UInt8] = []
        for line in file.split(separator: 0x0A) {
            // Skip "<time> <stream> <tag> ".
            var spaces = 0
            var start = line.startIndex
            while start < line.endIndex && spaces < 3 {
                if line[start] == 0x20 { spaces += 1 }
                start += 1
            }
            current.append(contentsOf: line[start...])
            current.append(0x0A)
            if current.count >= blockSize {
                blocks.append(current)
                current = []
            }
        }
        if !current.isEmpty { blocks.append(current) }
        return blocks
    }

    static func run(_ file: [UInt8], blockSize: Int) throws {
        let blocks = blocks(file, blockSize: blockSize)
        let raw = blocks.reduce(0) { $0 + $1.count }
        print("\(blocks.count) blocks of about \(blockSize >> 10) KiB, \(raw) bytes of line text")
        print("| codec | ratio | compress MB/s | decompress MB/s |")
        print("|---|---|---|---|")
        for codec in all {
            let clock = ContinuousClock()
            var compressed: [[UInt8]] = []
            let compressTime = clock.measure {
                compressed = blocks.map { block in block.withUnsafeBytes { codec.compress($0) } }
            }
            let size = compressed.reduce(0) { $0 + $1.count }
            var decoded = 0
            let decompressTime = try clock.measure {
                for block in compressed { decoded += try codec.decompress(block, blockSize * 4) }
            }
            precondition(decoded == raw, "\(codec.name) round trip lost bytes")
            func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
            print(String(format: "| %@ | %.2f | %.0f | %.0f |", codec.name, Double(raw) / Double(size),
                         Double(raw) / seconds(compressTime) / 1e6, Double(raw) / seconds(decompressTime) / 1e6))
        }
    }
}
