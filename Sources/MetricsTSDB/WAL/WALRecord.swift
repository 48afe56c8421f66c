import NIOCore
import ObsCore

/// The records the metrics WAL holds. Encoding in `WAL/FORMAT.md`.
enum WALRecord: Equatable, LogRecord {
    /// Magic, format version, flags. Version 2 added snappy-compressed payloads, version 3 the
    /// exemplar record, version 4 the head-chunks record of snapshots, version 5 decimal chunks
    /// among a snapshot's closed chunks; files of versions 1 (never compressed) to 4 are still read.
    static let logMagic: [UInt8] = Array("OBSWAL".utf8) + [5, 0]
    static let readableVersions: Set<UInt8> = [1, 2, 3, 4, 5]
    static let firstCompressedVersion: UInt8 = 2
    static let firstZstdVersion: UInt8? = 4
    static let compressesPayloads = true

    var kindByte: UInt8 { kind.rawValue }

    case series([(ref: SeriesRef, labels: Labels)])
    case samples([WALSample])
    /// Samples of a series deleted in `[minTime, maxTime]`.
    case deletions([(ref: SeriesRef, minTime: Int64, maxTime: Int64)])
    case histograms([WALHistogram])
    case exemplars([WALExemplar])
    /// Series' head state as encoded chunks: written by the snapshot taken on close, restored
    /// without re-encoding a sample.
    case headChunks([WALSeriesChunks])

    static func == (lhs: WALRecord, rhs: WALRecord) -> Bool {
        switch (lhs, rhs) {
        case let (.series(a), .series(b)): a.elementsEqual(b) { $0.ref == $1.ref && $0.labels == $1.labels }
        case let (.samples(a), .samples(b)): a == b
        case let (.histograms(a), .histograms(b)): a == b
        case let (.exemplars(a), .exemplars(b)): a == b
        case let (.headChunks(a), .headChunks(b)): a == b
        case let (.deletions(a), .deletions(b)):
            a.elementsEqual(b) { $0.ref == $1.ref && $0.minTime == $1.minTime && $0.maxTime == $1.maxTime }
        default: false
        }
    }

    enum Kind: UInt8 {
        case series = 1
        case samples = 2
        case deletions = 3
        case histograms = 4
        case exemplars = 5
        case headChunks = 6
    }

    var kind: Kind {
        switch self {
        case .series: .series
        case .samples: .samples
        case .deletions: .deletions
        case .histograms: .histograms
        case .exemplars: .exemplars
        case .headChunks: .headChunks
        }
    }

