import ObsCore
import Hummingbird

/// Health, readiness, lifecycle, self metrics and the status endpoints, with Prometheus's paths,
/// methods, bodies and status codes.
struct StatusRoutes {
    let state: AgentState
    let lifecycleEnabled: Bool
    let forwarding: RemoteWriteQueues
    let logForwarding: SpoolForwarders
    let traceForwarding: SpoolForwarders

    func register(on router: Router<some RequestContext>) {
        for method in [HTTPRequest.Method.get, .head] {
            router.on("/-/healthy", method: method) { _, _ in
                Response.text("obs-agent is Healthy.\n")
            }
            router.on("/-/ready", method: method) { _, _ in
                state.isReady
                    ? Response.text("obs-agent is Ready.\n")
                    : Response.text("Service Unavailable\n", status: .serviceUnavailable)
            }
        }
        for method in [HTTPRequest.Method.post, .put] {
            router.on("/-/reload", method: method) { _, _ in
                guard lifecycleEnabled else {
                    return Response.text("Lifecycle API is not enabled.\n", status: .forbidden)
                }
                do {
                    try state.reload()
                    return Response.text("")
                } catch {
                    return Response.text("failed to reload config: \(error)\n", status: .internalServerError)
                }
            }
            router.on("/-/quit", method: method) { _, _ in
                guard lifecycleEnabled else {
                    return Response.text("Lifecycle API is not enabled.\n", status: .forbidden)
                }
                // The response is written before the server stops accepting: shutdown waits for
                // in-flight requests.
                Task { await state.requestShutdown() }
                return Response.text("Requesting termination... Goodbye!\n")
            }
        }
        router.get("/metrics") { _, _ in
            Response.text(state.metrics.render(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("/api/v1/status/buildinfo") { _, _ in
            Response.json(APIEnvelope.success(
                "{\"version\":\(JSONText.quote(BuildInfo.version)),\"revision\":\"unknown\","
                + "\"branch\":\(JSONText.quote(BuildInfo.branch)),\"buildUser\":\"\",\"buildDate\":\"\","
                + "\"goVersion\":\(JSONText.quote(BuildInfo.compilerVersion))}"))
        }
        router.get("/api/v1/status/forwarding") { _, _ in
            Response.json(APIEnvelope.success(forwardingStatus()))
        }
        router.get("/api/v1/status/config") { _, _ in
            Response.json(APIEnvelope.success("{\"yaml\":\(JSONText.quote(state.config.text))}"))
        }
        router.get("/api/v1/status/runtimeinfo") { _, _ in
            Response.json(APIEnvelope.success(runtimeInfo()))
        }
        router.get("/api/v1/status/flags") { _, _ in
            let fields = state.flags.map { "\(JSONText.quote($0.0)):\(JSONText.quote($0.1))" }
            return Response.json(APIEnvelope.success("{" + fields.joined(separator: ",") + "}"))
        }
    }

    /// Prometheus's runtime information; the Go runtime fields carry this process's equivalents
    /// (threads for goroutines, online CPUs for GOMAXPROCS).
    /// `{"remoteWrite": [{name, url, position, sent, failed, pending, lagSeconds, lastError, lastErrorTime}]}`:
    /// each queue's state; the lag is how far the newest sample sent is behind the newest read.
    func forwardingStatus() -> String {
        let queues = forwarding.statuses().map { entry -> String in
            let status = entry.status
            let lag = max(0, (status.highestRead ?? 0) - (status.highestSent ?? status.highestRead ?? 0))
            var fields = ["\"name\":\(JSONText.quote(entry.name))", "\"url\":\(JSONText.quote(entry.url))",
                          "\"position\":\(JSONText.quote(status.position?.description ?? ""))",
                          "\"sent\":\(status.sent)", "\"failed\":\(status.failed)", "\"pending\":\(max(0, status.pending))",
                          "\"lagSeconds\":\(Double(lag) / 1000)"]
            fields.append("\"lastError\":" + (status.lastError.map(JSONText.quote) ?? "null"))
            fields.append("\"lastErrorTime\":" + (status.lastErrorTime.map { JSONText.quote(TimeParsing.rfc3339String(nanoseconds: $0 * 1_000_000)) } ?? "null"))
            return "{" + fields.joined(separator: ",") + "}"
        }
        func spools(_ forwarders: SpoolForwarders) -> [String] { forwarders.statuses().map { entry -> String in
            let status = entry.status
            var fields = ["\"name\":\(JSONText.quote(entry.name))", "\"url\":\(JSONText.quote(entry.url))",
                          "\"position\":\(JSONText.quote(status.position?.description ?? ""))",
                          "\"sent\":\(status.sent)", "\"failed\":\(status.failed)"]
            fields.append("\"lastError\":" + (status.lastError.map(JSONText.quote) ?? "null"))
            fields.append("\"lastErrorTime\":" + (status.lastErrorTime.map { JSONText.quote(TimeParsing.rfc3339String(nanoseconds: $0 * 1_000_000)) } ?? "null"))
            return "{" + fields.joined(separator: ",") + "}"
        } }
        return "{\"remoteWrite\":[" + queues.joined(separator: ",") + "],\"logs\":[" + spools(logForwarding).joined(separator: ",")
            + "],\"traces\":[" + spools(traceForwarding).joined(separator: ",") + "]}"
    }

    func runtimeInfo() -> String {
        let retention = state.flags.first { $0.0 == "storage.tsdb.retention.time" }?.1 ?? ""
        let cwd = FileManager.default.currentDirectoryPath
        let threads = ProcessMetrics.threadCount()
        let fields = [
            "\"startTime\":\(JSONText.quote(TimeParsing.rfc3339String(seconds: state.startTime)))",
            "\"CWD\":\(JSONText.quote(cwd))",
            "\"reloadConfigSuccess\":\(state.lastReloadSuccessful)",
            "\"lastConfigTime\":\(JSONText.quote(TimeParsing.rfc3339String(seconds: state.lastConfigTime)))",
            "\"corruptionCount\":0",
            "\"goroutineCount\":\(threads)",
            "\"GOMAXPROCS\":\(ProcessInfo.processInfo.activeProcessorCount)",
            "\"GOMEMLIMIT\":9223372036854775807",
            "\"GOGC\":\"\"",
            "\"GODEBUG\":\"\"",
            "\"storageRetention\":\(JSONText.quote(retention))",
        ]
        return "{" + fields.joined(separator: ",") + "}"
    }
}
