import NIOCore
import ObsCore

/// A remote-write 1.0 `WriteRequest` built from samples and exemplars grouped by series (field
/// numbers from Prometheus's `remote.proto` and `types.proto`), snappy-compressed for the wire.
struct RemoteWriteBatch {
    struct Series {
        var labels: Labels
        var samples: [(timestamp: Int64, value: Double)] = []
        var exemplars: [Exemplar] = []
    }

    var series: [Series] = []
    /// Samples each sent as a series of its own (as Prometheus's queue sends them): no grouping.
    var singles: [(labels: Labels, timestamp: Int64, value: Double)] = []
    /// Native histogram samples, each a series of its own.
    var histograms: [(labels: Labels, timestamp: Int64, histogram: FloatHistogram)] = []
    var sampleCount = 0
    var exemplarCount = 0
    var highestTimestamp = Int64.min

    /// `WriteRequest{timeseries = 1}`, each `TimeSeries{labels = 1, samples = 2, exemplars = 3}`.
    /// Message sizes are computed first, so everything is written once into one buffer.
    func encoded() -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: (series.count + singles.count) * 160 + sampleCount * 12)
        for single in singles {
            var size = Self.framed(Self.sampleSize(single.timestamp))
            for label in single.labels { size += Self.framed(Self.labelSize(label)) }
            Self.tag(1, length: size, into: &buffer)
            for label in single.labels { Self.write(label, field: 1, into: &buffer) }
            Self.tag(2, length: Self.sampleSize(single.timestamp), into: &buffer)
            buffer.writeInteger(UInt8(0x09))
            buffer.writeInteger(single.value.bitPattern, endianness: .little)
            buffer.writeInteger(UInt8(0x10))
            buffer.writeVarint(UInt64(bitPattern: single.timestamp))
        }
        for entry in series {
            var size = 0
            for label in entry.labels { size += Self.framed(Self.labelSize(label)) }
            for sample in entry.samples { size += Self.framed(Self.sampleSize(sample.timestamp)) }
            for exemplar in entry.exemplars { size += Self.framed(Self.exemplarSize(exemplar)) }
            Self.tag(1, length: size, into: &buffer)
            for label in entry.labels { Self.write(label, field: 1, into: &buffer) }
            for sample in entry.samples {
                Self.tag(2, length: Self.sampleSize(sample.timestamp), into: &buffer)
                buffer.writeInteger(UInt8(0x09))
                buffer.writeInteger(sample.value.bitPattern, endianness: .little)
                buffer.writeInteger(UInt8(0x10))
                buffer.writeVarint(UInt64(bitPattern: sample.timestamp))
            }
            for exemplar in entry.exemplars {
                Self.tag(3, length: Self.exemplarSize(exemplar), into: &buffer)
                for label in exemplar.labels { Self.write(label, field: 1, into: &buffer) }
                buffer.writeInteger(UInt8(0x11))
                buffer.writeInteger(exemplar.value.bitPattern, endianness: .little)
                buffer.writeInteger(UInt8(0x18))
                buffer.writeVarint(UInt64(bitPattern: exemplar.timestamp))
            }
        }
        for entry in histograms {
            let message = RemoteWriteHistogram.encode(entry.histogram, timestamp: entry.timestamp)
            var size = Self.framed(message.readableBytes)
            for label in entry.labels { size += Self.framed(Self.labelSize(label)) }
            Self.tag(1, length: size, into: &buffer)
            for label in entry.labels { Self.write(label, field: 1, into: &buffer) }
            Self.tag(4, length: message.readableBytes, into: &buffer)
            buffer.writeImmutableBuffer(message)
        }
        return Snappy.compress(buffer)
    }

    /// A length-delimited field's tag and length.
    private static func tag(_ field: UInt64, length: Int, into buffer: inout ByteBuffer) {
        buffer.writeVarint(field << 3 | 2)
        buffer.writeVarint(UInt64(length))
    }

    /// A nested message of `size` bytes with its one-byte tag and length prefix.
    private static func framed(_ size: Int) -> Int { 1 + Varint.encodedLength(UInt64(size)) + size }

    private static func stringSize(_ text: String) -> Int { framed(text.utf8.count) }

    private static func labelSize(_ label: Label) -> Int { stringSize(label.name) + stringSize(label.value) }

    /// `Sample{value = 1 (double), timestamp = 2 (int64)}`.
    private static func sampleSize(_ timestamp: Int64) -> Int { 9 + 1 + Varint.encodedLength(UInt64(bitPattern: timestamp)) }

    private static func exemplarSize(_ exemplar: Exemplar) -> Int {
        exemplar.labels.reduce(0) { $0 + framed(labelSize($1)) } + 9 + 1 + Varint.encodedLength(UInt64(bitPattern: exemplar.timestamp))
    }

    private static func write(_ label: Label, field: UInt64, into buffer: inout ByteBuffer) {
        tag(field, length: labelSize(label), into: &buffer)
        tag(1, length: label.name.utf8.count, into: &buffer)
        buffer.writeString(label.name)
        tag(2, length: label.value.utf8.count, into: &buffer)
        buffer.writeString(label.value)
    }
}

