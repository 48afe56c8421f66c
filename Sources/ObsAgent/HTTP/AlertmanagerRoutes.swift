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
        router.get("/api/v2/status") { _, _ in try status() }
        router.get("/api/v2/receivers") { _, _ in
            let settings = try configured()
            return Response.json("[" + settings.receiverNames.map { "{\"name\":" + JSONText.quote($0) + "}" }.joined(separator: ",") + "]")
        }
        router.get("/api/v2/alerts") { request, _ in
            _ = try configured()
            return Response.json(AlertmanagerJSON.alerts(alertmanager.alerts(try filter(request))))
        }
        router.post("/api/v2/alerts") { request, _ in try await postAlerts(request) }
        router.get("/api/v2/alerts/groups") { request, _ in
            _ = try configured()
            return Response.json(AlertmanagerJSON.groups(alertmanager.groups(try filter(request))))
        }
        router.get("/api/v2/silences") { request, _ in
            _ = try configured()
            let matchers = try matchers(request)
            return Response.json("[" + alertmanager.silences(matching: matchers).map { AlertmanagerJSON.silence($0.silence, state: $0.state) }
                .joined(separator: ",") + "]")
        }
        router.post("/api/v2/silences") { request, _ in try await postSilence(request) }
        router.get("/api/v2/silence/:id") { _, context in
            _ = try configured()
            let id = try silenceID(context)
            guard let found = alertmanager.silence(id: id) else { return Response(status: .notFound) }
            return Response.json(AlertmanagerJSON.silence(found.silence, state: found.state))
        }
        router.delete("/api/v2/silence/:id") { _, context in
            _ = try configured()
            let id = try silenceID(context)
            do {
                try await NIOThreadPool.singleton.runIfActive { try alertmanager.expireSilence(id: id) }
            } catch AlertmanagerError.silenceNotFound {
                return Response(status: .notFound)
            } catch let error as AlertmanagerError {
                return Response.json(JSONText.quote(error.description), status: .internalServerError)
            }
            return Response(status: .ok)
        }
    }

    /// The Alertmanager is off until the configuration has an `alertmanager:` section.
    struct NotConfigured: HTTPResponseError {
        var status: HTTPResponse.Status { .notFound }
        func response(from request: Request, context: some RequestContext) throws -> Response {
            Response.json(JSONText.quote("the Alertmanager is not configured: add an alertmanager: section to the configuration"),
                          status: .notFound)
        }
    }

    /// go-swagger's error body for parameters that break the API's schema.
    struct SchemaError: HTTPResponseError {
        var status: HTTPResponse.Status
        var code: Int
        var message: String
        func response(from request: Request, context: some RequestContext) throws -> Response {
            Response.json("{\"code\":\(code),\"message\":" + JSONText.quote(message) + "}", status: status)
        }
    }

    /// A 400 whose body is the message as a JSON string, as Alertmanager answers.
    struct BadRequest: HTTPResponseError {
        var message: String
        var status: HTTPResponse.Status { .badRequest }
        func response(from request: Request, context: some RequestContext) throws -> Response {
            Response.json(JSONText.quote(message), status: .badRequest)
        }
    }

    func configured() throws -> AlertmanagerSettings {
        guard let settings = alertmanager.settings else { throw NotConfigured() }
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
            do { result.append(try MatcherSyntax.parse(text)) } catch { throw BadRequest(message: error.description) }
        }
        return result
    }

    func query(_ request: Request) throws -> APIParameters {
        APIParameters(request.uri.query.map { FormDecoding.pairs($0) } ?? [])
    }

    func filter(_ request: Request) throws -> EmbeddedAlertmanager.AlertFilter {
        let parameters = try query(request)
        var filter = EmbeddedAlertmanager.AlertFilter()
        func flag(_ name: String) throws -> Bool {
            guard let text = parameters.first(name) else { return true }
            switch text {
            case "true", "1", "TRUE", "True", "t", "T": return true
            case "false", "0", "FALSE", "False", "f", "F": return false
            default: throw SchemaError(status: .badRequest, code: 400, message: "\(name) in query must be of type boolean: \(JSONText.quote(text))")
            }
        }
        filter.active = try flag("active")
        filter.silenced = try flag("silenced")
        filter.inhibited = try flag("inhibited")
        filter.unprocessed = try flag("unprocessed")
        filter.matchers = try matchers(request)
        if let receiver = parameters.first("receiver"), !receiver.isEmpty {
            do {
                filter.receiver = try LabelMatcher(.regexMatch, "receiver", receiver)
            } catch {
                throw BadRequest(message: "failed to parse receiver param: \(error)")
            }
        }
        return filter
    }

    func silenceID(_ context: some RequestContext) throws -> String {
        let id = context.parameters.get("id") ?? ""
        guard UUIDText.isValid(id) else {
            throw SchemaError(status: .unprocessableContent, code: 605, message: "silenceID in path must be of type uuid: \(JSONText.quote(id))")
        }
        return id
    }

    func body(_ request: Request) async throws -> [UInt8] {
        do {
            let buffer = try await RequestBody.read(request, maxBodySize: maxBodySize, maxDecodedSize: maxDecodedSize)
            return Array(buffer.readableBytesView)
        } catch let failure as RequestBody.Failure {
            throw SchemaError(status: failure.status, code: Int(failure.status.code), message: failure.description)
        }
    }

    func postAlerts(_ request: Request) async throws -> Response {
        _ = try configured()
        let alerts: [PostedAlert]
        do {
            alerts = try AlertmanagerJSON.alerts(try await body(request))
        } catch let error as AlertmanagerJSON.BadRequest {
            throw error.unprocessable ? SchemaError(status: .unprocessableContent, code: 602, message: error.description)
                : SchemaError(status: .badRequest, code: 400, message: error.description)
        }
        do {
            try await NIOThreadPool.singleton.runIfActive { try alertmanager.receive(alerts) }
        } catch let error as AlertmanagerError {
            if case .storage = error { return Response.json(JSONText.quote(error.description), status: .internalServerError) }
            throw BadRequest(message: error.description)
        }
        return Response(status: .ok)
    }

    func postSilence(_ request: Request) async throws -> Response {
        _ = try configured()
        var silence: Silence
        do {
            silence = try AlertmanagerJSON.silence(try await body(request))
        } catch let error as AlertmanagerJSON.BadRequest {
            throw error.unprocessable ? SchemaError(status: .unprocessableContent, code: 602, message: error.description)
                : SchemaError(status: .badRequest, code: 400, message: error.description)
        }
        if silence.startsAt >= silence.endsAt {
            throw BadRequest(message: "Failed to create silence: start time must be before end time")
        }
        if silence.endsAt < WallClock.milliseconds() &* 1_000_000 {
            throw BadRequest(message: "Failed to create silence: end time can't be in the past")
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
            throw BadRequest(message: "silence invalid: " + error.description)
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
