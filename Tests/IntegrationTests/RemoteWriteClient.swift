import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import ObsCore

/// Builds remote-write 1.0 bodies (protobuf, then snappy) for the tests.
struct WriteSeries {
    var labels: [(String, String)]
    var samples: [(Int64, Double)]
    var histograms: [WriteHistogram] = []
    /// (labels, value, timestamp)
    var exemplars: [([(String, String)], Double, Int64)] = []
}

/// An integer native histogram as remote write carries it: spans and bucket-count deltas.
struct WriteHistogram {
    var timestamp: Int64
    var count: UInt64
    var sum: Double
    var schema: Int64 = 0
    var spans: [(offset: Int64, length: UInt64)]
    var deltas: [Int64]

    /// Buckets `0..<counts.count` at `schema` 0 holding `counts`.
    static func simple(_ timestamp: Int64, counts: [Int64], sum: Double) -> WriteHistogram {
        var deltas: [Int64] = []
        var previous: Int64 = 0
        for count in counts {
            deltas.append(count - previous)
            previous = count
        }
        return WriteHistogram(timestamp: timestamp, count: UInt64(counts.reduce(0, +)), sum: sum,
                              spans: [(0, UInt64(counts.count))], deltas: deltas)
    }
}

func encodeWriteRequest(_ series: [WriteSeries]) -> ByteBuffer {
    var writer = ProtobufWriter()
    for entry in series {
        writer.writeMessage(field: 1) { timeSeries in
            for (name, value) in entry.labels {
                timeSeries.writeMessage(field: 1) { label in
                    label.writeString(field: 1, name)
                    label.writeString(field: 2, value)
                }
            }
            for (timestamp, value) in entry.samples {
                timeSeries.writeMessage(field: 2) { sample in
                    sample.writeFixed64(field: 1, value.bitPattern)
                    sample.writeVarint(field: 2, UInt64(bitPattern: timestamp))
                }
            }
            for (labels, value, timestamp) in entry.exemplars {
                timeSeries.writeMessage(field: 3) { exemplar in
                    for (name, labelValue) in labels {
                        exemplar.writeMessage(field: 1) { label in
                            label.writeString(field: 1, name)
                            label.writeString(field: 2, labelValue)
                        }
                    }
                    exemplar.writeFixed64(field: 2, value.bitPattern)
                    exemplar.writeVarint(field: 3, UInt64(bitPattern: timestamp))
                }
            }
            for h in entry.histograms {
                timeSeries.writeMessage(field: 4) { histogram in
                    histogram.writeVarint(field: 1, h.count)
                    histogram.writeFixed64(field: 3, h.sum.bitPattern)
                    histogram.writeVarint(field: 4, Varint.zigZag(h.schema))
                    for span in h.spans {
                        histogram.writeMessage(field: 11) { message in
                            message.writeVarint(field: 1, Varint.zigZag(span.offset))
                            message.writeVarint(field: 2, span.length)
                        }
                    }
                    var packed = ByteBuffer()
                    for delta in h.deltas { packed.writeVarint(Varint.zigZag(delta)) }
                    histogram.writeBytes(field: 12, packed)
                    histogram.writeVarint(field: 15, UInt64(bitPattern: h.timestamp))
                }
            }
        }
    }
    return Snappy.compress(writer.buffer)
}

func remoteWrite(_ base: String, _ series: [WriteSeries]) async throws -> HTTPReply {
    try await remoteWrite(base, body: encodeWriteRequest(series))
}

func remoteWrite(_ base: String, body: ByteBuffer) async throws -> HTTPReply {
    var request = HTTPClientRequest(url: base + "/api/v1/write")
    request.method = .POST
    request.headers.add(name: "Content-Encoding", value: "snappy")
    request.headers.add(name: "Content-Type", value: "application/x-protobuf")
    request.headers.add(name: "X-Prometheus-Remote-Write-Version", value: "0.1.0")
    request.body = .bytes(body)
    let response = try await testClient.execute(request, timeout: .seconds(30))
    let bytes = try await response.body.collect(upTo: 1 << 20)
    return HTTPReply(status: Int(response.status.code), headers: [], body: String(buffer: bytes))
}
