/// Float chunks whose values are all equal, or all decimals: integers scaled by a power of ten, as
/// counters of bytes or of hundredths of a second are. Such a chunk stores integer differences
/// instead of XORed float bits, a third of the bytes or less, and a constant one stores no value
/// bits at all. Head chunks are written as XOR while open and re-encoded this way when they close,
/// when that is exact bit for bit and smaller. Layout in `Chunk/FORMAT.md`.
enum DecimalChunk {
    static let tag: UInt8 = 0x44

    /// How a chunk's values are stored (the flags byte's low two bits).
    enum ValueCoding: UInt8 {
        /// One 64-bit pattern for every sample.
        case constant = 0
        /// Each mantissa as the difference to the one before (gauges).
        case delta = 1
        /// Each mantissa difference as the difference to the one before (counters).
        case deltaOfDelta = 2
    }

    static let regularTimestampsFlag: UInt8 = 0x04
    static let maxScale = 18
    /// 10^0 … 10^18, each exact as a Double.
    static let powersOfTen: [Double] = {
        var powers: [Double] = [1]
        while powers.count <= maxScale { powers.append(powers[powers.count - 1] * 10) }
        return powers
    }()
    /// Integers below this magnitude convert to Double exactly.
    static let exactIntegerLimit = 9_007_199_254_740_992.0

    /// Tag, sample count and flags.
    struct Header {
        static let size = 4
        var count: Int
        var coding: ValueCoding
        var regularTimestamps: Bool

        /// Nil when the bytes cannot start a decimal chunk.
        init?(_ bytes: [UInt8]) {
            guard bytes.count >= Self.size, bytes[0] == DecimalChunk.tag else { return nil }
            count = Int(bytes[1]) << 8 | Int(bytes[2])
            let flags = bytes[3]
            guard (1...XORAppender.maxSamples).contains(count), flags & ~0x07 == 0,
                  let coding = ValueCoding(rawValue: flags & 0x03) else { return nil }
            self.coding = coding
            regularTimestamps = flags & DecimalChunk.regularTimestampsFlag != 0
            guard !regularTimestamps || count >= 2 else { return nil }
        }
    }

    /// The value a mantissa stands for at a scale's divisor. Division by 1 is exact, so scale 0
    /// takes the same path.
    @inline(__always)
    static func value(_ mantissa: Int64, divisor: Double) -> Double {
        Double(mantissa) / divisor
    }

    /// The integer `value` is at `scale` decimal places, when it converts back bit for bit.
    static func mantissa(_ value: Double, scale: Int) -> Int64? {
        let scaled = value * powersOfTen[scale]
        guard scaled.magnitude < exactIntegerLimit else { return nil }
        let mantissa = Int64(scaled.rounded())
        return Self.value(mantissa, divisor: powersOfTen[scale]).bitPattern == value.bitPattern ? mantissa : nil
    }

    /// The fewest decimal places that represent `value` exactly; nil for NaN, infinities, −0 and
    /// values too large or too fine.
    static func scale(of value: Double) -> Int? {
        guard value.isFinite else { return nil }
        for scale in 0...maxScale {
            if (value * powersOfTen[scale]).magnitude >= exactIntegerLimit { return nil }
            if mantissa(value, scale: scale) != nil { return scale }
        }
        return nil
    }

    /// The samples as a decimal chunk, or nil when that would not be exact or not shorter than
    /// `limit` bytes.
    static func encode(timestamps: UnsafeBufferPointer<Int64>, values: UnsafeBufferPointer<Double>, shorterThan limit: Int) -> [UInt8]? {
        let count = timestamps.count
        guard (1...XORAppender.maxSamples).contains(count), values.count == count else { return nil }
        let step = count >= 2 ? timestamps[1] &- timestamps[0] : 0
        var regular = count >= 2
        for index in 2..<max(2, count) where timestamps[index] &- timestamps[index - 1] != step {
            regular = false
            break
        }
        let first = values[0].bitPattern
        let constant = values.allSatisfy { $0.bitPattern == first }
        return withUnsafeTemporaryAllocation(of: Int64.self, capacity: count) { mantissas -> [UInt8]? in
            var coding = ValueCoding.constant
            var scale = 0
            if !constant {
                for value in values {
                    guard let places = Self.scale(of: value) else { return nil }
                    scale = max(scale, places)
                }
                for (index, value) in values.enumerated() {
                    guard let mantissa = mantissa(value, scale: scale) else { return nil }
                    mantissas[index] = mantissa
                }
                // Mantissas are below 2^53, so differences of differences cannot overflow.
                var deltaBits = 0, dodBits = 0
                for index in 1..<count {
                    let delta = mantissas[index] - mantissas[index - 1]
                    deltaBits += PrefixCode.varbit.size(delta)
                    dodBits += PrefixCode.varbit.size(index == 1 ? delta : delta - (mantissas[index - 1] - mantissas[index - 2]))
                }
                coding = dodBits < deltaBits ? .deltaOfDelta : .delta
            }
            var writer = BitWriter()
            writer.writeSignedVarint(timestamps[0])
            if count >= 2 { writer.writeSignedVarint(step) }
            if constant {
                writer.write(bits: first, count: 64)
            } else {
                writer.write(bits: UInt64(scale), count: 8)
                writer.writeSignedVarint(mantissas[0])
            }
            var lastDelta = step
            for index in 1..<max(1, count) {
                if !regular && index >= 2 {
                    let delta = timestamps[index] &- timestamps[index - 1]
                    writer.write(delta &- lastDelta, .timestamp)
                    lastDelta = delta
                }
                switch coding {
                case .constant:
                    break
                case .delta:
                    writer.write(mantissas[index] - mantissas[index - 1], .varbit)
                case .deltaOfDelta:
                    let delta = mantissas[index] - mantissas[index - 1]
                    writer.write(index == 1 ? delta : delta - (mantissas[index - 1] - mantissas[index - 2]), .varbit)
                }
            }
            let flags = coding.rawValue | (regular ? regularTimestampsFlag : 0)
            guard Header.size + (writer.bitCount + 7) / 8 < limit else { return nil }
            return [tag, UInt8(count >> 8), UInt8(count & 0xFF), flags] + writer.bytes
        }
    }
}

