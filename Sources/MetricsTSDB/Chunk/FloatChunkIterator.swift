/// Reads a float chunk, XOR or decimal (`Chunk/FORMAT.md`). Corrupt or truncated input ends
/// iteration (with `failed` set) rather than trapping.
struct FloatChunkIterator {
    private var reader: BitReader
    private var state: FloatChunkState

    var timestamp: Int64 { state.timestamp }
    var value: Double { Double(bitPattern: state.valueBits) }
    var failed: Bool { state.failed }
    var sampleCount: Int { state.total }

    init(_ bytes: [UInt8]) {
        if bytes.first == DecimalChunk.tag {
            let header = DecimalChunk.Header(bytes)
            state = FloatChunkState(decimal: header)
            reader = BitReader(bytes, startingAtByte: DecimalChunk.Header.size)
        } else if bytes.count >= 2 {
            state = FloatChunkState(xorCount: Int(bytes[0]) << 8 | Int(bytes[1]))
            reader = BitReader(bytes, startingAtByte: 2)
        } else {
            state = FloatChunkState(xorCount: 0)
            state.failed = !bytes.isEmpty
            reader = BitReader([])
        }
    }

    mutating func next() -> Bool {
        reader.withBits { state.next(&$0) }
    }

    /// Appends the current sample and the ones after it in this chunk while they are at or before
    /// `end`, in one pass over the bits. Returns true when it stopped on a sample past `end` (which
    /// stays current), false when the chunk ran out.
    mutating func appendRest(upTo end: Int64, timestamps: inout [Int64], values: inout [Double]) -> Bool {
        let room = max(1, state.total - state.read + 1)
        // One loop per encoding, each in a closure of its own: with both in one closure, the XOR
        // loop kept less of its state in registers and ran a tenth slower.
        if state.decimal {
            return Self.collect(room, &timestamps, &values) { times, decoded, count in
                reader.withBits { state.appendDecimal(&$0, upTo: end, times: times, values: decoded, count: &count) }
            }
        }
        return Self.collect(room, &timestamps, &values) { times, decoded, count in
            reader.withBits { reader in
                repeat {
                    if state.timestamp > end { return true }
                    times[count] = state.timestamp
                    decoded[count] = Double(bitPattern: state.valueBits)
                    count += 1
                } while count < room && state.nextXOR(&reader)
                return false
            }
        }
    }

    /// Runs `decode` over stack buffers for `room` samples, then appends what it decoded: appending
    /// sample by sample paid the arrays' uniqueness and capacity checks twice per sample.
    @inline(__always)
    private static func collect(_ room: Int, _ timestamps: inout [Int64], _ values: inout [Double],
                                _ decode: (UnsafeMutableBufferPointer<Int64>, UnsafeMutableBufferPointer<Double>, inout Int) -> Bool) -> Bool {
        withUnsafeTemporaryAllocation(of: Int64.self, capacity: room) { times in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: room) { decoded in
                var count = 0
                let stopped = decode(times, decoded, &count)
                timestamps.append(contentsOf: UnsafeBufferPointer(rebasing: times[..<count]))
                values.append(contentsOf: UnsafeBufferPointer(rebasing: decoded[..<count]))
                return stopped
            }
        }
    }
}

/// Where decoding a float chunk stands, for either encoding; kept apart from the reader so that both
/// can be worked on at once. One type rather than one per encoding so that the chunk-list iterator
/// holds it in place: swapping iterator kinds through an enum copied them per sample.
struct FloatChunkState {
    let decimal: Bool
    let total: Int
    var read = 0
    var failed = false
    var timestamp: Int64 = 0
    var valueBits: UInt64 = 0
    /// The last timestamp delta.
    var lastDelta: Int64 = 0
    // XOR: the window of the last value change.
    var leading = 0
    var trailing = 0
    // Decimal: how values are stored and the running mantissa.
    var coding = DecimalChunk.ValueCoding.constant
    var regular = false
    var mantissa: Int64 = 0
    var mantissaDelta: Int64 = 0
    var divisor: Double = 1

    init(xorCount: Int) {
        decimal = false
        total = xorCount
    }

    init(decimal header: DecimalChunk.Header?) {
        decimal = true
        guard let header else {
            total = 0
            failed = true
            return
        }
        total = header.count
        coding = header.coding
        regular = header.regularTimestamps
    }

    @inline(__always)
    mutating func next(_ reader: inout RawBits) -> Bool {
        decimal ? nextDecimal(&reader) : nextXOR(&reader)
    }

    mutating func fail() -> Bool {
        failed = true
        return false
    }
}
