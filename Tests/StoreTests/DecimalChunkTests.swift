@testable import MetricsTSDB
import Testing

/// Decimal chunks: closing a chunk keeps every sample bit for bit whichever encoding it picks, picks
/// the decimal one exactly where it is exact and shorter, and a damaged decimal chunk stops decoding
/// without trapping.
@Suite struct DecimalChunkTests {
    static let start: Int64 = 1_700_000_000_000

    static func closed(_ samples: [(Int64, Double)]) -> [UInt8] {
        var appender = XORAppender()
        for (t, v) in samples { appender.append(timestamp: t, value: v) }
        return appender.compactBytes
    }

    static func decode(_ bytes: [UInt8]) -> (samples: [(Int64, UInt64)], failed: Bool) {
        var iterator = FloatChunkIterator(bytes)
        var out: [(Int64, UInt64)] = []
        while iterator.next() { out.append((iterator.timestamp, iterator.value.bitPattern)) }
        return (out, iterator.failed)
    }

    /// Closes the samples into a chunk, checks they come back exactly, and returns the chunk.
    @discardableResult
    static func roundTrip(_ samples: [(Int64, Double)], decimal: Bool, sourceLocation: SourceLocation = #_sourceLocation) -> [UInt8] {
        let bytes = closed(samples)
        let (decoded, failed) = decode(bytes)
        #expect(!failed, sourceLocation: sourceLocation)
        #expect(decoded.map(\.0) == samples.map(\.0), sourceLocation: sourceLocation)
        #expect(decoded.map(\.1) == samples.map(\.1.bitPattern), sourceLocation: sourceLocation)
        #expect((bytes.first == DecimalChunk.tag) == decimal, "encoding chosen", sourceLocation: sourceLocation)
        #expect(EncodedChunk.sampleCount(of: bytes) == samples.count, sourceLocation: sourceLocation)
        return bytes
    }

    static func regular(_ values: [Double]) -> [(Int64, Double)] {
        values.enumerated().map { (start + Int64($0.offset) * 15_000, $0.element) }
    }

    @Test func constantSeriesStoreOneValue() {
        let bytes = Self.roundTrip(Self.regular(Array(repeating: 1, count: 120)), decimal: true)
        #expect(bytes.count <= 24)
        // Constants that are not decimals (NaN, the stale marker, −0, huge) are constants all the same.
        for value in [Double.nan, Double(bitPattern: 0x7ff0_0000_0000_0002), -0.0, 9.223372036854776e18, .infinity] {
            Self.roundTrip(Self.regular(Array(repeating: value, count: 120)), decimal: true)
        }
        // A single sample is shorter as XOR.
        Self.roundTrip([(5, 42)], decimal: false)
    }

    @Test func countersOfHundredthsTakeAFractionOfXOR() {
        var generator = SystemRandomNumberGenerator()
        var cents = 123_456_789
        let values: [Double] = (0..<120).map { _ in
            cents += Int.random(in: 75...225, using: &generator)
            return Double(cents) / 100
        }
        var xor = XORAppender()
        for (t, v) in Self.regular(values) { xor.append(timestamp: t, value: v) }
        let bytes = Self.roundTrip(Self.regular(values), decimal: true)
        #expect(bytes.count * 3 < xor.bytes.count, "\(bytes.count) bytes against XOR's \(xor.bytes.count)")
        #expect(bytes[3] & 0x03 == DecimalChunk.ValueCoding.deltaOfDelta.rawValue)
    }

    @Test func gaugesIntegersAndIrregularTimestamps() {
        var generator = SystemRandomNumberGenerator()
        // A gauge of tenths jumping around a level: stored as deltas.
        let gauge: [Double] = (0..<120).map { _ in Double(Int.random(in: 0...600, using: &generator)) / 10 }
        let bytes = Self.roundTrip(Self.regular(gauge), decimal: true)
        #expect(bytes[3] & 0x03 == DecimalChunk.ValueCoding.delta.rawValue)
        // Jittered scrape times keep their delta-of-delta codes, of every width.
        let offsets: [Int64] = [0, 15_000, 30_003, 44_990, 60_000, 200_000, 200_015, 5_000_000_000, 5_000_000_007]
        Self.roundTrip(offsets.enumerated().map { (Self.start + $0.element, Double($0.offset * 1000 - 3000)) }, decimal: true)
        // Negative values and mixed scales; integers up to 2^53.
        Self.roundTrip(Self.regular([-1.5, 2, 0.125, -7e10, 0, 3.14159]), decimal: true)
        Self.roundTrip(Self.regular([4_503_599_627_370_495, -9_007_199_254_740_991, 0, 1]), decimal: true)
        Self.roundTrip([(-20, 1), (-10, 2)], decimal: true)
    }

    @Test func valuesThatAreNotDecimalStayXOR() {
        var generator = SystemRandomNumberGenerator()
        let random = (0..<120).map { _ in Double.random(in: 0..<1, using: &generator) }
        Self.roundTrip(Self.regular(random), decimal: false)
        // One NaN, −0 or an integer past 2^53 among decimals keeps the chunk XOR, exactly.
        for odd in [Double.nan, -0.0, 1e300, 9_007_199_254_740_993, 0.1 + 0.2, .leastNonzeroMagnitude] {
            Self.roundTrip(Self.regular([1, 2, 3, odd, 5, 6]), decimal: false)
        }
    }

