import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL
import ObsCore
import OutboundHTTP
import Synchronization

/// The OTLP/gRPC `Export` methods, by signal.
public enum OTLPPaths {
    public static let traces = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
    public static let logs = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
}

/// OTLP/gRPC's unary `Export` call (`TraceService` or `LogsService`), spoken directly on NIO's
/// HTTP/2 as the receiver side is: one connection per destination (plain HTTP/2 with prior knowledge for
/// `http://`, TLS with ALPN `h2` for `https://`), kept open between calls and opened again when
/// it fails or the server closed it. Credentials, `headers` and the TLS settings come from the
/// destination's client settings, read at each call like every other client's.
final class OTLPGRPCExporter: Sendable {

    /// A call's end: gRPC's status code and message (code 0: the export was accepted).
    struct Outcome: Equatable {
        var code: Int
        var message: String
        /// The server asked for a retry (`RetryInfo` in the status details), which makes
        /// `RESOURCE_EXHAUSTED` retryable.
        var retryInfo = false

        /// OTLP's retryable codes: CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE,
        /// UNAVAILABLE, DATA_LOSS, and RESOURCE_EXHAUSTED when the server says recovery is possible.
        var retryable: Bool { [1, 4, 10, 11, 14, 15].contains(code) || (code == 8 && retryInfo) }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private typealias Stream = NIOAsyncChannel<HTTP2Frame.FramePayload, HTTP2Frame.FramePayload>

    private struct Connection: @unchecked Sendable {
        // The multiplexer only hops to the channel's event loop; it is safe to share.
        var channel: any Channel
        var multiplexer: NIOHTTP2Handler.AsyncStreamMultiplexer<Void>
    }

    let host: String
    let port: Int
    let path: String
    let tls: Bool
    private let authority: String
    private let settings: HTTPClientSettings
    private let headers: [String: String]
    private let gzip: Bool
    private let connection = Mutex<Connection?>(nil)

    /// `url` is `http://host:port` or `https://host:port`, without a path.
    init(url: String, path: String, settings: HTTPClientSettings, headers: [String: String], gzip: Bool) throws {
        self.path = path
        guard let parsed = URL(string: url), let host = parsed.host, let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme) else {
            throw Failure(description: "invalid OTLP/gRPC endpoint \(url)")
        }
        tls = scheme == "https"
        self.host = host
        port = parsed.port ?? (tls ? 443 : 80)
        authority = parsed.port.map { "\(host):\($0)" } ?? host
        self.settings = settings
        self.headers = headers
        self.gzip = gzip
    }

    deinit { connection.withLock { $0?.channel.close(promise: nil) } }

    /// Sends one export request (`message`, gzip-compressed already when the destination asked for
    /// compression); throws on transport failures and when `timeout` (milliseconds) passes first.
    func export(_ message: ByteBuffer, timeout: Int64) async throws -> Outcome {
        var head: HPACKHeaders = [
            ":method": "POST", ":scheme": tls ? "https" : "http", ":path": path, ":authority": authority,
            "content-type": "application/grpc", "te": "trailers", "user-agent": "obs-agent",
            "grpc-timeout": "\(timeout)m",
        ]
        if gzip { head.add(name: "grpc-encoding", value: "gzip") }
        do {
            if let authorization = try settings.authorizationHeader() { head.add(name: "authorization", value: authorization) }
        } catch {
            throw Failure(description: error.description)
        }
        for (name, value) in headers { head.replaceOrAdd(name: name.lowercased(), value: value) }
        var framed = ByteBuffer()
        framed.writeInteger(UInt8(gzip ? 1 : 0))
        framed.writeInteger(UInt32(message.readableBytes))
        framed.writeImmutableBuffer(message)
        return try await withDeadline(milliseconds: timeout) { [head, framed] in
            try await self.call(head, framed)
        }
    }

