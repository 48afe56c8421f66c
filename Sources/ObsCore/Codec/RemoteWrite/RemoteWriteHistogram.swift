import NIOCore

/// Decodes a remote-write `prometheus.Histogram` message (field numbers from `types.proto`) into the
/// store's float form: integer or float counts, spans with delta (integer) or absolute (float)
/// bucket counts, custom bounds for schema −53. Packed and unpacked repeated fields are both read.
/// Encodes the other way for forwarding.
public enum RemoteWriteHistogram {
    struct Span {
        var offset: Int32
        var length: UInt32
    }

    static func decode(_ reader: inout ProtobufReader) throws -> (timestamp: Int64, histogram: FloatHistogram) {
        var h = FloatHistogram()
        var timestamp: Int64 = 0
        var positiveSpans: [Span] = [], negativeSpans: [Span] = []
        var positiveDeltas: [Int64] = [], negativeDeltas: [Int64] = []
        var positiveCounts: [Double] = [], negativeCounts: [Double] = []
        var customValues: [Double] = []
        var zeroCountInt: UInt64?, zeroCountFloat: Double?
        var countInt: UInt64?, countFloat: Double?
        while let (number, type) = try reader.nextField() {
            switch (number, type) {
            case (1, .varint): countInt = try reader.varint()
            case (2, .fixed64): countFloat = Double(bitPattern: try reader.fixed64())
            case (3, .fixed64): h.sum = Double(bitPattern: try reader.fixed64())
            case (4, .varint): h.schema = Int32(truncatingIfNeeded: Varint.unZigZag(try reader.varint()))
            case (5, .fixed64): h.zeroThreshold = Double(bitPattern: try reader.fixed64())
            case (6, .varint): zeroCountInt = try reader.varint()
            case (7, .fixed64): zeroCountFloat = Double(bitPattern: try reader.fixed64())
            case (8, .lengthDelimited): negativeSpans.append(try span(&reader))
            case (9, _): try signedVarints(&reader, type, into: &negativeDeltas)
            case (10, _): try doubles(&reader, type, into: &negativeCounts)
            case (11, .lengthDelimited): positiveSpans.append(try span(&reader))
            case (12, _): try signedVarints(&reader, type, into: &positiveDeltas)
            case (13, _): try doubles(&reader, type, into: &positiveCounts)
            case (14, .varint):
                h.resetHint = FloatHistogram.ResetHint(rawValue: UInt8(truncatingIfNeeded: try reader.varint())) ?? .unknown
            case (15, .varint): timestamp = Int64(bitPattern: try reader.varint())
            case (16, _): try doubles(&reader, type, into: &customValues)
            default: try reader.skip(type)
            }
        }
        let isFloat = countFloat != nil || zeroCountFloat != nil || !positiveCounts.isEmpty || !negativeCounts.isEmpty
        h.count = countFloat ?? Double(countInt ?? 0)
        h.zeroCount = zeroCountFloat ?? Double(zeroCountInt ?? 0)
        // As Prometheus validates: counts cannot be negative (NaN is allowed for float histograms).
        guard !(h.count < 0), !(h.zeroCount < 0) else { throw problem("the observation count or zero count is negative") }
        if h.schema == FloatHistogram.customBucketsSchema {
            guard zip(customValues, customValues.dropFirst()).allSatisfy({ $0 < $1 }), customValues.allSatisfy({ $0.isFinite }) else {
                throw problem("custom bucket bounds must be finite and strictly increasing")
            }
            guard negativeSpans.isEmpty else { throw problem("histograms with custom buckets have no negative buckets") }
            h.customValues = customValues
        } else {
            guard (-4...8).contains(h.schema) else { throw problem("histogram schema \(h.schema) is not between -4 and 8") }
        }
        h.positive = try buckets(positiveSpans, deltas: positiveDeltas, counts: positiveCounts, isFloat: isFloat, side: "positive")
        h.negative = try buckets(negativeSpans, deltas: negativeDeltas, counts: negativeCounts, isFloat: isFloat, side: "negative")
        if h.usesCustomBuckets, let last = h.positive.last, Int(last.index) > customValues.count {
            throw problem("bucket index \(last.index) is beyond the \(customValues.count) custom bounds")
        }
        return (timestamp, h)
    }

    /// A histogram that decoded but cannot be stored; the rest of the request still can.
    struct Invalid: Error {
        var reason: String
    }

    private static func problem(_ text: String) -> Invalid {
        Invalid(reason: "invalid native histogram: " + text)
    }

    /// Sparse buckets from spans and counts (absolute for float histograms, deltas for integer ones).
    private static func buckets(_ spans: [Span], deltas: [Int64], counts: [Double], isFloat: Bool,
                                side: String) throws -> [FloatHistogram.Bucket] {
        let expected = spans.reduce(0) { $0 + Int($1.length) }
        let given = isFloat ? counts.count : deltas.count
        guard expected == given else {
            throw problem("\(side) spans describe \(expected) buckets but \(given) counts were sent")
        }
        var out: [FloatHistogram.Bucket] = []
        out.reserveCapacity(given)
        var index: Int64 = 0
        var position = 0
        var running: Int64 = 0
        for (i, span) in spans.enumerated() {
            index += Int64(span.offset)
            if i > 0 && span.offset < 0 { throw problem("\(side) span \(i) has a negative offset") }
            for _ in 0..<span.length {
                let count: Double
                if isFloat {
                    count = counts[position]
                } else {
                    running &+= deltas[position]
                    count = Double(running)
                }
                guard let narrow = Int32(exactly: index) else { throw problem("bucket index \(index) out of range") }
                guard !(count < 0) else { throw problem("\(side) bucket \(index) has a negative observation count (\(count))") }
                if count != 0 { out.append(FloatHistogram.Bucket(narrow, count)) }
                index += 1
                position += 1
            }
        }
        return out
    }

