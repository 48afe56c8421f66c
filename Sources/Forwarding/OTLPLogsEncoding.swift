import NIOCore
import ObsCore

/// Log entries as an OTLP `ExportLogsServiceRequest` (field numbers from `logs.proto`,
/// `common.proto` and `resource.proto`): each run of one stream is a `ResourceLogs` whose resource
/// attributes are the stream's labels (and the external labels it lacks), with one `ScopeLogs`
/// (scope `obs-agent`) of `LogRecord`s: `time_unix_nano` the entry's time, `body` its line as a
/// string, `attributes` its structured metadata. The labels the tailer derives from the kubelet's
/// log paths take the OpenTelemetry semantic-convention names a collector's receivers would give
/// them; every other label keeps its name.
enum OTLPLogsEncoding {
    static let semanticNames = [
        "namespace": "k8s.namespace.name", "pod": "k8s.pod.name", "pod_uid": "k8s.pod.uid",
        "container": "k8s.container.name", "filename": "log.file.path", "stream": "log.iostream",
    ]

    static func encode(_ entries: [(stream: Labels, entry: LogEntry)], externalLabels: [Label]) -> ByteBuffer {
        var writer = ProtobufWriter()
        forEachStreamRun(entries) { stream, slice in
            writer.writeMessage(field: 1) { resourceLogs in
                resourceLogs.writeMessage(field: 1) { resource in
                    for label in stream { attribute(semanticNames[label.name] ?? label.name, label.value, field: 1, into: &resource) }
                    for label in externalLabels where stream[label.name] == nil {
                        attribute(label.name, label.value, field: 1, into: &resource)
                    }
                }
                resourceLogs.writeMessage(field: 2) { scopeLogs in
                    scopeLogs.writeMessage(field: 1) { scope in scope.writeString(field: 1, "obs-agent") }
                    for item in slice {
                        scopeLogs.writeMessage(field: 2) { record in
                            record.writeFixed64(field: 1, UInt64(clamping: item.entry.timestamp))
                            record.writeMessage(field: 5) { body in body.writeString(field: 1, item.entry.line) }
                            for label in item.entry.metadata { attribute(label.name, label.value, field: 6, into: &record) }
                        }
                    }
                }
            }
        }
        return writer.buffer
    }

    /// `KeyValue{key = 1, value = 2 (AnyValue{string_value = 1})}` as `field`: a resource's
    /// attributes are its field 1, a log record's its field 6.
    private static func attribute(_ key: String, _ value: String, field: UInt64, into message: inout ProtobufWriter) {
        message.writeMessage(field: field) { pair in
            pair.writeString(field: 1, key)
            pair.writeMessage(field: 2) { any in any.writeString(field: 1, value) }
        }
    }
}
