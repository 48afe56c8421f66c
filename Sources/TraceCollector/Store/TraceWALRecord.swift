import NIOCore
import ObsCore

/// The trace WAL's one record kind: an accepted export, as OTLP protobuf. Format in `FORMAT.md`.
struct TraceWALRecord: LogRecord, Equatable {
    var batches: [ResourceSpans]

    static let logMagic: [UInt8] = Array("OBSTWL".utf8) + [1, 0]
    static let readableVersions: Set<UInt8> = [1]
    static let firstCompressedVersion: UInt8 = 1
    /// Span attributes repeat heavily; snappy halves the WAL at little cost.
    static let compressesPayloads = true

    var kindByte: UInt8 { 1 }

    func encodePayload(into buffer: inout ByteBuffer) {
        var encoded = OTLPEncoder.encode(batches)
        buffer.writeBuffer(&encoded)
    }

    static func decode(kind: UInt8, payload: inout ByteBuffer) throws -> TraceWALRecord {
        guard kind == 1 else { throw CoreError.corrupt(codec: "trace wal", detail: "unknown record kind \(kind)") }
        let decoded = try OTLPProtobuf.decode(payload)
        payload.moveReaderIndex(to: payload.writerIndex)
        return TraceWALRecord(batches: decoded.batches)
    }
}