    private static func span(_ reader: inout ProtobufReader) throws -> Span {
        var message = try reader.message()
        var span = Span(offset: 0, length: 0)
        while let (number, type) = try message.nextField() {
            switch (number, type) {
            case (1, .varint): span.offset = Int32(truncatingIfNeeded: Varint.unZigZag(try message.varint()))
            case (2, .varint): span.length = UInt32(truncatingIfNeeded: try message.varint())
            default: try message.skip(type)
            }
        }
        return span
    }

    private static func signedVarints(_ reader: inout ProtobufReader, _ type: ProtobufReader.WireType,
                                      into out: inout [Int64]) throws {
        switch type {
        case .varint: out.append(Varint.unZigZag(try reader.varint()))
        case .lengthDelimited:
            var packed = ProtobufReader(try reader.lengthDelimited(), codec: RemoteWriteRequest.codec)
            while !packed.isAtEnd { out.append(Varint.unZigZag(try packed.varint())) }
        default: try reader.skip(type)
        }
    }

    private static func doubles(_ reader: inout ProtobufReader, _ type: ProtobufReader.WireType,
                                into out: inout [Double]) throws {
        switch type {
        case .fixed64: out.append(Double(bitPattern: try reader.fixed64()))
        case .lengthDelimited:
            var packed = ProtobufReader(try reader.lengthDelimited(), codec: RemoteWriteRequest.codec)
            while !packed.isAtEnd { out.append(Double(bitPattern: try packed.fixed64())) }
        default: try reader.skip(type)
        }
    }

    /// The `prometheus.Histogram` message for `histogram` at `timestamp`. Integer counts (bucket
    /// counts as deltas) when every count is a whole number, as receivers without float-histogram
    /// support (Prometheus 2.42) read them; float counts (absolute) otherwise.
    public static func encode(_ histogram: FloatHistogram, timestamp: Int64) -> ByteBuffer {
        func whole(_ value: Double) -> Bool { value >= 0 && value < 9.2e18 && value.rounded() == value }
        let integral = whole(histogram.count) && whole(histogram.zeroCount)
            && histogram.positive.allSatisfy { whole($0.count) } && histogram.negative.allSatisfy { whole($0.count) }
        var writer = ProtobufWriter()
        if integral { writer.writeVarint(field: 1, UInt64(histogram.count)) } else { writer.writeFixed64(field: 2, histogram.count.bitPattern) }
        writer.writeFixed64(field: 3, histogram.sum.bitPattern)
        writer.writeVarint(field: 4, Varint.zigZag(Int64(histogram.schema)))
        writer.writeFixed64(field: 5, histogram.zeroThreshold.bitPattern)
        if integral {
            writer.writeVarint(field: 6, UInt64(histogram.zeroCount))
        } else {
            writer.writeFixed64(field: 7, histogram.zeroCount.bitPattern)
        }
        for (buckets, spansField) in [(histogram.negative, UInt64(8)), (histogram.positive, UInt64(11))] where !buckets.isEmpty {
            for span in spans(of: buckets) {
                writer.writeMessage(field: spansField) { message in
                    message.writeVarint(field: 1, Varint.zigZag(Int64(span.offset)))
                    message.writeVarint(field: 2, UInt64(span.length))
                }
            }
            var packed = ByteBuffer()
            var previous: Int64 = 0
            for bucket in buckets {
                if integral {
                    let count = Int64(bucket.count)
                    packed.writeSignedVarint(count &- previous)
                    previous = count
                } else {
                    packed.writeInteger(bucket.count.bitPattern, endianness: .little)
                }
            }
            // Deltas (9, 12) or counts (10, 13) follow each side's spans field.
            writer.writeBytes(field: spansField + (integral ? 1 : 2), packed)
        }
        if histogram.resetHint != .unknown { writer.writeVarint(field: 14, UInt64(histogram.resetHint.rawValue)) }
        writer.writeVarint(field: 15, UInt64(bitPattern: timestamp))
        if !histogram.customValues.isEmpty {
            var packed = ByteBuffer()
            for bound in histogram.customValues { packed.writeInteger(bound.bitPattern, endianness: .little) }
            writer.writeBytes(field: 16, packed)
        }
        return writer.buffer
    }

    /// Runs of consecutive bucket indices: the first span's offset is its first index, each later
    /// one's the gap after the previous run.
    static func spans(of buckets: [FloatHistogram.Bucket]) -> [Span] {
        var spans: [Span] = []
        var next: Int64 = 0
        for bucket in buckets {
            let index = Int64(bucket.index)
            if let last = spans.indices.last, index == next {
                spans[last].length += 1
            } else {
                spans.append(Span(offset: Int32(truncatingIfNeeded: spans.isEmpty ? index : index - next), length: 1))
            }
            next = index + 1
        }
        return spans
    }
}
