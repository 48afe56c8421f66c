import LogIngest
import NIOCore
import ObsCore
import Testing

/// Loki push bodies: both JSON shapes, protobuf by Loki's field numbers, and the errors for bad ones.
@Suite struct LokiPushRequestTests {
    func json(_ text: String) throws -> LokiPushRequest {
        try Array(text.utf8).withUnsafeBytes { try LokiPushRequest(json: $0) }
    }

    @Test func jsonStreamsValuesAndMetadata() throws {
        let push = try json(#"""
        {"streams":[{"stream":{"app":"web","env":"prod"},"values":[["1700000000000000001","GET / 200"],
          ["1700000000000000002","with \"quotes\" \u00e9 and\nnewline",{"trace_id":"abc"}]]}]}
        """#)
        #expect(push.streams.count == 1)
        #expect(push.streams[0].labels == Labels(["app": "web", "env": "prod"]))
        #expect(push.streams[0].entries.map(\.timestamp) == [1_700_000_000_000_000_001, 1_700_000_000_000_000_002])
        #expect(push.streams[0].entries[1].line == "with \"quotes\" é and\nnewline")
        #expect(push.streams[0].entries[1].metadata == Labels(["trace_id": "abc"]))
    }

    @Test func theOlderLabelsAndEntriesShape() throws {
        let push = try json(#"{"streams":[{"labels":"{app=\"web\", env=\"prod\"}","entries":[{"ts":"2025-06-01T08:00:00.5Z","line":"x"}]}]}"#)
        #expect(push.streams[0].labels == Labels(["app": "web", "env": "prod"]))
        #expect(push.streams[0].entries == [LogEntry(timestamp: 1_748_764_800_500_000_000, line: "x")])
    }

    @Test(arguments: [
        (#"{"streams":[{"stream":{"app":"web"},"values":[["yesterday","x"]]}]}"#, "invalid timestamp"),
        (#"{"streams":[{"stream":{"0app":"web"},"values":[]}]}"#, "invalid label name"),
        (#"{"streams":[{"values":[["1","x"]]}]}"#, "a stream needs its labels"),
        (#"{"streams":[{"stream":{"app":"web"},"values":[["1"]]}]}"#, "a timestamp and a line"),
        (#"{"streams":[{"stream":{"app":"web"},"values":[["1","x"]]}"#, "invalid JSON"),
        (#"{"streams":[{"labels":"{app=~\"w.*\"}","entries":[]}]}"#, "error parsing labels"),
    ])
    func badJSONIsRefusedWithAReason(body: String, reason: String) {
        do {
            _ = try json(body)
            Issue.record("accepted \(body)")
        } catch {
            #expect("\(error)".contains(reason), "\(error)")
        }
    }

    @Test func protobufByLokiFieldNumbers() throws {
        var writer = ProtobufWriter()
        writer.writeMessage(field: 1) { stream in
            stream.writeString(field: 1, #"{app="web", env="prod"}"#)
            stream.writeMessage(field: 2) { entry in
                entry.writeMessage(field: 1) { time in
                    time.writeVarint(field: 1, 1_700_000_000)
                    time.writeVarint(field: 2, 123)
                }
                entry.writeString(field: 2, "hello")
                entry.writeMessage(field: 3) { pair in
                    pair.writeString(field: 1, "trace_id")
                    pair.writeString(field: 2, "abc")
                }
            }
            stream.writeVarint(field: 3, 42)
        }
        let push = try LokiPushRequest(protobuf: writer.buffer)
        #expect(push.streams.first?.labels == Labels(["app": "web", "env": "prod"]))
        #expect(push.streams.first?.entries == [
            LogEntry(timestamp: 1_700_000_000_000_000_123, line: "hello", metadata: Labels(["trace_id": "abc"])),
        ])
    }

    @Test func truncatedProtobufIsRefused() {
        var writer = ProtobufWriter()
        writer.writeMessage(field: 1) { stream in stream.writeString(field: 1, #"{app="web"}"#) }
        let bytes = writer.buffer.getSlice(at: 0, length: writer.buffer.readableBytes - 3)!
        #expect(throws: LokiPushRequest.Failure.self) { try LokiPushRequest(protobuf: bytes) }
    }
}
