import NIOCore
@testable import ObsCore
import Testing

/// Native histograms written for remote write read back the same, as integer histograms when
/// every count is whole and as float histograms otherwise.
struct RemoteWriteHistogramTests {
    static let cases: [FloatHistogram] = [
        // Integer counts, buckets with gaps on both sides, a reset hint.
        FloatHistogram(resetHint: .notReset, schema: 1, zeroThreshold: 0.001, zeroCount: 2, count: 17, sum: 42.5,
                       positive: [.init(-2, 1), .init(-1, 3), .init(3, 5), .init(4, 1)], negative: [.init(0, 2), .init(7, 3)]),
        // Fractional counts: sent as a float histogram.
        FloatHistogram(resetHint: .gauge, schema: -2, zeroCount: 0.5, count: 3.75, sum: -1.25,
                       positive: [.init(1, 1.25), .init(2, 2)], negative: []),
        // Custom bucket bounds.
        FloatHistogram(schema: FloatHistogram.customBucketsSchema, count: 6, sum: 3, positive: [.init(0, 2), .init(2, 4)],
                       customValues: [0.1, 0.5, 1]),
        FloatHistogram(),
    ]

    @Test(arguments: cases)
    func roundTrips(_ histogram: FloatHistogram) throws {
        var reader = ProtobufReader(RemoteWriteHistogram.encode(histogram, timestamp: -1_500), codec: "test")
        let (timestamp, decoded) = try RemoteWriteHistogram.decode(&reader)
        #expect(timestamp == -1_500)
        #expect(decoded == histogram)
    }

    @Test func wholeCountsGoAsIntegers() {
        var reader = ProtobufReader(RemoteWriteHistogram.encode(Self.cases[0], timestamp: 0), codec: "test")
        var fields: Set<UInt64> = []
        while let (number, type) = try! reader.nextField() {
            fields.insert(number)
            try! reader.skip(type)
        }
        // count_int, zero_count_int and the deltas; no float counts.
        #expect(fields.isSuperset(of: [1, 6, 9, 12]) && fields.isDisjoint(with: [2, 7, 10, 13]), "\(fields.sorted())")
    }

    @Test func spansDescribeRunsOfIndices() {
        let spans = RemoteWriteHistogram.spans(of: [.init(-3, 1), .init(-2, 1), .init(2, 1), .init(3, 1), .init(4, 1), .init(9, 1)])
        #expect(spans.map { [Int($0.offset), Int($0.length)] } == [[-3, 2], [3, 3], [4, 1]])
    }
}