    /// Appends the record's payload (without framing) to `buffer`.
    func encodePayload(into buffer: inout ByteBuffer) {
        switch self {
        case let .series(entries):
            buffer.writeVarint(UInt64(entries.count))
            for (ref, labels) in entries {
                buffer.writeVarint(ref)
                Self.write(labels, into: &buffer)
            }
        case let .exemplars(entries):
            buffer.writeVarint(UInt64(entries.count))
            for entry in entries {
                buffer.writeVarint(entry.ref)
                buffer.writeSignedVarint(entry.exemplar.timestamp)
                buffer.writeInteger(entry.exemplar.value.bitPattern, endianness: .little)
                Self.write(entry.exemplar.labels, into: &buffer)
            }
        case let .deletions(entries):
            buffer.writeVarint(UInt64(entries.count))
            for entry in entries {
                buffer.writeVarint(entry.ref)
                buffer.writeSignedVarint(entry.minTime)
                buffer.writeSignedVarint(entry.maxTime)
            }
        case let .headChunks(entries):
            buffer.writeVarint(UInt64(entries.count))
            for entry in entries { entry.encode(into: &buffer) }
        case let .histograms(samples):
            buffer.writeVarint(UInt64(samples.count))
            var encoder = HistogramEncoder()
            var bytes: [UInt8] = []
            for sample in samples {
                bytes.removeAll(keepingCapacity: true)
                HistogramEncoder.writeVarint(sample.ref, into: &bytes)
                HistogramEncoder.writeVarint(Varint.zigZag(sample.timestamp), into: &bytes)
                encoder.encode(sample.histogram, into: &bytes)
                buffer.writeBytes(bytes)
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

    private static func write(_ labels: Labels, into buffer: inout ByteBuffer) {
        buffer.writeVarint(UInt64(labels.count))
        for label in labels {
            buffer.writeVarint(UInt64(label.name.utf8.count))
            buffer.writeString(label.name)
            buffer.writeVarint(UInt64(label.value.utf8.count))
            buffer.writeString(label.value)
        }
    }

    private static func readLabels(_ cursor: inout RawCursor) throws -> Labels {
        let count = try cursor.varint()
        guard count <= UInt64(cursor.bytes.count - cursor.offset) else { throw cursor.corrupt("label count too large") }
        var pairs: [Label] = []
        pairs.reserveCapacity(Int(count))
        for _ in 0..<count { pairs.append(Label(try cursor.string(), try cursor.string())) }
        return Labels(pairs)
    }

    /// Decodes a payload of `kind`. Throws on any malformed field.
    static func decode(kind: UInt8, payload: inout ByteBuffer) throws -> WALRecord {
        let record = try payload.withUnsafeReadableBytes { bytes in
            var cursor = RawCursor(bytes, file: "metrics wal record", codec: "metrics wal")
            let record = try decode(kind: kind, &cursor)
            guard cursor.offset == bytes.count else { throw cursor.corrupt("\(bytes.count - cursor.offset) bytes left over") }
            return record
        }
        payload.moveReaderIndex(to: payload.writerIndex)
        return record
    }

    /// Decodes straight from the payload's bytes; every read is bounds-checked by the cursor.
    private static func decode(kind: UInt8, _ cursor: inout RawCursor) throws -> WALRecord {
        let remaining = { (cursor: RawCursor) in UInt64(cursor.bytes.count - cursor.offset) }
        switch Kind(rawValue: kind) {
        case .series:
            let count = try cursor.varint()
            guard count <= remaining(cursor) else { throw cursor.corrupt("series count \(count) too large") }
            var entries: [(ref: SeriesRef, labels: Labels)] = []
            entries.reserveCapacity(Int(count))
            for _ in 0..<count {
                let ref = try cursor.varint()
                entries.append((ref, try readLabels(&cursor)))
            }
            return .series(entries)
        case .exemplars:
            let count = try cursor.varint()
            guard count <= remaining(cursor) else { throw cursor.corrupt("exemplar count \(count) too large") }
            var entries: [WALExemplar] = []
            for _ in 0..<count {
                let ref = try cursor.varint()
                let timestamp = try cursor.signedVarint()
                let value = Double(bitPattern: try cursor.u64())
                entries.append(WALExemplar(ref: ref, exemplar: Exemplar(labels: try readLabels(&cursor), value: value, timestamp: timestamp)))
            }
            return .exemplars(entries)
        case .samples:
            let count = try cursor.varint()
            // Each sample takes at least 10 bytes.
            guard count <= remaining(cursor) else { throw cursor.corrupt("sample count \(count) too large") }
            guard count > 0 else { return .samples([]) }
            var samples: [WALSample] = []
            samples.reserveCapacity(Int(count))
            let baseRef = try cursor.varint()
            let baseTime = try cursor.signedVarint()
            for _ in 0..<count {
                let ref = baseRef &+ UInt64(bitPattern: try cursor.signedVarint())
                let timestamp = baseTime &+ (try cursor.signedVarint())
                let bits = try cursor.u64()
                samples.append(WALSample(ref: ref, timestamp: timestamp, value: Double(bitPattern: bits)))
            }
            return .samples(samples)
        case .deletions:
            let count = try cursor.varint()
            guard count <= remaining(cursor) else { throw cursor.corrupt("deletion count \(count) too large") }
            var entries: [(ref: SeriesRef, minTime: Int64, maxTime: Int64)] = []
            for _ in 0..<count { entries.append((try cursor.varint(), try cursor.signedVarint(), try cursor.signedVarint())) }
            return .deletions(entries)
        case .histograms:
            let count = try cursor.varint()
            guard count <= remaining(cursor) else { throw cursor.corrupt("histogram count \(count) too large") }
            var decoder = HistogramDecoder()
            var samples: [WALHistogram] = []
            for _ in 0..<count {
                let ref = try cursor.varint()
                let timestamp = try cursor.signedVarint()
                samples.append(WALHistogram(ref: ref, timestamp: timestamp, histogram: try decoder.decode(&cursor)))
            }
            return .histograms(samples)
        case .headChunks:
            let count = try cursor.varint()
            guard count <= remaining(cursor) else { throw cursor.corrupt("head chunks count \(count) too large") }
            var entries: [WALSeriesChunks] = []
            for _ in 0..<count { entries.append(try WALSeriesChunks(decoding: &cursor)) }
            return .headChunks(entries)
        case nil:
            throw cursor.corrupt("unknown record type \(kind)")
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

struct WALExemplar: Equatable {
    var ref: SeriesRef
    var exemplar: Exemplar
}

struct WALHistogram: Equatable {
    var ref: SeriesRef
    var timestamp: Int64
    var histogram: FloatHistogram
}