    @Test func appendRestMatchesIteration() {
        let kinds: [[(Int64, Double)]] = [
            Self.regular((0..<120).map { Double($0 * 7) / 10 }),
            Self.regular(Array(repeating: 3, count: 120)),
            (0..<120).map { (Self.start + Int64($0) * 15_000 + Int64($0 % 3), Double($0 * $0)) },
        ]
        for samples in kinds {
            let bytes = Self.closed(samples)
            #expect(bytes.first == DecimalChunk.tag)
            for skip in [0, 1, 2, 60, 119] {
                for end in [Int64.min, Self.start, Self.start + 14_999, Self.start + 15_001, Self.start + 900_002, .max] {
                    var iterator = FloatChunkIterator(bytes)
                    for _ in 0...skip { _ = iterator.next() }
                    var timestamps: [Int64] = [], values: [Double] = []
                    let stopped = iterator.appendRest(upTo: end, timestamps: &timestamps, values: &values)
                    let expected = Array(samples.dropFirst(skip).prefix { $0.0 <= end })
                    #expect(timestamps == expected.map(\.0), "skip \(skip) end \(end)")
                    #expect(values.map(\.bitPattern) == expected.map(\.1.bitPattern))
                    #expect(stopped == (skip + expected.count < samples.count))
                    if stopped {
                        #expect(iterator.timestamp == samples[skip + expected.count].0)
                        #expect(iterator.value.bitPattern == samples[skip + expected.count].1.bitPattern)
                        // Iteration goes on from where the bulk decode stopped.
                        var rest = 0
                        while iterator.next() { rest += 1 }
                        #expect(rest == samples.count - skip - expected.count - 1)
                    }
                }
            }
        }
    }

    @Test func damagedChunksStopWithoutTrapping() {
        let bytes = Self.closed(Self.regular((0..<120).map { Double($0 * 37 % 1000) / 100 }))
        #expect(bytes.first == DecimalChunk.tag)
        for cut in 0..<bytes.count {
            let (decoded, failed) = Self.decode(Array(bytes.prefix(cut)))
            #expect(decoded.count < 120)
            #expect(failed || cut == 0)
        }
        for index in 0..<bytes.count {
            for flip: UInt8 in [0x01, 0x10, 0x80, 0xFF] {
                var damaged = bytes
                damaged[index] ^= flip
                #expect(Self.decode(damaged).samples.count <= 120)
            }
        }
        // Headers that no writer produces: no samples, more than a chunk holds, unknown flags.
        for header: [UInt8] in [[0x44, 0, 0, 0], [0x44, 0, 121, 0], [0x44, 0xFF, 0xFF, 0], [0x44, 0, 2, 0x03], [0x44, 0, 2, 0x08], [0x44, 0, 1, 0x04]] {
            let (decoded, failed) = Self.decode(header + Array(repeating: 0, count: 32))
            #expect(decoded.isEmpty && failed, "\(header)")
        }
    }

    /// Prefixed fields of every width, at every alignment: the one-load readers give what the
    /// checked ones give and end at the same position.
    @Test func uncheckedReadersMatchCheckedOnes() {
        var generator = SystemRandomNumberGenerator()
        let edges: [Int64] = [0, 1, -1, 16, -15, 17, -16, 256, -255, 257, 4096, -4095, 4097, 524_288, -524_287, 524_289,
                              1 << 31, -(1 << 31) + 1, 1 << 31 + 1, .max, .min, 8192, -8191, 8193, 65536, -65535, 65537]
        var values = edges
        for _ in 0..<2000 { values.append(Int64.random(in: -(1 << 40)...(1 << 40), using: &generator) >> Int64.random(in: 0...40, using: &generator)) }
        for lead in 0..<8 {
            var writer = BitWriter()
            writer.write(bits: 0, count: lead)
            for (index, value) in values.enumerated() {
                writer.write(value, index % 2 == 0 ? .varbit : .timestamp)
            }
            for _ in 0..<4 { writer.write(bits: 0, count: 64) }
            var reader = BitReader(writer.bytes)
            reader.withBits { bits in
                var checked = bits
                bits.position = lead
                checked.position = lead
                for (index, value) in values.enumerated() {
                    let fast = bits.readUnchecked(index % 2 == 0 ? .varbit : .timestamp)
                    let slow = checked.read(index % 2 == 0 ? .varbit : .timestamp)
                    #expect(fast == value && slow == value, "\(value) at lead \(lead)")
                    #expect(bits.position == checked.position)
                }
            }
        }
    }

    @Test func scaleSearchIsExactOrRefuses() {
        #expect(DecimalChunk.scale(of: 12345.67) == 2)
        #expect(DecimalChunk.scale(of: 42) == 0)
        #expect(DecimalChunk.scale(of: 1e-18) == 18)
        #expect(DecimalChunk.scale(of: -0.001) == 3)
        // 0.30000000000000004 would need 17 places and a mantissa past 2^53.
        for refused in [0.1 + 0.2, Double.nan, .infinity, -.infinity, -0.0, 1e-19, 1e16 + 2, .greatestFiniteMagnitude] {
            #expect(DecimalChunk.scale(of: refused) == nil, "\(refused)")
        }
    }
}
