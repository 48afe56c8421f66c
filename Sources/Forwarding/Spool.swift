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

/// Calls `body` with each run of consecutive entries of one stream, in order.
func forEachStreamRun(_ entries: [(stream: Labels, entry: LogEntry)], _ body: (Labels, ArraySlice<(stream: Labels, entry: LogEntry)>) -> Void) {
    var index = 0
    while index < entries.count {
        let stream = entries[index].stream
        var end = index + 1
        while end < entries.count && entries[end].stream == stream { end += 1 }
        body(stream, entries[index..<end])
        index = end
    }
}

/// A Loki `PushRequest` (Loki's `push.proto`): `streams = 1` of `{labels = 1, entries = 2}`, each
/// entry `{timestamp = 1 (google.protobuf.Timestamp), line = 2, structuredMetadata = 3}`.
enum LokiPushEncoding {
    static func encode(_ entries: [(stream: Labels, entry: LogEntry)], externalLabels: [Label]) -> ByteBuffer {
        var writer = ProtobufWriter()
        // Runs of one stream become one stream message.
        forEachStreamRun(entries) { stream, slice in
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

/// The spool of one forwarder: every batch its store commits, appended as a record before the store
/// logs it (synced with the commit when the commit syncs) and readable by the forwarder once the
/// store did, until the forwarder has delivered it. A batch the spool cannot write refuses the
/// store's commit; one the store then fails to log is cut off again. Past `maxBytes` the oldest
/// segments go (counted).
final class Spool: Sendable {
    let log: RecordLog<SpoolRecord>
    let maxBytes: Int
    private let dropped: Counter
    private let refused: Counter
    private let logger: Logger
    /// Where the batch being committed started, between `prepare` and `settle`.
    private let pending = Mutex<RecordLog<SpoolRecord>.Mark?>(nil)
    /// The end of what the store committed: the forwarder reads no further.
    private let committed: Mutex<WALPosition>

    init(directory: String, maxBytes: Int, dropped: Counter, refused: Counter, logger: Logger) throws {
        log = try RecordLog(directory: directory, segmentSize: 16 << 20)
        // A new segment after whatever is there; records already spooled stay to be sent.
        try log.openSegment(number: (try log.segments().last ?? 0) + 1)
        let mark = log.mark()
        committed = Mutex(WALPosition(segment: mark.segment, offset: mark.size))
        self.maxBytes = maxBytes
        self.dropped = dropped
        self.refused = refused
        self.logger = logger
    }

    /// How far the forwarder may read.
    var committedEnd: WALPosition { committed.withLock { $0 } }

    /// Appends a batch about to be committed. Throws when it cannot be written (the disk is full):
    /// the commit is then refused.
    func prepare(_ payload: ByteBuffer, count: Int, sync: Bool) throws {
        guard count > 0 else { return }
        let mark = log.mark()
        do {
            try log.log([SpoolRecord(entries: count, push: payload)], sync: sync)
        } catch {
            refused.inc(Double(count))
            throw error
        }
        pending.withLock { $0 = mark }
    }

    /// Makes the prepared batch readable when the store logged it, and cuts it off when not.
    func settle(logged: Bool) {
        guard let mark = pending.withLock({ pending in defer { pending = nil }; return pending }) else { return }
        if !logged {
            do {
                try log.rollback(to: mark)
                return
            } catch {
                // Left in place, the batch goes out although its sender was refused and retries: sent twice.
                logger.error("Forwarding spool could not drop a refused batch", metadata: ["err": "\(error)"])
            }
        }
        let end = log.mark()
        committed.withLock { $0 = WALPosition(segment: end.segment, offset: end.size) }
        guard log.sizeInBytes() > maxBytes else { return }
        do {
            if let oldest = try log.segments().first, oldest < log.currentSegment {
                try log.removeSegments(through: oldest)
                dropped.inc()
                logger.warning("Forwarding spool over its limit; the oldest unsent segment was dropped", metadata: ["segment": "\(oldest)"])
            }
        } catch {
            logger.warning("Forwarding spool could not drop its oldest segment", metadata: ["err": "\(error)"])
        }
    }
}

/// Log-store commits into a spool, as Loki push requests or OTLP export requests, with the
/// destination's external labels.
struct LogSpooler: LogCommitObserver {
    enum Encoding { case loki, otlp }

    let spool: Spool
    let externalLabels: [Label]
    let encoding: Encoding

    func willCommit(_ entries: [(stream: Labels, entry: LogEntry)], sync: Bool) throws {
        let payload = switch encoding {
        case .loki: LokiPushEncoding.encode(entries, externalLabels: externalLabels)
        case .otlp: OTLPLogsEncoding.encode(entries, externalLabels: externalLabels)
        }
        try spool.prepare(payload, count: entries.count, sync: sync)
    }

    func didCommit(logged: Bool) { spool.settle(logged: logged) }
}

/// Trace-store commits into a spool: the export's per-trace requests side by side are one request.
struct TraceSpooler: TraceCommitObserver {
    let spool: Spool

    func willCommit(_ requests: [ByteBuffer], spans: Int, sync: Bool) throws {
        var payload = ByteBuffer()
        for request in requests { payload.writeImmutableBuffer(request) }
        try spool.prepare(payload, count: spans, sync: sync)
    }

    func didCommit(logged: Bool) { spool.settle(logged: logged) }
}
