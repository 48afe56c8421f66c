@testable import MetricsTSDB
import Testing

/// The appender's table of newest samples per series answers as a dictionary would, through
/// growth, overwrites, emptying and the reference 0.
struct BatchNewestTests {
    @Test func answersLikeADictionary() {
        var generator = SystemRandomNumberGenerator()
        var table = BatchNewest()
        var reference: [UInt64: Int64] = [:]
        for round in 0..<3 {
            for step in 0..<5000 {
                // Dense references as the store hands out, a few huge ones, and 0.
                let ref = step % 97 == 0 ? UInt64.random(in: 0...UInt64.max, using: &generator)
                    : step % 101 == 0 ? 0 : UInt64.random(in: 1...3000, using: &generator)
                let time = Int64(round * 10_000 + step)
                table[ref] = HeadAppender.Newest(timestamp: time, bits: 0, inOrder: true)
                reference[ref] = time
            }
            for ref in UInt64(0)...3100 { #expect(table[ref]?.timestamp == reference[ref]) }
            for (ref, time) in reference { #expect(table[ref]?.timestamp == time) }
            table.removeAll()
            reference.removeAll()
            #expect(table[0] == nil && table[1] == nil && table.count == 0)
        }
    }
}
