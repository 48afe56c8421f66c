import Foundation
import Logging
import NIOCore
import ObsCore
import Synchronization

/// One spooled batch, ready to send: a Loki `PushRequest` or an OTLP `ExportTraceServiceRequest`
/// (uncompressed protobuf) and how many entries or spans it holds. Repeated protobuf fields
/// concatenate, so several records' payloads side by side are one valid request: batching is
/// appending bytes.
struct SpoolRecord: LogRecord, Equatable {
    static let logMagic: [UInt8] = Array("OBSLFW".utf8) + [1, 0]
    static let readableVersions: Set<UInt8> = [1]
    static let firstCompressedVersion: UInt8 = 1
    static let compressesPayloads = true

    var entries: Int
    var push: ByteBuffer

    var kindByte: UInt8 { 1 }

    func encodePayload(into buffer: inout ByteBuffer) {
        buffer.writeVarint(UInt64(entries))
        buffer.writeImmutableBuffer(push)
    }

    static func decode(kind: UInt8, payload: inout ByteBuffer) throws -> SpoolRecord {
        guard kind == 1 else { throw CoreError.corrupt(codec: "forwarding spool", detail: "unknown record type \(kind)") }
        let failure = CoreError.corrupt(codec: "forwarding spool", detail: "bad entry count")
        let entries = try payload.readVarint(orThrow: failure)
        guard entries <= UInt64(payload.readableBytes) else { throw failure }
        let push = payload.readSlice(length: payload.readableBytes)!
        return SpoolRecord(entries: Int(entries), push: push)
    }
}

/// A Loki `PushRequest` (Loki's `push.proto`): `streams = 1` of `{labels = 1, entries = 2}`, each
/// entry `{timestamp = 1 (google.protobuf.Timestamp), line = 2, structuredMetadata = 3}`.
enum LokiPushEncoding {
    static func encode(_ entries: [(stream: Labels, entry: LogEntry)], externalLabels: [Label]) -> ByteBuffer {
        var writer = ProtobufWriter()
        var index = 0
        while index < entries.count {
            // Runs of one stream become one stream message.
            let stream = entries[index].stream
            var end = index + 1
            while end < entries.count && entries[end].stream == stream { end += 1 }
            let slice = entries[index..<end]
            writer.writeMessage(field: 1) { message in
                message.writeString(field: 1, labelText(stream, externalLabels))
                for item in slice {
                    message.writeMessage(field: 2) { entry in
                        let nanos = item.entry.timestamp
                        let seconds = nanos >= 0 ? nanos / 1_000_000_000 : (nanos - 999_999_999) / 1_000_000_000
                        entry.writeMessage(field: 1) { timestamp in
                            timestamp.writeVarint(field: 1, UInt64(bitPattern: seconds))
                            timestamp.writeVarint(field: 2, UInt64(nanos - seconds * 1_000_000_000))
                        }
                        entry.writeString(field: 2, item.entry.line)
                        for label in item.entry.metadata {
                            entry.writeMessage(field: 3) { pair in
                                pair.writeString(field: 1, label.name)
                                pair.writeString(field: 2, label.value)
                            }
                        }
                    }
                }
            }
            index = end
        }
        return writer.buffer
    }

    /// `{name="value", …}` with the external labels the stream lacks, values quoted as Go quotes them.
    static func labelText(_ stream: Labels, _ external: [Label]) -> String {
        var labels = Array(stream)
        for label in external where stream[label.name] == nil { labels.append(label) }
        labels.sort { $0.name < $1.name }
        return "{" + labels.map { "\($0.name)=\(JSONText.quote($0.value))" }.joined(separator: ", ") + "}"
    }
}

/// The spool of one forwarder: every batch its store commits, appended as a record (synced with the
/// commit when the commit syncs), until the forwarder has delivered it. Past `maxBytes` the oldest
/// segments go (counted).
final class Spool: Sendable {
    let log: RecordLog<SpoolRecord>
    let maxBytes: Int
    private let dropped: Counter
    private let failures: Counter
    private let logger: Logger

    init(directory: String, maxBytes: Int, dropped: Counter, failures: Counter, logger: Logger) throws {
        log = try RecordLog(directory: directory, segmentSize: 16 << 20)
        // A new segment after whatever is there; records already spooled stay to be sent.
        try log.openSegment(number: (try log.segments().last ?? 0) + 1)
        self.maxBytes = maxBytes
        self.dropped = dropped
        self.failures = failures
        self.logger = logger
    }

    func append(_ payload: ByteBuffer, count: Int, sync: Bool) {
        guard count > 0 else { return }
        do {
            try log.log([SpoolRecord(entries: count, push: payload)], sync: sync)
            if log.sizeInBytes() > maxBytes {
                let segments = try log.segments()
                if let oldest = segments.first, oldest < log.currentSegment {
                    try log.removeSegments(through: oldest)
                    dropped.inc()
                    logger.warning("Forwarding spool over its limit; the oldest unsent segment was dropped", metadata: ["segment": "\(oldest)"])
                }
            }
        } catch {
            // The data is in the store; only its forwarding is lost.
            failures.inc(Double(count))
            logger.error("Spooling for forwarding failed", metadata: ["err": "\(error)"])
        }
    }
}

/// Log-store commits into a spool, as Loki push requests with the destination's external labels.
struct LogSpooler: LogCommitObserver {
    let spool: Spool
    let externalLabels: [Label]

    func committed(_ entries: [(stream: Labels, entry: LogEntry)], sync: Bool) {
        spool.append(LokiPushEncoding.encode(entries, externalLabels: externalLabels), count: entries.count, sync: sync)
    }
}

/// Trace-store commits into a spool: the export's per-trace requests side by side are one request.
struct TraceSpooler: TraceCommitObserver {
    let spool: Spool

    func committed(_ requests: [ByteBuffer], spans: Int, sync: Bool) {
        var payload = ByteBuffer()
        for request in requests { payload.writeImmutableBuffer(request) }
        spool.append(payload, count: spans, sync: sync)
    }
}
