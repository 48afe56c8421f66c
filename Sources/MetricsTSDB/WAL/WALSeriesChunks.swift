import NIOCore
import ObsCore

/// One series' state in the head as a snapshot stores it: its closed chunks as they are, the open
/// XOR chunk with what it takes to go on appending to it, and the out-of-order samples. Restoring
/// this costs a copy, where replaying the samples re-encoded every one of them.
struct WALSeriesChunks: Equatable, Sendable {
    struct Chunk: Equatable, Sendable {
        var minTime: Int64
        var maxTime: Int64
        /// The chunk as stored in blocks (XOR, decimal or histogram, `Chunk/FORMAT.md`).
        var bytes: [UInt8]

        var sampleCount: Int { EncodedChunk.sampleCount(of: bytes) }
    }

    var ref: SeriesRef
    var lastTime: Int64
    var lastValueBits: UInt64
    var closed: [Chunk]
    var open: XORAppender.ResumeState?
    var outOfOrder: [OutOfOrderSample]

    struct OutOfOrderSample: Equatable, Sendable {
        var timestamp: Int64
        var bits: UInt64
    }

    /// Samples held, by the chunks' headers.
    var sampleCount: Int {
        closed.reduce(0) { $0 + $1.sampleCount } + (open?.count ?? 0) + outOfOrder.count
    }

    /// The oldest sample time held, nil when nothing is.
    var firstTime: Int64? {
        let inOrder = closed.first?.minTime ?? open?.minTime
        guard let oldest = outOfOrder.first?.timestamp else { return inOrder }
        return min(inOrder ?? .max, oldest)
    }

    /// What survives a checkpoint at `minTime`: closed chunks ending before it go, as on head
    /// truncation; nil when nothing is left.
    func keeping(from minTime: Int64) -> WALSeriesChunks? {
        var kept = self
        kept.closed.removeAll { $0.maxTime < minTime }
        kept.outOfOrder.removeAll { $0.timestamp < minTime }
        if let open = kept.open, open.maxTime < minTime { kept.open = nil }
        return kept.closed.isEmpty && kept.open == nil && kept.outOfOrder.isEmpty ? nil : kept
    }

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeVarint(ref)
        buffer.writeSignedVarint(lastTime)
        buffer.writeInteger(lastValueBits, endianness: .little)
        buffer.writeVarint(UInt64(closed.count))
        for chunk in closed {
            buffer.writeSignedVarint(chunk.minTime)
            buffer.writeSignedVarint(chunk.maxTime &- chunk.minTime)
            buffer.writeVarint(UInt64(chunk.bytes.count))
            buffer.writeBytes(chunk.bytes)
        }
        if let open {
            buffer.writeInteger(UInt8(1))
            buffer.writeVarint(UInt64(open.count))
            buffer.writeSignedVarint(open.minTime)
            buffer.writeSignedVarint(open.maxTime &- open.minTime)
            buffer.writeInteger(open.lastValue, endianness: .little)
            buffer.writeSignedVarint(open.lastDelta)
            buffer.writeInteger(open.leading)
            buffer.writeInteger(open.trailing)
            buffer.writeVarint(UInt64(open.bitCount))
            buffer.writeBytes(open.bits.prefix((open.bitCount + 7) / 8))
        } else {
            buffer.writeInteger(UInt8(0))
        }
        buffer.writeVarint(UInt64(outOfOrder.count))
        for sample in outOfOrder {
            buffer.writeSignedVarint(sample.timestamp)
            buffer.writeInteger(sample.bits, endianness: .little)
        }
    }

    /// Decodes one entry; every count is checked against the bytes left before anything is
    /// allocated for it.
    init(decoding cursor: inout RawCursor) throws {
        let remaining = { (cursor: RawCursor) in UInt64(cursor.bytes.count - cursor.offset) }
        ref = try cursor.varint()
        lastTime = try cursor.signedVarint()
        lastValueBits = try cursor.u64()
        let chunkCount = try cursor.varint()
        guard chunkCount <= remaining(cursor) else { throw cursor.corrupt("chunk count \(chunkCount) too large") }
        closed = []
        closed.reserveCapacity(Int(chunkCount))
        for _ in 0..<chunkCount {
            let minTime = try cursor.signedVarint()
            let maxTime = minTime &+ (try cursor.signedVarint())
            let length = try cursor.varint()
            guard maxTime >= minTime, length >= 2, length <= remaining(cursor) else { throw cursor.corrupt("bad head chunk") }
            closed.append(Chunk(minTime: minTime, maxTime: maxTime, bytes: Array(try cursor.bytes(Int(length)))))
        }
        switch try cursor.u8() {
        case 0:
            open = nil
        case 1:
            let count = try cursor.varint()
            let minTime = try cursor.signedVarint()
            let maxTime = minTime &+ (try cursor.signedVarint())
            let lastValue = try cursor.u64()
            let lastDelta = try cursor.signedVarint()
            let leading = try cursor.u8(), trailing = try cursor.u8()
            let bitCount = try cursor.varint()
            guard count <= UInt64(XORAppender.maxSamples), bitCount <= remaining(cursor) * 8 else {
                throw cursor.corrupt("bad open chunk")
            }
            let bits = Array(try cursor.bytes((Int(bitCount) + 7) / 8))
            let state = XORAppender.ResumeState(count: Int(count), minTime: minTime, maxTime: maxTime, lastValue: lastValue,
                                                lastDelta: lastDelta, leading: leading, trailing: trailing,
                                                bitCount: Int(bitCount), bits: bits)
            guard XORAppender(resuming: state) != nil else { throw cursor.corrupt("bad open chunk") }
            open = state
        case let flag:
            throw cursor.corrupt("open chunk flag \(flag)")
        }
        let outOfOrderCount = try cursor.varint()
        guard outOfOrderCount <= remaining(cursor) else { throw cursor.corrupt("out-of-order count \(outOfOrderCount) too large") }
        outOfOrder = []
        for _ in 0..<outOfOrderCount {
            outOfOrder.append(OutOfOrderSample(timestamp: try cursor.signedVarint(), bits: try cursor.u64()))
        }
    }

    init(ref: SeriesRef, lastTime: Int64, lastValueBits: UInt64, closed: [Chunk],
         open: XORAppender.ResumeState?, outOfOrder: [OutOfOrderSample]) {
        self.ref = ref
        self.lastTime = lastTime
        self.lastValueBits = lastValueBits
        self.closed = closed
        self.open = open
        self.outOfOrder = outOfOrder
    }
}
