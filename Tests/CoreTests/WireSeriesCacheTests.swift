import NIOCore
@testable import ObsCore
import Testing

/// Series recognised by their label bytes: a hit only for exactly the labels remembered, and the
/// deferred decoding of remote write giving the same labels as the eager one.
struct WireSeriesCacheTests {
    /// A `TimeSeries` message: label fields, then one sample, then `trailing` label fields (which
    /// split the labels' run).
    static func series(_ labels: [(String, String)], trailing: [(String, String)] = []) -> ByteBuffer {
        var writer = ProtobufWriter()
        func label(_ pair: (String, String)) {
            writer.writeMessage(field: 1) { inner in
                inner.writeString(field: 1, pair.0)
                inner.writeString(field: 2, pair.1)
            }
        }
        labels.forEach(label)
        writer.writeMessage(field: 2) { sample in
            sample.writeFixed64(field: 1, (1.5).bitPattern)
            sample.writeVarint(field: 2, 1000)
        }
        trailing.forEach(label)
        var request = ProtobufWriter()
        request.writeBytes(field: 1, writer.buffer)
        return request.buffer
    }

    static let node: [(String, String)] = [("__name__", "up"), ("instance", "a:9100"), ("job", "node")]

    @Test func labelsStayOnTheWireUntilDecoded() throws {
        let request = try RemoteWriteRequest(protobuf: Self.series(Self.node))
        let series = request.series[0]
        #expect(try series.decodedLabels() == Self.node.map { Label($0.0, $0.1) })
        #expect(request.samples[series.sampleRange].map(\.value) == [1.5])
        let wire = try #require(series.wireLabels)
        #expect(WireSeriesCache.wire(wire, equals: Labels(try series.decodedLabels())))

        // Labels on both sides of a sample: decoded at once, never recognised by their bytes.
        let split = try RemoteWriteRequest(protobuf: Self.series([("__name__", "up")], trailing: [("job", "node")]))
        #expect(split.series[0].wireLabels == nil)
        #expect(try split.series[0].decodedLabels() == [Label("__name__", "up"), Label("job", "node")])

        // A label message that is not well formed: refused when decoded, and never recognised.
        var broken = ProtobufWriter()
        broken.writeBytes(field: 1, ByteBuffer(bytes: [0x0A, 0x05, 0x0A, 0x09, 0x61]))
        var body = ProtobufWriter()
        body.writeBytes(field: 1, broken.buffer)
        let bad = try RemoteWriteRequest(protobuf: body.buffer)
        #expect(throws: CoreError.self) { try bad.series[0].decodedLabels() }
        #expect(!WireSeriesCache.wire(try #require(bad.series[0].wireLabels), equals: Labels([Label("a", "b")])))
    }

    @Test func onlyTheExactLabelsAreRecognised() throws {
        let cache = WireSeriesCache()
        let wire = { (labels: [(String, String)]) in
            try #require(try RemoteWriteRequest(protobuf: Self.series(labels)).series[0].wireLabels)
        }
        let labels = Labels(Self.node.map { Label($0.0, $0.1) })
        let known = try wire(Self.node)
        let hash = WireSeriesCache.hash(known)
        #expect(cache.lookup(known, hash: hash) == nil)
        cache.remember(hash: hash, ref: 7, labels: labels)
        #expect(cache.lookup(known, hash: hash)?.ref == 7)

        // Another value, another order, a label more or less, an empty value: each misses, even
        // under the remembered hash (a collision).
        let others: [[(String, String)]] = [
            [("__name__", "up"), ("instance", "b:9100"), ("job", "node")],
            [("instance", "a:9100"), ("__name__", "up"), ("job", "node")],
            Self.node + [("zone", "x")],
            Array(Self.node.prefix(2)),
            Self.node + [("zone", "")],
        ]
        for other in others {
            let bytes = try wire(other)
            #expect(cache.lookup(bytes, hash: hash) == nil)
            #expect(WireSeriesCache.hash(bytes) != hash)
        }
        // Cut short anywhere: a miss, never a trap.
        for length in 0..<known.readableBytes {
            #expect(!WireSeriesCache.wire(known.getSlice(at: known.readerIndex, length: length)!, equals: labels) || length == 0 && labels.isEmpty)
        }
    }

    @Test func aFullStripeStartsOver() {
        let cache = WireSeriesCache(capacity: 16)
        for value in 0..<1000 { cache.remember(hash: UInt64(value) << 60 | UInt64(value), ref: UInt64(value), labels: Labels([:])) }
        #expect(cache.count <= 16)
    }

    /// A request with everything a series may carry, and fields the decoder does not know: each
    /// part lands where it belongs, and the body cut anywhere throws or decodes without trapping.
    @Test func everyPartOfARequestDecodes() throws {
        var writer = ProtobufWriter()
        writer.writeMessage(field: 1) { series in
            series.writeMessage(field: 1) { $0.writeString(field: 1, "__name__"); $0.writeString(field: 2, "requests") }
            series.writeMessage(field: 1) { $0.writeString(field: 1, "job"); $0.writeString(field: 2, "api") }
            for i in 0..<3 {
                series.writeMessage(field: 2) { $0.writeFixed64(field: 1, Double(i).bitPattern); $0.writeVarint(field: 2, UInt64(i) * 1000) }
            }
            series.writeMessage(field: 3) { exemplar in
                exemplar.writeMessage(field: 1) { $0.writeString(field: 1, "trace_id"); $0.writeString(field: 2, "abc") }
                exemplar.writeFixed64(field: 2, (0.5).bitPattern)
                exemplar.writeVarint(field: 3, 1500)
            }
            series.writeVarint(field: 9, 42)
        }
        writer.writeMessage(field: 3) { $0.writeString(field: 4, "help text") }
        writer.writeMessage(field: 1) { series in
            series.writeMessage(field: 1) { $0.writeString(field: 1, "__name__"); $0.writeString(field: 2, "latency") }
            series.writeMessage(field: 4) { histogram in
                histogram.writeVarint(field: 1, 3)
                histogram.writeFixed64(field: 3, (4.5).bitPattern)
                histogram.writeVarint(field: 4, 0)
                histogram.writeMessage(field: 11) { $0.writeVarint(field: 1, 0); $0.writeVarint(field: 2, 2) }
                var deltas = ByteBuffer()
                deltas.writeVarint(Varint.zigZag(1))
                deltas.writeVarint(Varint.zigZag(1))
                histogram.writeBytes(field: 12, deltas)
                histogram.writeVarint(field: 15, 2000)
            }
        }
        let body = writer.buffer
        let request = try RemoteWriteRequest(protobuf: body)
        #expect(request.series.count == 2 && request.metadataCount == 1)
        let first = request.series[0], second = request.series[1]
        #expect(try first.decodedLabels() == [Label("__name__", "requests"), Label("job", "api")])
        #expect(request.samples[first.sampleRange].map(\.timestamp) == [0, 1000, 2000])
        #expect(first.exemplars.map(\.value) == [0.5])
        #expect(try second.decodedLabels() == [Label("__name__", "latency")])
        #expect(second.sampleRange.isEmpty && second.histograms.map(\.timestamp) == [2000])
        #expect(second.histograms.first?.histogram.count == 3)

        for length in 0..<body.readableBytes {
            guard let cut = try? RemoteWriteRequest(protobuf: body.getSlice(at: 0, length: length)!) else { continue }
            for series in cut.series { _ = try? series.decodedLabels() }
        }
    }
}
