import Foundation
import NIOCore
import ObsCore
import Testing
@testable import TraceCollector

/// OTLP export requests in both encodings: every field survives, bad ids reject only their span,
/// malformed bodies throw.
@Suite struct OTLPDecodingTests {
    static let traceID = TraceID(hex: "5b8efff798038103d269b633813fc60c")!

    static var sample: [ResourceSpans] {
        var root = Span(traceID: traceID, spanID: 0xEEE19B7EC3C1B174, name: "GET /api/users", start: 1_700_000_000_000_000_000,
                        end: 1_700_000_000_250_000_000)
        root.kind = .server
        root.attributes = [Attribute("http.method", .string("GET")), Attribute("http.status_code", .int(200)),
                           Attribute("retry", .bool(false)), Attribute("ratio", .double(0.25)),
                           Attribute("tags", .array([.string("a"), .int(-3)])),
                           Attribute("nested", .map([Attribute("k", .string("v"))])), Attribute("raw", .bytes([0, 255]))]
        root.events = [SpanEvent(time: 1_700_000_000_100_000_000, name: "cache miss", attributes: [Attribute("key", .string("u:7"))])]
        root.statusCode = .error
        root.statusMessage = "boom"
        root.traceState = "vendor=1"
        root.flags = 1
        var child = Span(traceID: traceID, spanID: 0x1, name: "SELECT users", start: 1_700_000_000_010_000_000,
                         end: 1_700_000_000_200_000_000)
        child.parentSpanID = root.spanID
        child.kind = .client
        var link = SpanLink(traceID: TraceID(hex: "0af7651916cd43dd8448eb211c80319c")!, spanID: 0xB7AD6B7169203331)
        link.attributes = [Attribute("why", .string("batch"))]
        child.links = [link]
        var scope = ScopeSpans(scope: InstrumentationScope(name: "io.opentelemetry.http", version: "1.2.0"), spans: [root, child])
        scope.schemaURL = "https://opentelemetry.io/schemas/1.21.0"
        return [ResourceSpans(resource: [Attribute("service.name", .string("shop")), Attribute("host.name", .string("node-1"))],
                              scopes: [scope])]
    }

    @Test func protobufRoundTrip() throws {
        let decoded = try OTLPProtobuf.decode(OTLPEncoder.encode(Self.sample))
        #expect(decoded.batches == Self.sample)
        #expect(decoded.rejected == 0 && decoded.spanCount == 2)
        #expect(decoded.batches[0].serviceName == "shop")
    }

    @Test func jsonAsTheSpecWritesIt() throws {
        let json = #"""
        {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"shop"}}]},
          "scopeSpans":[{"scope":{"name":"lib","version":"1"},"spans":[
            {"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","name":"GET","kind":"SPAN_KIND_SERVER",
             "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
             "attributes":[{"key":"n","value":{"intValue":"42"}},{"key":"d","value":{"doubleValue":1.5}},
                           {"key":"b","value":{"boolValue":true}},{"key":"x","value":{"bytesValue":"AP8="}},
                           {"key":"a","value":{"arrayValue":{"values":[{"stringValue":"s"}]}}}],
             "status":{"code":2,"message":"bad"},"events":[{"timeUnixNano":"1544712660500000000","name":"e"}],
             "unknownField":{"ignored":[1,2]}},
            {"traceId":"","spanId":"EEE19B7EC3C1B174","name":"no trace id"},
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"0000000000000000","name":"zero span id"}]}]}]}
        """#
        let decoded = try Array(json.utf8).withUnsafeBytes { try OTLPJSON.decode($0) }
        #expect(decoded.spanCount == 1 && decoded.rejected == 2)
        #expect(decoded.firstError?.contains("no trace id") == true)
        let span = try #require(decoded.batches.first?.scopes.first?.spans.first)
        #expect(span.traceID == Self.traceID && span.spanID == 0xEEE19B7EC3C1B174 && span.kind == .server)
        #expect(span.start == 1_544_712_660_000_000_000 && span.duration == 1_000_000_000)
        #expect(span.attributes == [Attribute("n", .int(42)), Attribute("d", .double(1.5)), Attribute("b", .bool(true)),
                                    Attribute("x", .bytes([0, 255])), Attribute("a", .array([.string("s")]))])
        #expect(span.statusCode == .error && span.statusMessage == "bad" && span.events.first?.name == "e")
    }

    @Test(arguments: ["{", #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":5}]}]}]}"#, "[]", #"{"resourceSpans":{}} x"#])
    func malformedJSON(_ body: String) {
        #expect(throws: (any Error).self) { try Array(body.utf8).withUnsafeBytes { try OTLPJSON.decode($0) } }
    }

    @Test func malformedProtobuf() {
        var buffer = ByteBuffer()
        buffer.writeBytes([0x0A, 0x10, 0x12])  // resource_spans announcing 16 bytes, holding 1
        #expect(throws: (any Error).self) { try OTLPProtobuf.decode(buffer) }
    }

    /// Splitting by trace at the wire level keeps each span's bytes, so decoding a fragment gives the
    /// same spans, under the same resource and scope, as decoding the whole export.
    @Test func splitByTraceKeepsEverything() throws {
        var batches = Self.sample
        let other = TraceID(hex: "0af7651916cd43dd8448eb211c80319c")!
        batches[0].scopes[0].spans.append(Span(traceID: other, spanID: 9, name: "other", start: 5, end: 9))
        let split = try OTLPSplitter.split(OTLPEncoder.encode(batches))
        #expect(split.fragments.count == 2 && split.spanCount == 3 && split.rejected == 0)
        let first = try OTLPProtobuf.decode(try #require(split.fragments[Self.traceID])).batches
        #expect(first == Self.sample)
        let second = try OTLPProtobuf.decode(try #require(split.fragments[other])).batches
        #expect(second.first?.scopes.first?.spans.map(\.name) == ["other"] && second.first?.serviceName == "shop")
        let root = try #require(split.spans.first { $0.isRoot && $0.traceID == Self.traceID })
        #expect(root.name == "GET /api/users" && root.service == "shop" && root.status == .error && root.kind == .server)
    }

    @Test func splitRefusesBadIdsOneByOne() throws {
        var writer = ProtobufWriter()
        writer.writeMessage(field: 1) { resource in
            resource.writeMessage(field: 2) { scope in
                scope.writeMessage(field: 2) { span in
                    span.writeBytes(field: 1, [UInt8](repeating: 1, count: 16))
                    span.writeBytes(field: 2, [UInt8](repeating: 2, count: 8))
                    span.writeString(field: 5, "good")
                }
                scope.writeMessage(field: 2) { span in
                    span.writeBytes(field: 1, [UInt8](repeating: 1, count: 15))
                    span.writeString(field: 5, "short trace id")
                }
            }
        }
        let split = try OTLPSplitter.split(writer.buffer)
        #expect(split.spanCount == 1 && split.rejected == 1)
        #expect(split.firstError?.contains("short trace id") == true)
    }

    @Test func idsInHex() {
        #expect(TraceID(hex: "1")?.low == 1)
        #expect(TraceID(hex: "00000000000000000000000000000000") == nil)
        #expect(TraceID(hex: "xyz") == nil)
        #expect(Self.traceID.hex == "5b8efff798038103d269b633813fc60c")
        #expect(TraceID(bytes: Self.traceID.bytes) == Self.traceID)
    }
}
