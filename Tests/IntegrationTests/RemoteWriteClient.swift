import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import ObsCore

/// Builds remote-write 1.0 bodies (protobuf, then snappy) for the tests.
struct WriteSeries {
    var labels: [(String, String)]
    var samples: [(Int64, Double)]
    var histograms = 0
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
            for _ in 0..<entry.histograms {
                timeSeries.writeMessage(field: 4) { histogram in histogram.writeVarint(field: 1, 3) }
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
