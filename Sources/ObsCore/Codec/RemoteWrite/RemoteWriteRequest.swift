import NIOCore

/// A decoded Prometheus remote-write 1.0 `WriteRequest` (`prometheus.WriteRequest`, field numbers from
/// the protocol's `remote.proto` and `types.proto`): series with their float samples and native
/// histograms and exemplars. Metadata is counted and read past.
public struct RemoteWriteRequest {
    public struct Series {
        public var labels: [Label]
        public var samples: [(timestamp: Int64, value: Double)]
        public var histograms: [(timestamp: Int64, histogram: FloatHistogram)] = []
        public var exemplars: [Exemplar] = []
        /// Why histograms of this series were refused.
        public var invalidHistograms: [String] = []
    }

    public var series: [Series] = []
    public var metadataCount = 0

    static let codec = "remote write"

    /// Decodes the protobuf body (already snappy-decoded).
    public init(protobuf: ByteBuffer) throws {
        var reader = ProtobufReader(protobuf, codec: Self.codec)
        while let (number, type) = try reader.nextField() {
            switch (number, type) {
            case (1, .lengthDelimited):
                var message = try reader.message()
                series.append(try Self.decodeSeries(&message))
            case (3, .lengthDelimited):
                _ = try reader.lengthDelimited()
                metadataCount += 1
            default:
                try reader.skip(type)
            }
        }
    }

    private static func decodeSeries(_ reader: inout ProtobufReader) throws -> Series {
        var result = Series(labels: [], samples: [])
        while let (number, type) = try reader.nextField() {
            switch (number, type) {
            case (1, .lengthDelimited):
                var label = try reader.message()
                result.labels.append(try decodeLabel(&label))
            case (3, .lengthDelimited):
                var message = try reader.message()
                result.exemplars.append(try decodeExemplar(&message))
            case (2, .lengthDelimited):
                var sample = try reader.message()
                var value = 0.0
                var timestamp: Int64 = 0
                while let (field, fieldType) = try sample.nextField() {
                    switch (field, fieldType) {
                    case (1, .fixed64): value = Double(bitPattern: try sample.fixed64())
                    case (2, .varint): timestamp = Int64(bitPattern: try sample.varint())
                    default: try sample.skip(fieldType)
                    }
                }
                result.samples.append((timestamp, value))
            case (4, .lengthDelimited):
                var message = try reader.message()
                do {
                    result.histograms.append(try RemoteWriteHistogram.decode(&message))
                } catch let invalid as RemoteWriteHistogram.Invalid {
                    result.invalidHistograms.append(invalid.reason)
                }
            default:
                try reader.skip(type)
            }
        }
        return result
    }

    /// `prometheus.Label`: name 1, value 2.
    private static func decodeLabel(_ reader: inout ProtobufReader) throws -> Label {
        var name = "", value = ""
        while let (field, fieldType) = try reader.nextField() {
            switch (field, fieldType) {
            case (1, .lengthDelimited): name = try reader.string()
            case (2, .lengthDelimited): value = try reader.string()
            default: try reader.skip(fieldType)
            }
        }
        return Label(name, value)
    }

    /// `prometheus.Exemplar`: labels 1, value 2, timestamp 3 (milliseconds).
    private static func decodeExemplar(_ reader: inout ProtobufReader) throws -> Exemplar {
        var labels: [Label] = []
        var value = 0.0
        var timestamp: Int64 = 0
        while let (field, fieldType) = try reader.nextField() {
            switch (field, fieldType) {
            case (1, .lengthDelimited):
                var label = try reader.message()
                labels.append(try decodeLabel(&label))
            case (2, .fixed64): value = Double(bitPattern: try reader.fixed64())
            case (3, .varint): timestamp = Int64(bitPattern: try reader.varint())
            default: try reader.skip(fieldType)
            }
        }
        return Exemplar(labels: Labels(labels), value: value, timestamp: timestamp)
    }

    /// Checks a series' labels as Prometheus does before storing: a metric name, valid and unique
    /// label names. Returns the label set or a reason.
    public static func validate(_ labels: [Label]) -> Result<Labels, AppendError> {
        // Senders sort labels by name; sorting here is a no-op pass for them and makes duplicates adjacent.
        var sorted = labels
        if !sorted.isEmpty && !zip(sorted, sorted.dropFirst()).allSatisfy({ $0.name <= $1.name }) {
            sorted.sort { $0.name < $1.name }
        }
        var rendered: Labels { Labels(labels) }
        for (index, label) in sorted.enumerated() {
            if index > 0 && sorted[index - 1].name == label.name {
                return .failure(.invalidLabels(labels: rendered, reason: "duplicate label name \"\(label.name)\""))
            }
            guard Self.isValidLabelName(label.name) else {
                return .failure(.invalidLabels(labels: rendered, reason: "invalid label name \"\(label.name)\""))
            }
        }
        let set = Labels(sortedUnchecked: sorted.filter { !$0.value.isEmpty })
        guard let name = set.metricName, !name.isEmpty else {
            return .failure(.invalidLabels(labels: set, reason: "missing metric name"))
        }
        return .success(set)
    }

    /// Prometheus 3 accepts any UTF-8 label name; the empty name is the one that is always invalid.
    static func isValidLabelName(_ name: String) -> Bool { !name.isEmpty }
}
