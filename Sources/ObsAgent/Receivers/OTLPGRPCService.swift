import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import ObsCore
import ServiceLifecycle
import TraceCollector

/// OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export` over HTTP/2 on its own
/// port, spoken directly on NIO's HTTP/2 (one unary method needs no gRPC framework), so the listener
/// gets the web configuration every other listener has: TLS with the client-certificate policy and
/// certificate reload (ALPN `h2`), and basic authentication. Messages are read with the same
/// field-number codec as OTLP/HTTP. Answers as the spec says: the export response (with a partial
/// success when spans were refused) once the spans are in the WAL; `INVALID_ARGUMENT` for an
/// unreadable request; `UNAUTHENTICATED` without valid credentials; `RESOURCE_EXHAUSTED` past the
/// size limit; `UNAVAILABLE` (retryable) while storage is not ready or failed.
struct OTLPGRPCService: Service {
    let host: String
    let port: Int
    let receivers: TraceReceiverRoutes
    let security: WebSecurity
    /// Largest message, compressed (`--web.max-request-body-size`) and decoded (`--web.max-decoded-body-size`).
    let maxMessageSize: Int
    let maxDecodedSize: Int
    /// A connection that sends nothing for this long is closed (`--web.read-timeout`).
    let idleTimeout: TimeAmount
    let logger: Logger

    typealias Stream = NIOAsyncChannel<HTTP2Frame.FramePayload, HTTP2Frame.FramePayload>

