import OutboundHTTP
import Alerting
import Alertmanager
import AsyncHTTPClient
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ObsCore
import ServiceLifecycle

/// Runs the embedded Alertmanager's dispatcher for the daemon's life and puts the
/// `alertmanager:` section in force at start and on every reload.
struct AlertmanagerService: Service {
    let alertmanager: EmbeddedAlertmanager
    let state: AgentState
    let logger: Logger

    func run() async throws {
        let (configs, finish) = state.configurations()
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await alertmanager.run() }
                tasks.addTask {
                    for await config in configs { alertmanager.apply(config.alertmanager) }
                }
                await tasks.waitForAll()
            }
        }
        finish()
    }
}

/// Webhook notifications over HTTP with the receiver's `http_config`: credentials (files read at
/// each request, so rotated tokens apply), a CA, a client certificate, redirects on or off.
struct HTTPWebhookTransport: WebhookTransport {
    /// Webhook clients live as long as the process. A flush of many groups posts to one receiver
    /// at once, so each host gets as many connections as a receiver may have notifications in
    /// flight (the default of 8 would queue them).
    static let clients = OutboundClients(maxRedirects: 5) { configuration in
        configuration.connectionPool = .init(idleTimeout: .seconds(60),
                                             concurrentHTTP1ConnectionsPerHostSoftLimit: EmbeddedAlertmanager.Options().concurrencyPerReceiver)
    }

    func post(url: String, body: [UInt8], settings: HTTPClientSettings, deadline: Int64) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "obs-agent/\(BuildInfo.version)")
        try settings.apply(to: &request)
        request.body = .bytes(ByteBuffer(bytes: body))
        let remaining = max(deadline - WallClock.milliseconds(), 1)
        let response = try await Self.clients.client(for: settings, url: url).execute(request, timeout: .milliseconds(remaining))
        let answer = (try? await response.body.collect(upTo: 4096)).map { String(buffer: $0) } ?? ""
        return (Int(response.status.code), answer)
    }
}

/// The rule notifier's transport: alerts for the embedded Alertmanager are handed over in
/// process (same validation as `POST /api/v2/alerts`); other URLs go over HTTP.
struct RoutingAlertmanagerTransport: AlertmanagerTransport {
    static let embeddedURL = "embedded://alertmanager/api/v2/alerts"

    let alertmanager: EmbeddedAlertmanager
    let http = HTTPAlertmanagerTransport()

    func post(to target: AlertmanagerTarget, body: [UInt8]) async throws -> Int {
        guard target.url == Self.embeddedURL else { return try await http.post(to: target, body: body) }
        let alerts: [PostedAlert]
        do {
            alerts = try AlertmanagerJSON.alerts(body)
        } catch {
            return 400
        }
        let outcome: Int = try await NIOThreadPool.singleton.runIfActive {
            do {
                try alertmanager.receive(alerts)
                return 200
            } catch AlertmanagerError.storage {
                return 500
            } catch {
                return 400
            }
        }
        return outcome
    }
}
