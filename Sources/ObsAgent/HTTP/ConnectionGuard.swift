import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// Wraps a listener's child channel with the protections every connection gets, whatever it speaks
/// above HTTP/1: a read deadline (a client that trickles a request, or sits idle, is closed once
/// `readTimeout` passes without the server having answered anything) and a precise 400 or 431 for a
/// request the HTTP parser refuses (garbage, NUL bytes, conflicting lengths, HTTP/0.9, an HTTP/2
/// preface, a head over the parser's limits) instead of a connection left hanging.
struct GuardedChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value

    let inner: Inner
    let readTimeout: TimeAmount
    /// TLS, when the web configuration asks for it.
    let security: WebSecurity?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            // Next to the socket (after TLS): it sees every read and write, before and after any upgrade.
            try channel.pipeline.syncOperations.addHandler(ReadDeadlineHandler(timeout: readTimeout), position: .first)
            if let security, security.tlsEnabled {
                try channel.pipeline.syncOperations.addHandler(try security.serverHandler(), position: .first)
                try channel.pipeline.syncOperations.addHandler(PlainHTTPOnTLSHandler(), position: .first)
            }
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let decoder = try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(ParserErrorHandler(), position: .after(decoder))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// Asks the `ReadDeadlineHandler` to answer a refused request itself and close: it sits below the
/// HTTP encoder, so it can write the raw response whatever state the HTTP handlers are in.
struct RejectRequest: Sendable {
    var status: Int
    var reason: String
    var message: String
}

/// Closes the connection when `timeout` passes after it opened, or after the server last wrote to
/// it, without another write: a request must arrive whole, and an idle keep-alive connection is
/// let go, within that time (Prometheus's `--web.read-timeout`). Passes every read and write on
/// untouched.
final class ReadDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    // Never unwrapped: writes pass through as they come (HTTP bytes, then WebSocket frames' bytes).
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        arm(context)
        context.write(data, promise: promise)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let reject = event as? RejectRequest else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        deadline?.cancel()
        let body = reject.message + "\n"
        var response = context.channel.allocator.buffer(capacity: 160 + body.utf8.count)
        response.writeString("HTTP/1.1 \(reject.status) \(reject.reason)\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(response)).whenComplete { _ in channel.close(promise: nil) }
        promise?.succeed()
    }

    private func arm(_ context: ChannelHandlerContext) {
        deadline?.cancel()
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }
}

/// Sits right after the HTTP request decoder: a parse failure becomes Prometheus's answer to a bad
/// request (431 for an oversized head, 400 otherwise) and the connection closes. Reads pass on.
final class ParserErrorHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart

    private var rejected = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !rejected else { return }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard !rejected else { return }
        rejected = true
        let reject: RejectRequest = switch parserError {
        case .headerOverflow:
            RejectRequest(status: 431, reason: "Request Header Fields Too Large", message: "request header fields too large")
        default:
            RejectRequest(status: 400, reason: "Bad Request", message: "malformed HTTP request: \(parserError)")
        }
        context.triggerUserOutboundEvent(reject, promise: nil)
    }
}

/// On a TLS listener, answers a client that speaks plain HTTP the way Go's server does (400, "Client
/// sent an HTTP request to an HTTPS server.") instead of a failed handshake, then closes. It looks
/// at the first byte only and then leaves the pipeline.
final class PlainHTTPOnTLSHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        // A TLS record starts with its content type: 0x16 for the handshake. Letters start HTTP.
        guard let first = bytes.readableBytesView.first, (first | 0x20) >= UInt8(ascii: "a"), (first | 0x20) <= UInt8(ascii: "z") else {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        let reply = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: reply))).whenComplete { _ in channel.close(promise: nil) }
    }
}
