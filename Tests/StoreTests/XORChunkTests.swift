@testable import MetricsTSDB
import Testing

@Suite struct XORChunkTests {
    static let staleNaN = Double(bitPattern: 0x7ff0_0000_0000_0002)

    static func roundTrip(_ samples: [(Int64, Double)]) -> [(Int64, UInt64)] {
        var appender = XORAppender()
        for (t, v) in samples { appender.append(timestamp: t, value: v) }
        var iterator = FloatChunkIterator(appender.bytes)
        var out: [(Int64, UInt64)] = []
        while iterator.next() { out.append((iterator.timestamp, iterator.value.bitPattern)) }
        #expect(!iterator.failed)
        return out
    }

    static func check(_ samples: [(Int64, Double)]) {
        let decoded = roundTrip(samples)
        #expect(decoded.count == samples.count)
        for (got, want) in zip(decoded, samples) {
            #expect(got.0 == want.0)
            #expect(got.1 == want.1.bitPattern, "value at \(want.0)")
        }
    }

    @Test func regularScrapeSeries() {
        Self.check((0..<120).map { (Int64(1_700_000_000_000) + Int64($0) * 15_000, Double($0 * 3)) })
    }

    @Test func jitterAndEveryDeltaOfDeltaWidth() {
        let deltas: [Int64] = [15_000, 15_001, 14_990, 15_000, 23_000, 100_000, 15, 600_000, 1, 5_000_000_000, 7, 8192, -8191 + 20_000]
        var t: Int64 = -5_000
        var samples: [(Int64, Double)] = [(t, 1)]
        for delta in deltas {
            t += delta
            samples.append((t, Double(delta) / 7))
        }
        Self.check(samples)
    }

    @Test func specialValuesAreKeptBitForBit() {
        Self.check([
            (1, 0), (2, -0.0), (3, .nan), (4, Self.staleNaN), (5, .infinity), (6, -.infinity),
            (7, .greatestFiniteMagnitude), (8, .leastNonzeroMagnitude), (9, 1e-300), (10, 42), (11, 42),
            (12, Double(bitPattern: 0x7ff8_0000_0000_0001)),
        ])
    }

    @Test func randomValues() {
        var generator = SystemRandomNumberGenerator()
        var t: Int64 = 1_000
        let samples: [(Int64, Double)] = (0..<120).map { _ in
            t += Int64.random(in: 1...100_000, using: &generator)
            return (t, Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &generator)))
        }
        Self.check(samples)
    }

    @Test func constantSeriesCompressesToAboutTwoBitsPerSample() {
        var appender = XORAppender()
        for i in 0..<120 { appender.append(timestamp: Int64(i) * 15_000, value: 1) }
        #expect(appender.bytes.count < 60)
    }

    @Test func truncatedOrGarbageInputStopsWithoutTrapping() {
        var appender = XORAppender()
        for i in 0..<50 { appender.append(timestamp: Int64(i) * 1000 + Int64(i % 3), value: Double(i) * 1.5) }
        let bytes = appender.bytes
        for cut in [1, 2, 3, 10, bytes.count / 2, bytes.count - 1] {
            var iterator = FloatChunkIterator(Array(bytes.prefix(cut)))
            var count = 0
            while iterator.next() { count += 1 }
            #expect(count < 50)
            #expect(iterator.failed)
        }
        var garbage = FloatChunkIterator([0xFF, 0xFF] + Array(repeating: 0xFF, count: 40))
        while garbage.next() {}
        #expect(garbage.failed)
    }

    /// The bit writer against the plainest one possible (a bit at a time): writes of every width
    /// from 0 to 64, at every alignment, give the same bytes and the same bit count.
    @Test func bitWriterMatchesABitAtATimeWriter() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<200 {
            var writer = BitWriter()
            var bits: [Bool] = []
            for _ in 0..<(round % 40 + 1) {
                let count = Int.random(in: 0...64, using: &generator)
                let value = UInt64.random(in: .min ... .max, using: &generator)
                writer.write(bits: value, count: count)
                for position in stride(from: count - 1, through: 0, by: -1) { bits.append((value >> UInt64(position)) & 1 == 1) }
            }
            var expected = [UInt8](repeating: 0, count: (bits.count + 7) / 8)
            for (index, bit) in bits.enumerated() where bit { expected[index / 8] |= 0x80 >> UInt8(index % 8) }
            #expect(writer.bitCount == bits.count)
            #expect(writer.bytes == expected, "round \(round)")
        }
    }

    /// An appender rebuilt from its resume state at any point goes on to write exactly the bytes
    /// of one that was never interrupted, for regular, jittered and random series alike.
    @Test func resumedAppendersWriteTheSameBytes() {
        var generator = SystemRandomNumberGenerator()
        let series: [[(Int64, Double)]] = [
            (0..<120).map { (Int64($0) * 15_000, 1) },
            (0..<120).map { (Int64($0) * 15_000 + Int64.random(in: 0...40, using: &generator), Double($0 * 3) / 100) },
            (0..<120).map { (Int64($0) * 1_000, Double.random(in: -1e6...1e6, using: &generator)) },
        ]
        for samples in series {
            var whole = XORAppender()
            for (t, v) in samples { whole.append(timestamp: t, value: v) }
            for split in 1..<samples.count {
                var first = XORAppender()
                for (t, v) in samples.prefix(split) { first.append(timestamp: t, value: v) }
                guard var resumed = XORAppender(resuming: first.resumeState) else {
                    Issue.record("state at \(split) not accepted")
                    continue
                }
                for (t, v) in samples.dropFirst(split) { resumed.append(timestamp: t, value: v) }
                #expect(resumed.bytes == whole.bytes, "split at \(split)")
            }
        }
        var bad = XORAppender()
        bad.append(timestamp: 0, value: 1)
        var state = bad.resumeState
        state.bitCount += 64
        #expect(XORAppender(resuming: state) == nil)
    }

    /// The one-pass decode gives what sample-by-sample iteration gives, stopping on the first sample
    /// past its end, from any starting sample.
    @Test func appendRestMatchesIteration() {
        var appender = XORAppender()
        let samples: [(Int64, Double)] = (0..<120).map { (i: Int) -> (Int64, Double) in
            (Int64(i) * 15_000 + Int64(i % 3), Double(i * 7) / 10)
        }
        for (t, v) in samples { appender.append(timestamp: t, value: v) }
        let bytes = appender.bytes
        for skip in [0, 1, 2, 60, 119] {
            for end in [Int64(-1), 0, 14_999, 15_001, 900_000, 1_785_002, .max] {
                var iterator = FloatChunkIterator(bytes)
                for _ in 0...skip { _ = iterator.next() }
                var timestamps: [Int64] = [], values: [Double] = []
                let stopped = iterator.appendRest(upTo: end, timestamps: &timestamps, values: &values)
                let expected: [(Int64, Double)] = Array(samples.dropFirst(skip).prefix { $0.0 <= end })
                #expect(timestamps == expected.map { $0.0 }, "skip \(skip) end \(end)")
                #expect(values == expected.map { $0.1 })
                #expect(stopped == (skip + expected.count < samples.count))
                if stopped { #expect(iterator.timestamp == samples[skip + expected.count].0) }
            }
        }
    }
}
