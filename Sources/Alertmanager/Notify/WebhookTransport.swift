import OutboundHTTP

/// How webhook notifications leave the process: HTTP in the daemon, a recorder in tests.
public protocol WebhookTransport: Sendable {
    /// POSTs `body` (JSON) to `url` with the receiver's client settings, giving up at `deadline`
    /// (Unix milliseconds). Returns the status and up to a few KiB of the answer's body; throws when
    /// no answer came.
    func post(url: String, body: [UInt8], settings: HTTPClientSettings, deadline: Int64) async throws -> (status: Int, body: String)
}
