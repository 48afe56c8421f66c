import Alertmanager
import Hummingbird
import NIOCore
import NIOPosix
import ObsCore

/// Alertmanager's API v2 on the main port (`/api/v2/…`), as Grafana's Alertmanager data source
/// (implementation "prometheus"), amtool and `obsctl` call it, with Alertmanager's JSON, status
/// codes and error bodies (a JSON string for 400, go-swagger's `{code, message}` for 422).
/// `/alertmanager/api/v2/…` stays unanswered: Grafana takes a 200 there for Mimir.
struct AlertmanagerRoutes {
    let alertmanager: EmbeddedAlertmanager
    let maxBodySize: Int
    let maxDecodedSize: Int

    func register(on router: Router<some RequestContext>) {
        router.get("/api/v2/status") { _, _ in try await answer { try status() } }
        router.get("/api/v2/receivers") { _, _ in try await answer {
            let settings = try configured()
            return Response.json("[" + settings.receiverNames.map { "{\"name\":" + JSONText.quote($0) + "}" }.joined(separator: ",") + "]")
        } }
        router.get("/api/v2/alerts") { request, _ in try await answer {
            _ = try configured()
            return Response.json(AlertmanagerJSON.alerts(alertmanager.alerts(try filter(request))))
        } }
        router.post("/api/v2/alerts") { request, _ in try await answer { try await postAlerts(request) } }
        router.get("/api/v2/alerts/groups") { request, _ in try await answer {
            _ = try configured()
            return Response.json(AlertmanagerJSON.groups(alertmanager.groups(try filter(request))))
        } }
        router.get("/api/v2/silences") { request, _ in try await answer {
            _ = try configured()
            let matchers = try matchers(request)
            return Response.json("[" + alertmanager.silences(matching: matchers).map { AlertmanagerJSON.silence($0.silence, state: $0.state) }
                .joined(separator: ",") + "]")
        } }
        router.post("/api/v2/silences") { request, _ in try await answer { try await postSilence(request) } }
        router.get("/api/v2/silence/:id") { _, context in try await answer {
            _ = try configured()
            let id = try silenceID(context)
            guard let found = alertmanager.silence(id: id) else { return Response(status: .notFound) }
            return Response.json(AlertmanagerJSON.silence(found.silence, state: found.state))
        } }
        router.delete("/api/v2/silence/:id") { _, context in try await answer {
            _ = try configured()
            let id = try silenceID(context)
            do {
                try await NIOThreadPool.singleton.runIfActive { try alertmanager.expireSilence(id: id) }
            } catch let error as AlertmanagerError {
                // Alertmanager 0.25 answers an unknown ID here with 500, not 404; so does this API.
                return Response.json(JSONText.quote(error.description), status: .internalServerError)
            }
            return Response(status: .ok)
        } }
    }

    /// An answer decided early (an error in Alertmanager's form), thrown to leave a handler.
    struct Reply: Error {
        var response: Response

        /// A JSON string body, as Alertmanager answers 400, 404 and 500.
        static func message(_ text: String, _ status: HTTPResponse.Status) -> Reply {
            Reply(response: Response.json(JSONText.quote(text), status: status))
        }

        /// go-swagger's `{code, message}` body for requests that break the API's schema.
        static func schema(_ status: HTTPResponse.Status, code: Int, _ text: String) -> Reply {
            Reply(response: Response.json("{\"code\":\(code),\"message\":" + JSONText.quote(text) + "}", status: status))
        }

        static let notConfigured = message("the Alertmanager is not configured: add an alertmanager: section to the configuration", .notFound)
    }

    /// Runs a handler, answering with the `Reply` it throws.
    func answer(_ handler: () async throws -> Response) async throws -> Response {
        do {
            return try await handler()
        } catch let reply as Reply {
            return reply.response
        }
    }

    func configured() throws -> AlertmanagerSettings {
        guard let settings = alertmanager.settings else { throw Reply.notConfigured }
        return settings
    }

    func status() throws -> Response {
        let settings = try configured()
        var out = "{\"cluster\":{\"name\":\"\",\"peers\":[],\"status\":\"disabled\"}"
        out += ",\"config\":{\"original\":" + JSONText.quote(settings.original) + "}"
        out += ",\"uptime\":\"" + AlertTime.format(alertmanager.startedAt &* 1_000_000) + "\""
        out += ",\"versionInfo\":{\"branch\":" + JSONText.quote(BuildInfo.branch) + ",\"buildDate\":\"\",\"buildUser\":\"\""
        out += ",\"goVersion\":" + JSONText.quote("swift" + BuildInfo.compilerVersion) + ",\"revision\":\"unknown\""
        out += ",\"version\":" + JSONText.quote(BuildInfo.version) + "}}"
        return Response.json(out)
    }

