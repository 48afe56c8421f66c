import NIOCore
import ObsCore

/// The records the metrics WAL holds. Encoding in `WAL/FORMAT.md`.
enum WALRecord: Equatable {
    case series([(ref: SeriesRef, labels: Labels)])
    case samples([WALSample])
    /// Samples of a series deleted in `[minTime, maxTime]`.
    case deletions([(ref: SeriesRef, minTime: Int64, maxTime: Int64)])

    static func == (lhs: WALRecord, rhs: WALRecord) -> Bool {
        switch (lhs, rhs) {
        case let (.series(a), .series(b)): a.elementsEqual(b) { $0.ref == $1.ref && $0.labels == $1.labels }
        case let (.samples(a), .samples(b)): a == b
        case let (.deletions(a), .deletions(b)):
            a.elementsEqual(b) { $0.ref == $1.ref && $0.minTime == $1.minTime && $0.maxTime == $1.maxTime }
        default: false
        }
    }

    enum Kind: UInt8 {
        case series = 1
        case samples = 2
        case deletions = 3
    }

    var kind: Kind {
        switch self {
        case .series: .series
        case .samples: .samples
        case .deletions: .deletions
        }
    }

    /// Appends the record's payload (without framing) to `buffer`.
    func encodePayload(into buffer: inout ByteBuffer) {
        switch self {
        case let .series(entries):
            buffer.writeVarint(UInt64(entries.count))
            for (ref, labels) in entries {
                buffer.writeVarint(ref)
                buffer.writeVarint(UInt64(labels.count))
                for label in labels {
                    buffer.writeVarint(UInt64(label.name.utf8.count))
                    buffer.writeString(label.name)
                    buffer.writeVarint(UInt64(label.value.utf8.count))
                    buffer.writeString(label.value)
                }
            }
        case let .deletions(entries):
            buffer.writeVarint(UInt64(entries.count))
            for entry in entries {
                buffer.writeVarint(entry.ref)
                buffer.writeSignedVarint(entry.minTime)
                buffer.writeSignedVarint(entry.maxTime)
            }
        case let .samples(samples):
            buffer.writeVarint(UInt64(samples.count))
            guard let first = samples.first else { return }
            buffer.writeVarint(first.ref)
            buffer.writeSignedVarint(first.timestamp)
            for sample in samples {
                // Deltas against the first sample keep references and timestamps to a byte or two.
                buffer.writeSignedVarint(Int64(bitPattern: sample.ref &- first.ref))
                buffer.writeSignedVarint(sample.timestamp &- first.timestamp)
                buffer.writeInteger(sample.value.bitPattern, endianness: .little)
            }
        }
    }

    /// Decodes a payload of `kind`. Throws on any malformed field.
    static func decode(kind: UInt8, payload: inout ByteBuffer) throws -> WALRecord {
        func corrupt(_ detail: String) -> CoreError { .corrupt(codec: "metrics wal", detail: detail) }
        func varint() throws -> UInt64 {
            guard let value = try payload.readVarint() else { throw corrupt("truncated varint") }
            return value
        }
        func signed() throws -> Int64 { Varint.unZigZag(try varint()) }
        func string() throws -> String {
            let length = try varint()
            guard length <= UInt64(payload.readableBytes), let text = payload.readString(length: Int(length)) else {
                throw corrupt("string runs past the record")
            }
            return text
        }
        switch Kind(rawValue: kind) {
        case .series:
            let count = try varint()
            guard count <= UInt64(payload.readableBytes) else { throw corrupt("series count \(count) too large") }
            var entries: [(ref: SeriesRef, labels: Labels)] = []
            entries.reserveCapacity(Int(count))
            for _ in 0..<count {
                let ref = try varint()
                let labelCount = try varint()
                guard labelCount <= UInt64(payload.readableBytes) else { throw corrupt("label count too large") }
                var pairs: [Label] = []
                for _ in 0..<labelCount { pairs.append(Label(try string(), try string())) }
                entries.append((ref, Labels(pairs)))
            }
            return .series(entries)
        case .samples:
            let count = try varint()
            // Each sample takes at least 10 bytes.
            guard count <= UInt64(payload.readableBytes) else { throw corrupt("sample count \(count) too large") }
            var samples: [WALSample] = []
            guard count > 0 else { return .samples([]) }
            samples.reserveCapacity(Int(count))
            let baseRef = try varint()
            let baseTime = try signed()
            for _ in 0..<count {
                let ref = baseRef &+ UInt64(bitPattern: try signed())
                let timestamp = baseTime &+ (try signed())
                guard let bits = payload.readInteger(endianness: .little, as: UInt64.self) else {
                    throw corrupt("truncated sample value")
                }
                samples.append(WALSample(ref: ref, timestamp: timestamp, value: Double(bitPattern: bits)))
            }
            return .samples(samples)
        case .deletions:
            let count = try varint()
            guard count <= UInt64(payload.readableBytes) else { throw corrupt("deletion count \(count) too large") }
            var entries: [(ref: SeriesRef, minTime: Int64, maxTime: Int64)] = []
            for _ in 0..<count { entries.append((try varint(), try signed(), try signed())) }
            return .deletions(entries)
        case nil:
            throw corrupt("unknown record type \(kind)")
        }
    }
}

struct WALSample: Equatable {
    var ref: SeriesRef
    var timestamp: Int64
    var value: Double

    static func == (lhs: WALSample, rhs: WALSample) -> Bool {
        lhs.ref == rhs.ref && lhs.timestamp == rhs.timestamp && lhs.value.bitPattern == rhs.value.bitPattern
    }
}
