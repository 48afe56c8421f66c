import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import NIOCore
import ServiceLifecycle
import TraceCollector

/// OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export` over HTTP/2 on its own
/// port. Messages are read and written with the same field-number codec as OTLP/HTTP, so no
/// generated code is involved. Answers as the spec says: the export response (with a partial
/// success when spans were refused) once the spans are in the WAL; `INVALID_ARGUMENT` for an
/// unreadable request; `UNAVAILABLE` (retryable) while storage is not ready or failed.
struct OTLPGRPCService: Service {
    let host: String
    let port: Int
    let receivers: TraceReceiverRoutes
    let logger: Logger

    func run() async throws {
        let server = GRPCServer(transport: .http2NIOPosix(address: .ipv4(host: host, port: port), transportSecurity: .plaintext),
                                services: [TraceExport(receivers: receivers)])
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await server.serve() }
                if let address = try await server.listeningAddress?.ipv4 {
                    logger.info("Receiver listening", metadata: ["protocol": "otlp-grpc", "address": "\(address.host):\(address.port)"])
                }
            }
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}

/// The TraceService with its one unary method.
struct TraceExport: RegistrableRPCService {
    let receivers: TraceReceiverRoutes

    static let method = MethodDescriptor(fullyQualifiedService: "opentelemetry.proto.collector.trace.v1.TraceService", method: "Export")

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.registerHandler(forMethod: Self.method, deserializer: RawBytes(), serializer: RawBytes()) { request, _ in
            var body: [UInt8]?
            for try await message in request.messages {
                guard body == nil else { throw RPCError(code: .invalidArgument, message: "Export takes exactly one request message") }
                body = message
            }
            guard let body else { throw RPCError(code: .invalidArgument, message: "no request message") }
            let decoded: SplitExport
            do {
                decoded = try OTLPSplitter.split(ByteBuffer(bytes: body))
            } catch {
                throw RPCError(code: .invalidArgument, message: "cannot decode the OTLP request: \(error)")
            }
            do {
                try await receivers.store(decoded)
            } catch {
                throw RPCError(code: .unavailable, message: "storing spans failed: \(error)")
            }
            return StreamingServerResponse(single: ServerResponse(message: Array(decoded.exportResponse.readableBytesView)))
        }
    }
}

/// Messages passed through as their protobuf bytes.
struct RawBytes: MessageSerializer, MessageDeserializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }

    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}
