/// Re-encodes a stream of samples into full XOR chunks (block writing, deletions, merges).
/// Value type, one owner.
import ObsCore

struct ChunkBuilder {
    private(set) var chunks: [EncodedChunk] = []
    private(set) var samples = 0
    private var appender = XORAppender()

    mutating func append(timestamp: Int64, value: Double) {
        if appender.isFull { flush() }
        appender.append(timestamp: timestamp, value: value)
        samples += 1
    }

    /// Appends every remaining sample of `iterator`.
    mutating func append(contentsOf iterator: inout some SampleIterator) {
        while iterator.next() { append(timestamp: iterator.timestamp, value: iterator.value) }
    }

    mutating func finish() -> [EncodedChunk] {
        flush()
        return chunks
    }

    private mutating func flush() {
        guard appender.count > 0 else { return }
        chunks.append(EncodedChunk(minTime: appender.minTime, maxTime: appender.maxTime, bytes: appender.bytes))
        appender = XORAppender()
    }
}
