/// Gorilla-style float chunk: delta-of-delta timestamps and XOR-compressed values, as Prometheus's
/// XOR chunk. Byte layout in `Chunk/FORMAT.md`.
///
/// `XORAppender` builds one; `FloatChunkIterator` reads one. Both are value types owned by one thread.
struct XORAppender {
    static let maxSamples = 120

    private(set) var writer = BitWriter()
    private(set) var count = 0
    private(set) var minTime: Int64 = 0
    private(set) var maxTime: Int64 = 0
    private var lastValue: UInt64 = 0
    private var lastDelta: Int64 = 0
    private var leading: Int = 0xFF  // 0xFF: no previous XOR window
    private var trailing: Int = 0

    init() {}

    /// Everything needed to go on appending to a chunk exactly as if it had never left memory: what
    /// a head snapshot stores for a series' open chunk.
    struct ResumeState: Equatable, Sendable {
        var count: Int
        var minTime: Int64
        var maxTime: Int64
        var lastValue: UInt64
        var lastDelta: Int64
        var leading: UInt8
        var trailing: UInt8
        var bitCount: Int
        /// The bit stream without the count header, the last byte padded.
        var bits: [UInt8]
    }

    var resumeState: ResumeState {
        ResumeState(count: count, minTime: minTime, maxTime: maxTime, lastValue: lastValue, lastDelta: lastDelta,
                    leading: UInt8(truncatingIfNeeded: leading), trailing: UInt8(truncatingIfNeeded: trailing),
                    bitCount: writer.bitCount, bits: writer.bytes)
    }

    /// Nil when the state could not have come from an appender (a damaged snapshot).
    init?(resuming state: ResumeState) {
        let leading = Int(state.leading), trailing = Int(state.trailing)
        guard (1...Self.maxSamples).contains(state.count), state.minTime <= state.maxTime,
              leading == 0xFF || (leading <= 31 && trailing <= 63 && leading + trailing < 64),
              let writer = BitWriter(resuming: state.bits, bitCount: state.bitCount)
        else { return nil }
        self.writer = writer
        count = state.count
        minTime = state.minTime
        maxTime = state.maxTime
        lastValue = state.lastValue
        lastDelta = state.lastDelta
        self.leading = leading
        self.trailing = trailing
    }

    var isFull: Bool { count >= Self.maxSamples }

    /// Encoded bytes: a 16-bit big-endian sample count, then the bit stream.
    var bytes: [UInt8] {
        [UInt8(count >> 8), UInt8(count & 0xFF)] + writer.bytes
    }

    mutating func append(timestamp: Int64, value: Double) {
        let bits = value.bitPattern
        switch count {
        case 0:
            writer.writeSignedVarint(timestamp)
            writer.write(bits: bits, count: 64)
            minTime = timestamp
        case 1:
            let delta = timestamp &- maxTime
            writer.writeVarint(UInt64(bitPattern: delta))
            writeValue(bits)
            lastDelta = delta
        default:
            let delta = timestamp &- maxTime
            writer.write(delta &- lastDelta, .timestamp)
            writeValue(bits)
            lastDelta = delta
        }
        lastValue = bits
        maxTime = timestamp
        count += 1
    }

    private mutating func writeValue(_ bits: UInt64) {
        let xor = bits ^ lastValue
        if xor == 0 {
            writer.write(bit: false)
            return
        }
        writer.write(bit: true)
        var lead = xor.leadingZeroBitCount
        let trail = xor.trailingZeroBitCount
        // The leading-zero count is stored in 5 bits.
        if lead >= 32 { lead = 31 }
        if leading != 0xFF && lead >= leading && trail >= trailing {
            // Fits in the previous window: reuse it.
            writer.write(bit: false)
            writer.write(bits: xor >> UInt64(trailing), count: 64 - leading - trailing)
            return
        }
        leading = lead
        trailing = trail
        let significant = 64 - lead - trail
        writer.write(bit: true)
        writer.write(bits: UInt64(lead), count: 5)
        // 64 significant bits would overflow 6 bits; 0 stands for 64 (it cannot occur otherwise).
        writer.write(bits: UInt64(significant & 63), count: 6)
        writer.write(bits: xor >> UInt64(trail), count: significant)
    }
}

extension FloatChunkState {
    /// The next sample of an XOR chunk.
    @inline(__always)
    mutating func nextXOR(_ reader: inout RawBits) -> Bool {
        guard !failed, read < total else { return false }
        switch read {
        case 0:
            guard let t = reader.readSignedVarint(), let v = reader.readBits(64) else { return fail() }
            timestamp = t
            valueBits = v
        case 1:
            guard let d = reader.readVarint(), readXORValue(&reader) else { return fail() }
            lastDelta = Int64(bitPattern: d)
            timestamp &+= lastDelta
        default:
            guard let dod = reader.read(.timestamp), readXORValue(&reader) else { return fail() }
            lastDelta &+= dod
            timestamp &+= lastDelta
        }
        read += 1
        return true
    }

    @inline(__always)
    private mutating func readXORValue(_ reader: inout RawBits) -> Bool {
        guard let changed = reader.readBit() else { return false }
        if !changed { return true }
        guard let newWindow = reader.readBit() else { return false }
        if newWindow {
            guard let lead = reader.readBits(5), let sig = reader.readBits(6) else { return false }
            leading = Int(lead)
            let significant = sig == 0 ? 64 : Int(sig)
            trailing = 64 - leading - significant
            guard trailing >= 0 else { return false }
        }
        let significant = 64 - leading - trailing
        guard let bits = reader.readBits(significant) else { return false }
        valueBits ^= bits << UInt64(trailing)
        return true
    }
}
