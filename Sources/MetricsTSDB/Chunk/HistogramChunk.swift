import ObsCore

/// Native histogram samples on disk and in the WAL. Layout in `Chunk/FORMAT.md`.
///
/// Every float of a histogram (zero threshold, zero count, count, sum, bucket counts, custom bounds)
/// is written XORed with the float in the same position of the previous histogram of the chunk, as
/// a header byte (leading zero bytes, significant bytes) and the significant bytes. Consecutive
/// samples of a counter share layout and high bits, so most floats take one to three bytes.
struct HistogramEncoder {
    private var previous: [UInt64] = []
    private var floats: [UInt64] = []

    mutating func encode(_ histogram: FloatHistogram, into out: inout [UInt8]) {
        let custom = histogram.usesCustomBuckets
        out.append(histogram.resetHint.rawValue | (custom ? 0x04 : 0))
        Self.writeVarint(Varint.zigZag(Int64(histogram.schema)), into: &out)
        Self.writeIndexes(histogram.positive, into: &out)
        Self.writeIndexes(histogram.negative, into: &out)
        if custom { Self.writeVarint(UInt64(histogram.customValues.count), into: &out) }
        floats.removeAll(keepingCapacity: true)
        floats.append(histogram.zeroThreshold.bitPattern)
        floats.append(histogram.zeroCount.bitPattern)
        floats.append(histogram.count.bitPattern)
        floats.append(histogram.sum.bitPattern)
        for bucket in histogram.positive { floats.append(bucket.count.bitPattern) }
        for bucket in histogram.negative { floats.append(bucket.count.bitPattern) }
        for bound in histogram.customValues { floats.append(bound.bitPattern) }
        for (i, bits) in floats.enumerated() {
            Self.writeXOR(bits ^ (i < previous.count ? previous[i] : 0), into: &out)
        }
        swap(&previous, &floats)
    }

    /// Bucket indexes: a count, the first index zig-zag encoded, then gaps to the next index.
    private static func writeIndexes(_ buckets: [FloatHistogram.Bucket], into out: inout [UInt8]) {
        writeVarint(UInt64(buckets.count), into: &out)
        var last: Int32 = 0
        for (i, bucket) in buckets.enumerated() {
            if i == 0 {
                writeVarint(Varint.zigZag(Int64(bucket.index)), into: &out)
            } else {
                writeVarint(UInt64(bucket.index - last), into: &out)
            }
            last = bucket.index
        }
    }

    /// Header byte `leading zero bytes << 4 | significant bytes` (0 for an unchanged float), then the
    /// significant bytes, most significant first.
    private static func writeXOR(_ xor: UInt64, into out: inout [UInt8]) {
        guard xor != 0 else {
            out.append(0)
            return
        }
        let leading = xor.leadingZeroBitCount / 8
        let trailing = xor.trailingZeroBitCount / 8
        let significant = 8 - leading - trailing
        out.append(UInt8(leading << 4 | significant))
        for i in 0..<significant {
            out.append(UInt8(truncatingIfNeeded: xor >> UInt64(8 * (7 - leading - i))))
        }
    }

    static func writeVarint(_ value: UInt64, into out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
}

/// Reads what `HistogramEncoder` wrote, in the same order.
struct HistogramDecoder {
    private var previous: [UInt64] = []

    mutating func decode(_ cursor: inout RawCursor) throws -> FloatHistogram {
        let flags = try cursor.bytes(1)[0]
        guard flags & ~0x07 == 0, let hint = FloatHistogram.ResetHint(rawValue: flags & 0x03) else {
            throw cursor.corrupt("bad histogram flags \(flags)")
        }
        let custom = flags & 0x04 != 0
        let schema = try cursor.signedVarint()
        guard custom ? schema == Int64(FloatHistogram.customBucketsSchema) : (-4...8).contains(schema) else {
            throw cursor.corrupt("bad histogram schema \(schema)")
        }
        let positive = try Self.readIndexes(&cursor)
        let negative = try Self.readIndexes(&cursor)
        let customCount = custom ? Int(try Self.boundedCount(&cursor)) : 0
        let floatCount = 4 + positive.count + negative.count + customCount
        var floats = [UInt64](repeating: 0, count: floatCount)
        for i in 0..<floatCount {
            floats[i] = try Self.readXOR(&cursor) ^ (i < previous.count ? previous[i] : 0)
        }
        previous = floats
        var h = FloatHistogram(resetHint: hint, schema: Int32(schema),
                               zeroThreshold: Double(bitPattern: floats[0]), zeroCount: Double(bitPattern: floats[1]),
                               count: Double(bitPattern: floats[2]), sum: Double(bitPattern: floats[3]))
        var next = 4
        h.positive = positive.map { index in defer { next += 1 }; return FloatHistogram.Bucket(index, Double(bitPattern: floats[next])) }
        h.negative = negative.map { index in defer { next += 1 }; return FloatHistogram.Bucket(index, Double(bitPattern: floats[next])) }
        h.customValues = (0..<customCount).map { _ in defer { next += 1 }; return Double(bitPattern: floats[next]) }
        return h
    }

