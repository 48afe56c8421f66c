import NIOCore

/// A decoded Prometheus remote-write 1.0 `WriteRequest` (`prometheus.WriteRequest`, field numbers from
/// the protocol's `remote.proto` and `types.proto`): series with their float samples and native
/// histograms and exemplars. Metadata is counted and read past.
///
/// Decoding walks the body's bytes in place: a request of 2,000 series would otherwise make a buffer
/// slice (and its reference counting) per label and per sample. Labels stay on the wire until asked
/// for, so a series `WireSeriesCache` recognises never has a string decoded.
public struct RemoteWriteRequest {
    public struct Series {
        /// The label fields as they came, when they came in one run (senders put them first): what
        /// `WireSeriesCache` recognises a series by. Their inside is checked when decoded.
        public var wireLabels: ByteBuffer?
        /// Labels split by other fields, decoded while reading (then `wireLabels` is nil).
        var scatteredLabels: [Label] = []
        /// Where this series' float samples are in the request's `samples`.
        public var sampleRange: Range<Int>
        public var histograms: [(timestamp: Int64, histogram: FloatHistogram)] = []
        public var exemplars: [Exemplar] = []
        /// Why histograms of this series were refused.
        public var invalidHistograms: [String] = []

        /// The labels, decoded from the wire; throws on a malformed label field.
        public func decodedLabels() throws -> [Label] {
            guard let wireLabels else { return scatteredLabels }
            var reader = ProtobufReader(wireLabels, codec: RemoteWriteRequest.codec)
            return try RemoteWriteRequest.labelFields(&reader)
        }
    }

    public var series: [Series] = []
    /// Every series' float samples, in order; each series has its `sampleRange` of them.
    public var samples: [(timestamp: Int64, value: Double)] = []
    public var metadataCount = 0

    static let codec = "remote write"

    /// Decodes the protobuf body (already snappy-decoded).
    public init(protobuf: ByteBuffer) throws {
        try protobuf.withUnsafeReadableBytes { bytes in
            var cursor = WireCursor(bytes: bytes)
            while let (number, type) = try cursor.nextField() {
                switch (number, type) {
                case (1, .lengthDelimited):
                    let message = try cursor.lengthDelimited()
                    series.append(try decodeSeries(bytes, message, body: protobuf))
                case (3, .lengthDelimited):
                    _ = try cursor.lengthDelimited()
                    metadataCount += 1
                default:
                    try cursor.skip(type)
                }
            }
        }
    }

    private mutating func decodeSeries(_ bytes: UnsafeRawBufferPointer, _ message: Range<Int>, body: ByteBuffer) throws -> Series {
        var result = Series(sampleRange: samples.count..<samples.count)
        var cursor = WireCursor(bytes: bytes, offset: message.lowerBound, end: message.upperBound)
        // The first run of label fields, whether it has ended, and whether a label came after it.
        var run: Range<Int>?
        var runEnded = false
        var scattered = false
        func slice(_ range: Range<Int>) -> ByteBuffer {
            body.getSlice(at: body.readerIndex + range.lowerBound, length: range.count)!
        }
        while true {
            let fieldStart = cursor.offset
            guard let (number, type) = try cursor.nextField() else { break }
            if number == 1 && type == .lengthDelimited {
                _ = try cursor.lengthDelimited()
                if let current = run {
                    if runEnded { scattered = true } else { run = current.lowerBound..<cursor.offset }
                } else {
                    run = fieldStart..<cursor.offset
                }
                continue
            }
            if run != nil { runEnded = true }
            switch (number, type) {
            case (2, .lengthDelimited):
                var sample = WireCursor(bytes: bytes, range: try cursor.lengthDelimited())
                var value = 0.0
                var timestamp: Int64 = 0
                while let (field, fieldType) = try sample.nextField() {
                    switch (field, fieldType) {
                    case (1, .fixed64): value = Double(bitPattern: try sample.fixed64())
                    case (2, .varint): timestamp = Int64(bitPattern: try sample.varint())
                    default: try sample.skip(fieldType)
                    }
                }
                samples.append((timestamp, value))
            case (3, .lengthDelimited):
                var reader = ProtobufReader(slice(try cursor.lengthDelimited()), codec: Self.codec)
                result.exemplars.append(try Self.decodeExemplar(&reader))
            case (4, .lengthDelimited):
                var reader = ProtobufReader(slice(try cursor.lengthDelimited()), codec: Self.codec)
                do {
                    result.histograms.append(try RemoteWriteHistogram.decode(&reader))
                } catch let invalid as RemoteWriteHistogram.Invalid {
                    result.invalidHistograms.append(invalid.reason)
                }
            default:
                try cursor.skip(type)
            }
        }
        result.sampleRange = result.sampleRange.lowerBound..<samples.count
        if scattered {
            // Labels split by other fields: decoded the plain way, never recognised by their bytes.
            var reader = ProtobufReader(slice(message), codec: Self.codec)
            result.scatteredLabels = try Self.labelFields(&reader)
        } else if let run {
            result.wireLabels = slice(run)
        }
        return result
    }