extension XORAppender {
    /// The chunk in its shortest exact encoding: decimal when that is shorter, otherwise XOR. What a
    /// chunk is stored as once it is closed.
    var compactBytes: [UInt8] {
        let xor = bytes
        let count = self.count
        guard count > 0 else { return xor }
        return withUnsafeTemporaryAllocation(of: Int64.self, capacity: count) { times in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: count) { values in
                var iterator = FloatChunkIterator(xor)
                var decoded = 0
                while decoded < count && iterator.next() {
                    times[decoded] = iterator.timestamp
                    values[decoded] = iterator.value
                    decoded += 1
                }
                guard decoded == count else { return xor }
                return DecimalChunk.encode(timestamps: UnsafeBufferPointer(times), values: UnsafeBufferPointer(values),
                                           shorterThan: xor.count) ?? xor
            }
        }
    }
}

extension FloatChunkState {
    /// `FloatChunkIterator.appendRest` for a decimal chunk standing on a sample (called only after
    /// `next` returned true, so the header fields are read): the running values
    /// stay in locals for the whole loop, where through `self` each was loaded and stored per sample.
    @inline(__always)
    mutating func appendDecimal(_ reader: inout RawBits, upTo end: Int64, times: UnsafeMutableBufferPointer<Int64>,
                                values: UnsafeMutableBufferPointer<Double>, count: inout Int) -> Bool {
        var time = timestamp, step = lastDelta, mantissa = mantissa, change = mantissaDelta, bits = valueBits
        var read = self.read, stored = count, stopped = false
        let regular = self.regular, coding = self.coding, divisor = self.divisor, total = self.total
        // Integers skip the division, the costliest instruction of a sample.
        let integral = divisor == 1
        while true {
            if time > end {
                stopped = true
                break
            }
            times[stored] = time
            values[stored] = Double(bitPattern: bits)
            stored += 1
            guard !failed, read < total, stored < times.count else { break }
            // Far from the end, fields are read without a bounds check each.
            let roomy = reader.bitsLeft >= RawBits.longestPrefixedField + RawBits.uncheckedFieldRoom
            guard Self.advanceDecimal(&reader, sample: read, regular: regular, coding: coding, unchecked: roomy,
                                      time: &time, step: &step, mantissa: &mantissa, change: &change) else {
                failed = true
                break
            }
            if coding != .constant {
                bits = integral ? Double(mantissa).bitPattern : DecimalChunk.value(mantissa, divisor: divisor).bitPattern
            }
            read += 1
        }
        timestamp = time
        lastDelta = step
        self.mantissa = mantissa
        mantissaDelta = change
        valueBits = bits
        self.read = read
        count = stored
        return stopped
    }

    /// The next sample of a decimal chunk.
    @inline(__always)
    mutating func nextDecimal(_ reader: inout RawBits) -> Bool {
        guard !failed, read < total else { return false }
        if read == 0 {
            guard let first = reader.readSignedVarint() else { return fail() }
            timestamp = first
            if total >= 2 {
                guard let step = reader.readSignedVarint() else { return fail() }
                lastDelta = step
            }
            if coding == .constant {
                guard let bits = reader.readBits(64) else { return fail() }
                valueBits = bits
            } else {
                guard let scale = reader.readBits(8), scale <= UInt64(DecimalChunk.maxScale),
                      let start = reader.readSignedVarint() else { return fail() }
                divisor = DecimalChunk.powersOfTen[Int(scale)]
                mantissa = start
                valueBits = DecimalChunk.value(mantissa, divisor: divisor).bitPattern
            }
        } else {
            guard Self.advanceDecimal(&reader, sample: read, regular: regular, coding: coding, unchecked: false,
                                      time: &timestamp, step: &lastDelta, mantissa: &mantissa, change: &mantissaDelta)
            else { return fail() }
            if coding != .constant { valueBits = DecimalChunk.value(mantissa, divisor: divisor).bitPattern }
        }
        read += 1
        return true
    }

    /// Reads sample `sample`'s fields (it is not the first) and moves the running time, step,
    /// mantissa and mantissa change on to it; false when the fields run out. One definition for
    /// `nextDecimal` and the bulk loop, which passes locals rather than its own fields.
    @inline(__always)
    static func advanceDecimal(_ reader: inout RawBits, sample: Int, regular: Bool, coding: DecimalChunk.ValueCoding,
                               unchecked: Bool, time: inout Int64, step: inout Int64, mantissa: inout Int64,
                               change: inout Int64) -> Bool {
        if !regular && sample >= 2 {
            guard let dod = unchecked ? reader.readUnchecked(.timestamp) : reader.read(.timestamp) else { return false }
            step &+= dod
        }
        if coding != .constant {
            guard let difference = unchecked ? reader.readUnchecked(.varbit) : reader.read(.varbit) else { return false }
            if coding == .delta {
                mantissa &+= difference
            } else {
                change = sample == 1 ? difference : change &+ difference
                mantissa &+= change
            }
        }
        time &+= step
        return true
    }
}
