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
    var sampleCount = 0
    var exemplarCount = 0
    var highestTimestamp = Int64.min

    /// `WriteRequest{timeseries = 1}`, each `TimeSeries{labels = 1, samples = 2, exemplars = 3}`.
    func encoded() -> ByteBuffer {
        var writer = ProtobufWriter()
        for entry in series {
            writer.writeMessage(field: 1) { timeSeries in
                for label in entry.labels {
                    timeSeries.writeMessage(field: 1) { pair in
                        pair.writeString(field: 1, label.name)
                        pair.writeString(field: 2, label.value)
                    }
                }
                for sample in entry.samples {
                    timeSeries.writeMessage(field: 2) { message in
                        message.writeFixed64(field: 1, sample.value.bitPattern)
                        message.writeVarint(field: 2, UInt64(bitPattern: sample.timestamp))
                    }
                }
                for exemplar in entry.exemplars {
                    timeSeries.writeMessage(field: 3) { message in
                        for label in exemplar.labels {
                            message.writeMessage(field: 1) { pair in
                                pair.writeString(field: 1, label.name)
                                pair.writeString(field: 2, label.value)
                            }
                        }
                        message.writeFixed64(field: 2, exemplar.value.bitPattern)
                        message.writeVarint(field: 3, UInt64(bitPattern: exemplar.timestamp))
                    }
                }
            }
        }
        return Snappy.compress(writer.buffer)
    }
}

/// Splits what a queue read into one ordered list of batches per shard: a series always goes to
/// the same shard, so its samples arrive in order; a batch holds at most `maxSamples` samples.
struct ShardPlan {
    var shards: [[RemoteWriteBatch]]

    init(series: [(labels: Labels, samples: [(timestamp: Int64, value: Double)], exemplars: [Exemplar])], shards count: Int, maxSamples: Int) {
        var perShard = Array(repeating: [RemoteWriteBatch](), count: max(1, count))
        for entry in series {
            let shard = Int(entry.labels.stableHash % UInt64(perShard.count))
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
                var batch = perShard[shard].removeLast()
                batch.sampleCount += piece.samples.count
                batch.exemplarCount += piece.exemplars.count
                batch.highestTimestamp = max(batch.highestTimestamp, piece.samples.last?.timestamp ?? .min)
                batch.series.append(piece)
                perShard[shard].append(batch)
            } while !remaining.isEmpty
        }
        shards = perShard
    }
}