    func matchers(_ request: Request) throws -> [LabelMatcher] {
        let parameters = try query(request)
        var result: [LabelMatcher] = []
        for text in parameters.all("filter") {
            do { result.append(try MatcherSyntax.parse(text)) } catch { throw Reply.message(error.description, .badRequest) }
        }
        return result
    }

    func query(_ request: Request) throws -> APIParameters {
        APIParameters(request.uri.query.map { FormDecoding.pairs($0) } ?? [])
    }

    func filter(_ request: Request) throws -> EmbeddedAlertmanager.AlertFilter {
        let parameters = try query(request)
        var filter = EmbeddedAlertmanager.AlertFilter()
        // Alertmanager reads anything but a false value as the default, true.
        func flag(_ name: String) -> Bool {
            switch parameters.first(name) {
            case "false", "0", "FALSE", "False", "f", "F": false
            default: true
            }
        }
        filter.active = flag("active")
        filter.silenced = flag("silenced")
        filter.inhibited = flag("inhibited")
        filter.unprocessed = flag("unprocessed")
        filter.matchers = try matchers(request)
        if let receiver = parameters.first("receiver"), !receiver.isEmpty {
            do {
                filter.receiver = try LabelMatcher(.regexMatch, "receiver", receiver)
            } catch {
                throw Reply.message("failed to parse receiver param: \(error)", .badRequest)
            }
        }
        return filter
    }

    func silenceID(_ context: some RequestContext) throws -> String {
        let id = context.parameters.get("id") ?? ""
        guard UUIDText.isValid(id) else {
            throw Reply.schema(.unprocessableContent, code: 605, "silenceID in path must be of type uuid: \(JSONText.quote(id))")
        }
        return id
    }

    func body(_ request: Request) async throws -> [UInt8] {
        do {
            let buffer = try await RequestBody.read(request, maxBodySize: maxBodySize, maxDecodedSize: maxDecodedSize)
            return Array(buffer.readableBytesView)
        } catch let failure as RequestBody.Failure {
            throw Reply.schema(failure.status, code: Int(failure.status.code), failure.description)
        }
    }

    func postAlerts(_ request: Request) async throws -> Response {
        _ = try configured()
        let alerts: [PostedAlert]
        do {
            alerts = try AlertmanagerJSON.alerts(try await body(request))
        } catch let error as AlertmanagerJSON.BadRequest {
            throw error.unprocessable ? Reply.schema(.unprocessableContent, code: 602, error.description)
                : Reply.schema(.badRequest, code: 400, error.description)
        }
        do {
            try await NIOThreadPool.singleton.runIfActive { try alertmanager.receive(alerts) }
        } catch let error as AlertmanagerError {
            if case .storage = error { return Response.json(JSONText.quote(error.description), status: .internalServerError) }
            throw Reply.message(error.description, .badRequest)
        }
        return Response(status: .ok)
    }

    func postSilence(_ request: Request) async throws -> Response {
        _ = try configured()
        var silence: Silence
        do {
            silence = try AlertmanagerJSON.silence(try await body(request))
        } catch let error as AlertmanagerJSON.BadRequest {
            throw error.unprocessable ? Reply.schema(.unprocessableContent, code: 602, error.description)
                : Reply.schema(.badRequest, code: 400, error.description)
        }
        if silence.startsAt >= silence.endsAt {
            throw Reply.message("Failed to create silence: start time must be before end time", .badRequest)
        }
        if silence.endsAt < WallClock.milliseconds() &* 1_000_000 {
            throw Reply.message("Failed to create silence: end time can't be in the past", .badRequest)
        }
        silence.updatedAt = 0
        let input = silence
        let id: String
        do {
            id = try await NIOThreadPool.singleton.runIfActive { try alertmanager.setSilence(input) }
        } catch AlertmanagerError.silenceNotFound {
            return Response.json(JSONText.quote("silence not found"), status: .notFound)
        } catch let error as AlertmanagerError {
            if case .storage = error { return Response.json(JSONText.quote(error.description), status: .internalServerError) }
            throw Reply.message("silence invalid: " + error.description, .badRequest)
        }
        return Response.json("{\"silenceID\":" + JSONText.quote(id) + "}")
    }
}

/// The canonical textual form of a UUID (any version), as API v2 requires for silence IDs.
enum UUIDText {
    static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                guard byte == UInt8(ascii: "-") else { return false }
            } else {
                guard (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) || (byte >= 0x41 && byte <= 0x46) else { return false }
            }
        }
        return true
    }
}
