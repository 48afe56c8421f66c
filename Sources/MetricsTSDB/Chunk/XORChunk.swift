/// Gorilla-style float chunk: delta-of-delta timestamps and XOR-compressed values, as Prometheus's
/// XOR chunk. Byte layout in `Chunk/FORMAT.md`.
///
/// `XORAppender` builds one; `XORIterator` reads one. Both are value types owned by one thread.
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
            writeSignedVarint(timestamp)
            writer.write(bits: bits, count: 64)
            minTime = timestamp
        case 1:
            let delta = timestamp &- maxTime
            writeVarint(UInt64(bitPattern: delta))
            writeValue(bits)
            lastDelta = delta
        default:
            let delta = timestamp &- maxTime
            let dod = delta &- lastDelta
            switch dod {
            case 0:
                writer.write(bit: false)
            case -8191...8192:
                writer.write(bits: 0b10, count: 2)
                writer.write(bits: UInt64(bitPattern: dod), count: 14)
            case -65535...65536:
                writer.write(bits: 0b110, count: 3)
                writer.write(bits: UInt64(bitPattern: dod), count: 17)
            case -524_287...524_288:
                writer.write(bits: 0b1110, count: 4)
                writer.write(bits: UInt64(bitPattern: dod), count: 20)
            default:
                writer.write(bits: 0b1111, count: 4)
                writer.write(bits: UInt64(bitPattern: dod), count: 64)
            }
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

    private mutating func writeVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            writer.write(byte: UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        writer.write(byte: UInt8(v))
    }

    private mutating func writeSignedVarint(_ value: Int64) {
        writeVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }
}

/// Decodes an XOR chunk. Corrupt or truncated input ends iteration (with `failed` set) rather than
/// trapping.
struct XORIterator {
    private var reader: BitReader
    private var state: State

    /// Where decoding stands; kept apart from the reader so that both can be worked on at once.
    fileprivate struct State {
        let total: Int
        var read = 0
        var lastDelta: Int64 = 0
        var leading = 0
        var trailing = 0
        var valueBits: UInt64 = 0
        var timestamp: Int64 = 0
        var failed = false
    }

    var timestamp: Int64 { state.timestamp }
    var value: Double { Double(bitPattern: state.valueBits) }
    var failed: Bool { state.failed }

    init(_ bytes: [UInt8]) {
        if bytes.count >= 2 {
            state = State(total: Int(bytes[0]) << 8 | Int(bytes[1]))
            reader = BitReader(bytes, startingAtByte: 2)
        } else {
            state = State(total: 0, failed: !bytes.isEmpty)
            reader = BitReader([])
        }
    }

    var sampleCount: Int { state.total }

    mutating func next() -> Bool {
        reader.withBits { state.next(&$0) }
    }

    /// Appends the current sample and the ones after it in this chunk while they are at or before
    /// `end`, in one pass over the bits. Returns true when it stopped on a sample past `end` (which
    /// stays current), false when the chunk ran out.
    mutating func appendRest(upTo end: Int64, timestamps: inout [Int64], values: inout [Double]) -> Bool {
        // Decoded onto the stack and appended once per chunk: appending sample by sample paid the
        // arrays' uniqueness and capacity checks twice per sample.
        let room = max(1, state.total - state.read + 1)
        return withUnsafeTemporaryAllocation(of: Int64.self, capacity: room) { times in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: room) { decoded in
                var count = 0
                let stopped = reader.withBits { reader in
                    repeat {
                        if state.timestamp > end { return true }
                        times[count] = state.timestamp
                        decoded[count] = Double(bitPattern: state.valueBits)
                        count += 1
                    } while count < room && state.next(&reader)
                    return false
                }
                timestamps.append(contentsOf: UnsafeBufferPointer(rebasing: times[..<count]))
                values.append(contentsOf: UnsafeBufferPointer(rebasing: decoded[..<count]))
                return stopped
            }
        }
    }

    /// Field values above 2^(bits-1) are negative, matching the encoder's asymmetric ranges
    /// (-8191...8192 for 14 bits).
    static func signExtend(_ raw: UInt64, bits: Int) -> Int64 {
        raw > (1 << UInt64(bits - 1)) ? Int64(raw) - (1 << Int64(bits)) : Int64(raw)
    }
}

extension XORIterator.State {
    @inline(__always)
    mutating func next(_ reader: inout RawBits) -> Bool {
        guard !failed, read < total else { return false }
        switch read {
        case 0:
            guard let t = readVarint(&reader), let v = reader.readBits(64) else { return fail() }
            timestamp = Int64(bitPattern: t >> 1) ^ -Int64(bitPattern: t & 1)
            valueBits = v
        case 1:
            guard let d = readVarint(&reader), readValue(&reader) else { return fail() }
            lastDelta = Int64(bitPattern: d)
            timestamp &+= lastDelta
        default:
            guard let prefix = reader.readOnes(upTo: 4) else { return fail() }
            var dod: Int64 = 0
            let width = switch prefix {
            case 0: 0
            case 1: 14
            case 2: 17
            case 3: 20
            default: 64
            }
            if width > 0 {
                guard let raw = reader.readBits(width) else { return fail() }
                dod = width == 64 ? Int64(bitPattern: raw) : XORIterator.signExtend(raw, bits: width)
            }
            guard readValue(&reader) else { return fail() }
            lastDelta &+= dod
            timestamp &+= lastDelta
        }
        read += 1
        return true
    }

    @inline(__always)
    private mutating func readValue(_ reader: inout RawBits) -> Bool {
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

    private func readVarint(_ reader: inout RawBits) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        for _ in 0..<10 {
            guard let byte = reader.readBits(8) else { return nil }
            result |= (byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
        return nil
    }

    private mutating func fail() -> Bool {
        failed = true
        return false
    }
}