/// Splits what a queue read into one ordered list of batches per shard: a series always goes to
/// the same shard, so its samples arrive in order; a batch holds at most `maxSamples` samples.
struct ShardPlan {
    struct Series {
        /// What places the series on a shard: the same for every round.
        var key: UInt64
        var labels: Labels
        var samples: [(timestamp: Int64, value: Double)]
        var exemplars: [Exemplar] = []
    }

    var shards: [[RemoteWriteBatch]]

    static func shard(of key: UInt64, among count: Int) -> Int {
        // Fibonacci hashing spreads consecutive references evenly.
        Int(((key &* 0x9E37_79B9_7F4A_7C15) >> 32) % UInt64(count))
    }

    /// Samples routed one by one: by the series reference, each its own series in the batch.
    init(singles samples: [(series: UInt64, labels: Labels, timestamp: Int64, value: Double)], shards count: Int, maxSamples: Int) {
        var perShard = Array(repeating: [RemoteWriteBatch](), count: max(1, count))
        for sample in samples {
            let shard = Self.shard(of: sample.series, among: perShard.count)
            if perShard[shard].isEmpty || perShard[shard][perShard[shard].count - 1].sampleCount >= maxSamples {
                perShard[shard].append(RemoteWriteBatch())
            }
            let last = perShard[shard].count - 1
            perShard[shard][last].singles.append((sample.labels, sample.timestamp, sample.value))
            perShard[shard][last].sampleCount += 1
            perShard[shard][last].highestTimestamp = max(perShard[shard][last].highestTimestamp, sample.timestamp)
        }
        shards = perShard
    }

    /// A native histogram sample, on its series' shard (after that shard's float samples).
    mutating func add(histogram: FloatHistogram, at timestamp: Int64, labels: Labels, key: UInt64, maxSamples: Int) {
        let shard = Self.shard(of: key, among: shards.count)
        if shards[shard].isEmpty || shards[shard][shards[shard].count - 1].sampleCount >= maxSamples {
            shards[shard].append(RemoteWriteBatch())
        }
        let last = shards[shard].count - 1
        shards[shard][last].histograms.append((labels, timestamp, histogram))
        shards[shard][last].sampleCount += 1
        shards[shard][last].highestTimestamp = max(shards[shard][last].highestTimestamp, timestamp)
    }

    init(series: [Series], shards count: Int, maxSamples: Int) {
        var perShard = Array(repeating: [RemoteWriteBatch](), count: max(1, count))
        for entry in series {
            let shard = Self.shard(of: entry.key, among: perShard.count)
            var remaining = entry.samples[...]
            var exemplars = entry.exemplars
            repeat {
                if perShard[shard].isEmpty || perShard[shard][perShard[shard].count - 1].sampleCount >= maxSamples {
                    perShard[shard].append(RemoteWriteBatch())
                }
                let room = maxSamples - perShard[shard][perShard[shard].count - 1].sampleCount
                let taken = remaining.prefix(room)
                remaining = remaining.dropFirst(taken.count)
                let piece = RemoteWriteBatch.Series(labels: entry.labels, samples: Array(taken), exemplars: exemplars)
                exemplars = []
                if piece.samples.isEmpty && piece.exemplars.isEmpty { break }
                perShard[shard][perShard[shard].count - 1].sampleCount += piece.samples.count
                perShard[shard][perShard[shard].count - 1].exemplarCount += piece.exemplars.count
                perShard[shard][perShard[shard].count - 1].highestTimestamp = max(perShard[shard][perShard[shard].count - 1].highestTimestamp,
                                                                                  piece.samples.last?.timestamp ?? .min)
                perShard[shard][perShard[shard].count - 1].series.append(piece)
            } while !remaining.isEmpty
        }
        shards = perShard
    }
}

/// One metric family's metadata as remote write sends it.
public struct RemoteWriteMetadata: Sendable, Hashable {
    public var family: String
    /// The exposition format's type name (`counter`, `gauge`, …, `unknown`).
    public var type: String
    public var help: String
    public var unit: String

    public init(family: String, type: String, help: String, unit: String) {
        self.family = family
        self.type = type
        self.help = help
        self.unit = unit
    }

    /// `MetricMetadata.MetricType` of `types.proto`.
    var typeNumber: UInt64 {
        switch type {
        case "counter": 1
        case "gauge": 2
        case "histogram": 3
        case "gaugehistogram": 4
        case "summary": 5
        case "info": 6
        case "stateset": 7
        default: 0
        }
    }

    /// `WriteRequest{metadata = 3}`, each `MetricMetadata{type = 1, metric_family_name = 2,
    /// help = 4, unit = 5}`, snappy-compressed.
    static func encoded(_ entries: ArraySlice<RemoteWriteMetadata>) -> ByteBuffer {
        var writer = ProtobufWriter()
        for entry in entries {
            writer.writeMessage(field: 3) { message in
                if entry.typeNumber != 0 { message.writeVarint(field: 1, entry.typeNumber) }
                message.writeString(field: 2, entry.family)
                if !entry.help.isEmpty { message.writeString(field: 4, entry.help) }
                if !entry.unit.isEmpty { message.writeString(field: 5, entry.unit) }
            }
        }
        return Snappy.compress(writer.buffer)
    }
}
