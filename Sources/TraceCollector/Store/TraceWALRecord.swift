import NIOCore
import ObsCore

/// The trace WAL's one record kind: an accepted export, split by trace. Format in `FORMAT.md`.
struct TraceWALRecord: LogRecord {
    /// Per trace, an OTLP `ExportTraceServiceRequest` holding its spans.
    var fragments: [(id: TraceID, bytes: ByteBuffer)]

    static let logMagic: [UInt8] = Array("OBSTWL".utf8) + [1, 0]
    static let readableVersions: Set<UInt8> = [1]
    static let firstCompressedVersion: UInt8 = 1
    /// The WAL lives only until the next flush; compressing it cost more CPU than its disk saves.
    static let compressesPayloads = false

    var kindByte: UInt8 { 1 }

    func encodePayload(into buffer: inout ByteBuffer) {
        TraceCodec.writeFragments(fragments, into: &buffer)
    }

    static func decode(kind: UInt8, payload: inout ByteBuffer) throws -> TraceWALRecord {
        guard kind == 1 else { throw CoreError.corrupt(codec: "trace wal", detail: "unknown record kind \(kind)") }
        return TraceWALRecord(fragments: try TraceCodec.readFragments(&payload))
    }
}