    /// Reads protobuf fields from raw bytes by offset; every read is bounds-checked and throws
    /// `CoreError.corrupt` as `ProtobufReader` does.
    struct WireCursor {
        let bytes: UnsafeRawBufferPointer
        var offset: Int
        let end: Int

        init(bytes: UnsafeRawBufferPointer, offset: Int = 0, end: Int? = nil) {
            self.bytes = bytes
            self.offset = offset
            self.end = end ?? bytes.count
        }

        init(bytes: UnsafeRawBufferPointer, range: Range<Int>) {
            self.init(bytes: bytes, offset: range.lowerBound, end: range.upperBound)
        }

        private func corrupt(_ detail: String) -> CoreError { .corrupt(codec: RemoteWriteRequest.codec, detail: detail) }

        mutating func nextField() throws -> (number: UInt64, type: ProtobufReader.WireType)? {
            guard offset < end else { return nil }
            let key = try varint()
            guard let type = ProtobufReader.WireType(rawValue: UInt8(key & 7)) else {
                throw corrupt("unsupported wire type \(key & 7)")
            }
            guard key >> 3 > 0 else { throw corrupt("field number 0") }
            return (key >> 3, type)
        }

        @inline(__always)
        mutating func varint() throws -> UInt64 {
            if offset < end, bytes[offset] < 0x80 {
                defer { offset += 1 }
                return UInt64(bytes[offset])
            }
            guard let (value, length) = try Varint.decode(UnsafeRawBufferPointer(rebasing: bytes[offset..<end])) else {
                throw corrupt("truncated varint")
            }
            offset += length
            return value
        }

        mutating func fixed64() throws -> UInt64 {
            guard end - offset >= 8 else { throw corrupt("truncated fixed64") }
            defer { offset += 8 }
            return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }

        /// A length-delimited field's bytes, as a range of `bytes`.
        mutating func lengthDelimited() throws -> Range<Int> {
            let length = try varint()
            guard length <= UInt64(end - offset) else { throw corrupt("field of \(length) bytes runs past the end") }
            defer { offset += Int(length) }
            return offset..<offset + Int(length)
        }

        mutating func skip(_ type: ProtobufReader.WireType) throws {
            switch type {
            case .varint: _ = try varint()
            case .fixed64: _ = try fixed64()
            case .fixed32:
                guard end - offset >= 4 else { throw corrupt("truncated fixed32") }
                offset += 4
            case .lengthDelimited: _ = try lengthDelimited()
            }
        }
    }

    /// Every label field (field 1) of a series message, decoded; other fields are passed over.
    public static func labelFields(_ reader: inout ProtobufReader) throws -> [Label] {
        var labels: [Label] = []
        while let (number, type) = try reader.nextField() {
            if number == 1 && type == .lengthDelimited {
                var label = try reader.message()
                labels.append(try decodeLabel(&label))
            } else {
                try reader.skip(type)
            }
        }
        return labels
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