    private static func boundedCount(_ cursor: inout RawCursor) throws -> UInt64 {
        let count = try cursor.varint()
        // Every counted item takes at least one byte later on.
        guard count <= UInt64(cursor.bytes.count - cursor.offset) else { throw cursor.corrupt("histogram count \(count) too large") }
        return count
    }

    private static func readIndexes(_ cursor: inout RawCursor) throws -> [Int32] {
        let count = Int(try boundedCount(&cursor))
        var indexes: [Int32] = []
        indexes.reserveCapacity(count)
        var last: Int64 = 0
        for i in 0..<count {
            let index: Int64
            if i == 0 {
                index = try cursor.signedVarint()
            } else {
                // `last` fits Int32 (checked below): a delta beyond UInt32 cannot give a valid index.
                let delta = try cursor.varint()
                guard delta <= UInt64(UInt32.max) else { throw cursor.corrupt("bucket index delta \(delta) out of range") }
                index = last + Int64(delta)
            }
            guard let narrow = Int32(exactly: index) else { throw cursor.corrupt("bucket index \(index) out of range") }
            indexes.append(narrow)
            last = index
        }
        return indexes
    }

    private static func readXOR(_ cursor: inout RawCursor) throws -> UInt64 {
        let header = try cursor.bytes(1)[0]
        if header == 0 { return 0 }
        let leading = Int(header >> 4), significant = Int(header & 0x0F)
        guard significant >= 1, leading + significant <= 8 else { throw cursor.corrupt("bad float header \(header)") }
        var value: UInt64 = 0
        for byte in try cursor.bytes(significant) { value = value << 8 | UInt64(byte) }
        return value << UInt64(8 * (8 - leading - significant))
    }
}

/// A chunk of up to 120 histogram samples: the tag byte, a 16-bit sample count, then per sample a
/// timestamp (zig-zag delta to the previous one, the first absolute) and the encoded histogram.
struct HistogramChunkAppender {
    static let tag: UInt8 = 0x48
    static let maxSamples = 120

    private var body: [UInt8] = []
    private var encoder = HistogramEncoder()
    private(set) var count = 0
    private(set) var minTime: Int64 = 0
    private(set) var maxTime: Int64 = 0

    var isFull: Bool { count >= Self.maxSamples }

    var bytes: [UInt8] { [Self.tag, UInt8(count >> 8), UInt8(count & 0xFF)] + body }

    mutating func append(timestamp: Int64, histogram: FloatHistogram) {
        HistogramEncoder.writeVarint(Varint.zigZag(count == 0 ? timestamp : timestamp &- maxTime), into: &body)
        encoder.encode(histogram, into: &body)
        if count == 0 { minTime = timestamp }
        maxTime = timestamp
        count += 1
    }
}

/// Decodes a histogram chunk; corrupt input ends iteration with `failed` set.
struct HistogramChunkIterator {
    private let bytes: [UInt8]
    private var offset = 3
    private var decoder = HistogramDecoder()
    private let total: Int
    private var read = 0
    private(set) var timestamp: Int64 = 0
    private(set) var histogram = FloatHistogram()
    private(set) var failed = false

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        if bytes.count >= 3 && bytes[0] == HistogramChunkAppender.tag {
            total = Int(bytes[1]) << 8 | Int(bytes[2])
        } else {
            total = 0
            failed = true
        }
    }

    mutating func next() -> Bool {
        guard !failed, read < total else { return false }
        let ok: Bool = bytes.withUnsafeBytes { raw in
            var cursor = RawCursor(raw, file: "histogram chunk", codec: "chunk", at: offset)
            do {
                let delta = try cursor.signedVarint()
                timestamp = read == 0 ? delta : timestamp &+ delta
                histogram = try decoder.decode(&cursor)
                offset = cursor.offset
                return true
            } catch {
                return false
            }
        }
        guard ok else {
            failed = true
            return false
        }
        read += 1
        return true
    }
}