    func run() async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { [security, idleTimeout] channel in
                channel.eventLoop.makeCompletedFuture {
                    let operations = channel.pipeline.syncOperations
                    if security.tlsEnabled { try operations.addHandler(try security.serverHandler(applicationProtocols: ["h2"])) }
                    try operations.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                    try operations.addHandler(IdleCloser())
                    // A few streams per connection: each may buffer a message up to the size limit.
                    var connection = NIOHTTP2Handler.ConnectionConfiguration()
                    connection.initialSettings = [HTTP2Setting(parameter: .maxConcurrentStreams, value: 16),
                                                  HTTP2Setting(parameter: .maxHeaderListSize, value: 16_384)]
                    return try operations.configureAsyncHTTP2Pipeline(
                        mode: .server,
                        configuration: .init(connection: connection, stream: .init())
                    ) { stream in
                        stream.eventLoop.makeCompletedFuture { try Stream(wrappingChannelSynchronously: stream) }
                    }
                }
            }
        if let address = server.channel.localAddress {
            logger.info("Receiver listening", metadata: ["protocol": "otlp-grpc", "address": "\(address.ipAddress ?? host):\(address.port ?? port)"])
        }
        await cancelWhenGracefulShutdown {
            try? await withThrowingDiscardingTaskGroup { connections in
                try await server.executeThenClose { accepted in
                    for try await multiplexer in accepted {
                        connections.addTask {
                            try? await withThrowingDiscardingTaskGroup { streams in
                                for try await stream in multiplexer.inbound {
                                    streams.addTask { await handle(stream) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// One call: headers, the length-prefixed message, then the answer with its trailers.
    func handle(_ stream: Stream) async {
        try? await stream.executeThenClose { inbound, outbound in
            var headers: HPACKHeaders?
            var body = ByteBuffer()
            var tooLarge = false
            reading: for try await frame in inbound {
                switch frame {
                case .headers(let received):
                    if headers == nil { headers = received.headers }
                    if received.endStream { break reading }
                case .data(let received):
                    if case .byteBuffer(var bytes) = received.data {
                        if body.readableBytes + bytes.readableBytes > maxMessageSize + 5 { tooLarge = true } else { body.writeBuffer(&bytes) }
                    }
                    if received.endStream { break reading }
                default:
                    continue
                }
            }
            guard let headers else { return }
            let outcome = await answer(headers: headers, body: body, tooLarge: tooLarge)
            try await respond(outcome, on: outbound)
        }
    }

    /// What a call gets: a message, or a gRPC status (`code` 0 with a message is a success).
    struct Outcome {
        var code: Int
        var message: String
        var response: ByteBuffer?
        /// Set when the request was not gRPC at all: an HTTP status instead.
        var httpStatus: Int?
    }

    func answer(headers: HPACKHeaders, body: ByteBuffer, tooLarge: Bool) async -> Outcome {
        guard headers.first(name: ":method") == "POST" else { return Outcome(code: 12, message: "", httpStatus: 405) }
        guard let type = headers.first(name: "content-type"), type.hasPrefix("application/grpc") else {
            return Outcome(code: 12, message: "", httpStatus: 415)
        }
        let users = security.current().users
        if !users.isEmpty {
            guard let (user, password) = WebSecurity.basicCredentials(headers.first(name: "authorization")),
                  await security.authenticate(user: user, password: password, users: users) else {
                return Outcome(code: 16, message: "Unauthorized")
            }
        }
        guard headers.first(name: ":path") == "/opentelemetry.proto.collector.trace.v1.TraceService/Export" else {
            return Outcome(code: 12, message: "unknown method \(headers.first(name: ":path") ?? "")")
        }
        guard !tooLarge else { return Outcome(code: 8, message: "message larger than \(maxMessageSize) bytes") }
        var frame = body
        guard let compressed = frame.readInteger(as: UInt8.self), let length = frame.readInteger(as: UInt32.self),
              let payload = frame.readSlice(length: Int(length)), frame.readableBytes == 0 else {
            return Outcome(code: 13, message: "the request is not one length-prefixed message")
        }
        var message = payload
        if compressed == 1 {
            guard headers.first(name: "grpc-encoding") == "gzip" else {
                return Outcome(code: 12, message: "message compressed with \(headers.first(name: "grpc-encoding") ?? "nothing named"); gzip is supported")
            }
            do {
                message = try Zlib.uncompress(payload, format: .gzip, maxDecodedSize: maxDecodedSize)
            } catch {
                return Outcome(code: 3, message: "cannot decompress the request: \(error)")
            }
        }
        let decoded: SplitExport
        do {
            decoded = try OTLPSplitter.split(message)
        } catch {
            return Outcome(code: 3, message: "cannot decode the OTLP request: \(error)")
        }
        do {
            try await receivers.store(decoded)
        } catch {
            return Outcome(code: 14, message: "storing spans failed: \(error)")
        }
        return Outcome(code: 0, message: "", response: decoded.exportResponse)
    }

    func respond(_ outcome: Outcome, on outbound: NIOAsyncChannelOutboundWriter<HTTP2Frame.FramePayload>) async throws {
        if let status = outcome.httpStatus {
            try await outbound.write(.headers(.init(headers: [":status": "\(status)"], endStream: true)))
            return
        }
        var head: HPACKHeaders = [":status": "200", "content-type": "application/grpc"]
        guard var message = outcome.response else {
            // Trailers-only: the status rides on the only headers frame.
            head.add(name: "grpc-status", value: "\(outcome.code)")
            head.add(name: "grpc-message", value: Self.percentEncoded(outcome.message))
            try await outbound.write(.headers(.init(headers: head, endStream: true)))
            return
        }
        try await outbound.write(.headers(.init(headers: head)))
        var framed = ByteBuffer()
        framed.writeInteger(UInt8(0))
        framed.writeInteger(UInt32(message.readableBytes))
        framed.writeBuffer(&message)
        try await outbound.write(.data(.init(data: .byteBuffer(framed))))
        try await outbound.write(.headers(.init(headers: ["grpc-status": "0"], endStream: true)))
    }

    /// gRPC's `grpc-message` encoding: printable ASCII but `%` as is, everything else `%XX`.
    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }
}

/// Closes a connection that went quiet for the idle timeout.
final class IdleCloser: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
