import NIOCore
import ObsCore

/// One entry as the log WAL keeps it: the stream's store-wide id, then the entry.
struct WALLogEntry: Equatable {
    var stream: UInt64
    var entry: LogEntry
}

/// The records of the log WAL. Encoding in `Store/FORMAT.md`.
enum LogWALRecord: LogRecord, Equatable {
    /// New streams: id and label set.
    case streams([(id: UInt64, labels: Labels)])
    /// Entries and the tail positions that cover them, committed together.
    case entries([WALLogEntry], positions: [TailPosition])

    static let logMagic: [UInt8] = Array("OBSLWL".utf8) + [1, 0]
    static let readableVersions: Set<UInt8> = [1]
    static let firstCompressedVersion: UInt8 = 1
    /// Log lines would shrink about 3× under snappy, but the WAL only lives until the next flush and
    /// the compression cost a tenth of the tail path's CPU: records are written as they are.
    static let compressesPayloads = false

    var kindByte: UInt8 {
        switch self {
        case .streams: 1
        case .entries: 2
        }
    }

    static func == (lhs: LogWALRecord, rhs: LogWALRecord) -> Bool {
        switch (lhs, rhs) {
        case let (.streams(a), .streams(b)): a.elementsEqual(b) { $0.id == $1.id && $0.labels == $1.labels }
        case let (.entries(a, p), .entries(b, q)): a == b && p == q
        default: false
        }
    }

    func encodePayload(into buffer: inout ByteBuffer) {
        switch self {
        case let .streams(streams):
            buffer.writeVarint(UInt64(streams.count))
            for stream in streams {
                buffer.writeVarint(stream.id)
                LogCodec.writeLabels(stream.labels, into: &buffer)
            }
        case let .entries(entries, positions):
            buffer.writeVarint(UInt64(entries.count))
            for item in entries {
                buffer.writeVarint(item.stream)
                buffer.writeSignedVarint(item.entry.timestamp)
                LogCodec.writeString(item.entry.line, into: &buffer)
                LogCodec.writeLabels(item.entry.metadata, into: &buffer)
            }
            buffer.writeVarint(UInt64(positions.count))
            for position in positions {
                LogCodec.writeString(position.path, into: &buffer)
                buffer.writeVarint(position.device)
                buffer.writeVarint(position.inode)
                buffer.writeInteger(position.fingerprint, endianness: .little)
                buffer.writeSignedVarint(position.offset)
            }
        }
    }

    static func decode(kind: UInt8, payload: inout ByteBuffer) throws -> LogWALRecord {
        switch kind {
        case 1:
            let count = try LogCodec.count(&payload)
            var streams: [(id: UInt64, labels: Labels)] = []
            for _ in 0..<count {
                streams.append((try LogCodec.varint(&payload), try LogCodec.readLabels(&payload)))
            }
            return .streams(streams)
        case 2:
            let count = try LogCodec.count(&payload)
            var entries: [WALLogEntry] = []
            entries.reserveCapacity(count)
            for _ in 0..<count {
                let stream = try LogCodec.varint(&payload)
                guard let timestamp = try payload.readSignedVarint() else { throw LogCodec.truncated }
                let line = try LogCodec.readString(&payload)
                let metadata = try LogCodec.readLabels(&payload)
                entries.append(WALLogEntry(stream: stream, entry: LogEntry(timestamp: timestamp, line: line, metadata: metadata)))
            }
            let positionCount = try LogCodec.count(&payload)
            var positions: [TailPosition] = []
            for _ in 0..<positionCount {
                let path = try LogCodec.readString(&payload)
                let device = try LogCodec.varint(&payload), inode = try LogCodec.varint(&payload)
                guard let fingerprint = payload.readInteger(endianness: .little, as: UInt64.self),
                      let offset = try payload.readSignedVarint() else { throw LogCodec.truncated }
                positions.append(TailPosition(path: path, device: device, inode: inode, fingerprint: fingerprint, offset: offset))
            }
            return .entries(entries, positions: positions)
        default:
            throw CoreError.corrupt(codec: "log WAL", detail: "unknown record kind \(kind)")
        }
    }
}

/// Byte helpers shared by the log WAL, blocks and segments: varint-prefixed strings and label sets.
enum LogCodec {
    static let truncated = CoreError.corrupt(codec: "log store", detail: "truncated record")

    static func writeString(_ text: String, into buffer: inout ByteBuffer) {
        buffer.writeLengthPrefixed(text)
    }

    static func writeLabels(_ labels: Labels, into buffer: inout ByteBuffer) {
        buffer.writeVarint(UInt64(labels.count))
        for label in labels {
            writeString(label.name, into: &buffer)
            writeString(label.value, into: &buffer)
        }
    }

    static func varint(_ buffer: inout ByteBuffer) throws -> UInt64 { try buffer.readVarint(orThrow: truncated) }

    static func count(_ buffer: inout ByteBuffer) throws -> Int { try buffer.readCount(orThrow: truncated) }

    static func readString(_ buffer: inout ByteBuffer) throws -> String { try buffer.readLengthPrefixedString(orThrow: truncated) }

    static func readLabels(_ buffer: inout ByteBuffer) throws -> Labels {
        let count = try count(&buffer)
        var pairs: [Label] = []
        pairs.reserveCapacity(count)
        for _ in 0..<count { pairs.append(Label(try readString(&buffer), try readString(&buffer))) }
        return Labels(pairs)
    }
}
