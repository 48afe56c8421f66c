import NIOCore
import ObsCore

/// A compressed run of one stream's entries, sorted by time: the unit the store writes, reads and
/// decompresses. Immutable.
struct LogBlock: Sendable {
    var stream: UInt64
    var minTime: Int64
    var maxTime: Int64
    var count: Int
    /// Encoded size before compression.
    var rawLength: Int
    /// The zstd frame.
    var bytes: [UInt8]

    /// Largest decoded block accepted when reading.
    static let maxRawLength = 64 << 20

    /// Encodes `entries` (sorted by time) and compresses them.
    init(stream: UInt64, sortedEntries entries: [LogEntry]) {
        var raw = ByteBuffer()
        raw.writeVarint(UInt64(entries.count))
        var previous: Int64 = 0
        for entry in entries {
            raw.writeSignedVarint(entry.timestamp &- previous)
            previous = entry.timestamp
            LogCodec.writeString(entry.line, into: &raw)
            LogCodec.writeLabels(entry.metadata, into: &raw)
        }
        self.stream = stream
        minTime = entries.first?.timestamp ?? 0
        maxTime = entries.last?.timestamp ?? 0
        count = entries.count
        rawLength = raw.readableBytes
        bytes = raw.withUnsafeReadableBytes { Zstd.compress($0, level: 1) }
    }

    init(stream: UInt64, minTime: Int64, maxTime: Int64, count: Int, rawLength: Int, bytes: [UInt8]) {
        self.stream = stream
        self.minTime = minTime
        self.maxTime = maxTime
        self.count = count
        self.rawLength = rawLength
        self.bytes = bytes
    }

    /// Decompresses a block and visits its entries with `start <= timestamp < end` whose line
    /// `filter` accepts, without copying lines.
    static func scan(_ compressed: UnsafeRawBufferPointer, rawLength: Int, start: Int64, end: Int64,
                     filter: ((UnsafeRawBufferPointer) -> Bool)?, decoder: ZstdDecoder,
                     _ visit: (LogEntryView) throws -> Void) throws {
        try decoder.decompress(compressed, maxDecodedSize: max(rawLength, 1)) { bytes in
            var cursor = 0
            func varint() throws -> UInt64 {
                // One-byte varints (lengths under 128, small deltas) are most of them.
                if cursor < bytes.count, bytes[cursor] < 0x80 {
                    cursor += 1
                    return UInt64(bytes[cursor - 1])
                }
                guard let (value, length) = try Varint.decode(UnsafeRawBufferPointer(rebasing: bytes[cursor...])) else { throw LogCodec.truncated }
                cursor += length
                return value
            }
            func slice() throws -> UnsafeRawBufferPointer {
                let length = Int(clamping: try varint())
                guard length <= bytes.count - cursor else { throw LogCodec.truncated }
                defer { cursor += length }
                return UnsafeRawBufferPointer(rebasing: bytes[cursor..<cursor + length])
            }
            let count = Int(clamping: try varint())
            guard count <= bytes.count else { throw LogCodec.truncated }
            var timestamp: Int64 = 0
            for _ in 0..<count {
                timestamp &+= Varint.unZigZag(try varint())
                let line = try slice()
                let metadataCount = Int(clamping: try varint())
                var metadata = LogStore.noLabels
                if metadataCount > 0 {
                    var pairs: [Label] = []
                    for _ in 0..<metadataCount {
                        let name = String(decoding: try slice(), as: UTF8.self)
                        pairs.append(Label(name, String(decoding: try slice(), as: UTF8.self)))
                    }
                    metadata = Labels(sortedUnchecked: pairs)
                }
                guard timestamp >= start && timestamp < end else { continue }
                if let filter, !filter(line) { continue }
                try visit(LogEntryView(timestamp: timestamp, line: line, metadata: metadata))
            }
        }
    }
}