    /// One call on the open connection, or on a new one when there is none or the open one is gone.
    private func call(_ head: HPACKHeaders, _ framed: ByteBuffer) async throws -> Outcome {
        let stream: Stream
        if let open = connection.withLock({ $0 }), open.channel.isActive,
           let opened = try? await open.multiplexer.openStream({ Self.wrap($0) }) {
            stream = opened
        } else {
            stream = try await connect().multiplexer.openStream { Self.wrap($0) }
        }
        return try await stream.executeThenClose { inbound, outbound in
            try await outbound.write(.headers(.init(headers: head)))
            try await outbound.write(.data(.init(data: .byteBuffer(framed), endStream: true)))
            var status: String?
            var trailers = HPACKHeaders()
            for try await frame in inbound {
                guard case let .headers(received) = frame else { continue }
                if status == nil, let code = received.headers.first(name: ":status") {
                    status = code
                }
                // Trailers, or a trailers-only answer whose one headers frame carries the status.
                if received.headers.first(name: "grpc-status") != nil { trailers = received.headers }
                if received.endStream { break }
            }
            return Self.outcome(httpStatus: status, trailers: trailers)
        }
    }

    private static func wrap(_ channel: any Channel) -> EventLoopFuture<Stream> {
        channel.eventLoop.makeCompletedFuture { try Stream(wrappingChannelSynchronously: channel) }
    }

    /// The call's status from the answer's `:status` and trailers. An answer that is not gRPC maps
    /// from its HTTP status as gRPC's HTTP-to-status table says.
    static func outcome(httpStatus: String?, trailers: HPACKHeaders) -> Outcome {
        if let text = trailers.first(name: "grpc-status"), let code = Int(text) {
            let details = trailers.first(name: "grpc-status-details-bin").flatMap { Data(base64Encoded: Self.padded($0)) }
            let retryInfo = details.map { String(decoding: $0, as: UTF8.self).contains("google.rpc.RetryInfo") } ?? false
            return Outcome(code: code, message: percentDecoded(trailers.first(name: "grpc-message") ?? ""), retryInfo: retryInfo)
        }
        let http = Int(httpStatus ?? "") ?? 0
        let code = switch http {
        case 400: 13
        case 401: 16
        case 403: 7
        case 404: 12
        case 429, 502, 503, 504: 14
        default: 2
        }
        return Outcome(code: code, message: http == 0 ? "the answer had no status" : "server returned HTTP status \(http) without a gRPC status")
    }

    /// gRPC's binary headers are base64 with the padding often left off.
    private static func padded(_ text: String) -> String {
        text + String(repeating: "=", count: (4 - text.utf8.count % 4) % 4)
    }

    /// `grpc-message`'s percent-encoding undone (invalid sequences kept as they are).
    static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
               let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func connect() async throws -> Connection {
        close()
        let context: NIOSSLContext?
        do {
            context = try tlsContext()
        } catch {
            throw Failure(description: "TLS configuration: \(error)")
        }
        let host = host
        let opened = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let operations = channel.pipeline.syncOperations
                    if let context { try operations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: host)) }
                    let multiplexer = try operations.configureAsyncHTTP2Pipeline(mode: .client, configuration: .init()) { stream in
                        // The server opens no streams of its own in gRPC.
                        stream.close()
                    }
                    return Connection(channel: channel, multiplexer: multiplexer)
                }
            }
        connection.withLock { $0 = opened }
        return opened
    }

    /// For `https://`: the TLS settings (files read now) offering only `h2`.
    private func tlsContext() throws -> NIOSSLContext? {
        guard tls else { return nil }
        var configuration = try settings.tlsConfiguration()
        configuration.applicationProtocols = ["h2"]
        return try NIOSSLContext(configuration: configuration)
    }

    /// Runs `work`, or closes the connection and throws once `milliseconds` have passed.
    private func withDeadline<T: Sendable>(milliseconds: Int64, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await work() }
            group.addTask {
                try await Task.sleep(for: .milliseconds(milliseconds))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else {
                close()
                throw Failure(description: "no answer within \(milliseconds)ms")
            }
            return result
        }
    }

    /// Closes the open connection, if any; the next call opens a new one.
    func close() {
        connection.withLock { open in
            open?.channel.close(promise: nil)
            open = nil
        }
    }
}
