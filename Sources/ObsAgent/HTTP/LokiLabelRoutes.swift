import Hummingbird
import LogIngest
import ObsCore
import QueryEngine

/// `/loki/api/v1/labels`, `/loki/api/v1/label/<name>/values` and `/loki/api/v1/series`, answered
/// from the log store in Loki's JSON shapes. Times are Loki's: Unix nanoseconds, seconds with a
/// fraction, or RFC 3339; the range defaults to the last six hours. Errors are plain text, as Loki
/// writes them.
struct LokiLabelRoutes {
    let stores: Stores

    static let defaultRange: Int64 = 6 * 3_600_000_000_000

    func register(on router: Router<some RequestContext>) {
        for method in [HTTPRequest.Method.get, .post] {
            router.on("/loki/api/v1/labels", method: method) { request, _ in try await answer(request) { try labels($0) } }
            router.on("/loki/api/v1/label/:name/values", method: method) { request, context in
                let name = context.parameters.get("name") ?? ""
                return try await answer(request) { try values($0, name: name) }
            }
            router.on("/loki/api/v1/series", method: method) { request, _ in try await answer(request) { try series($0) } }
        }
    }

    /// Runs `body` and turns its failures into Loki's plain-text errors.
    private func answer(_ request: Request, _ body: (APIParameters) throws -> String) async throws -> Response {
        do {
            let parameters = try await APIParameters.read(request)
            return Response.json("{\"status\":\"success\",\"data\":" + (try body(parameters)) + "}")
        } catch let error as APIError {
            return Response.text(error.message + "\n", status: error.status)
        }
    }

    static func range(_ parameters: APIParameters) throws -> (start: Int64, end: Int64) {
        let end = try parameters.lokiTime("end") ?? WallClock.milliseconds() * 1_000_000
        let start = try parameters.lokiTime("start") ?? end - defaultRange
        guard end >= start else { throw APIError(.badData, "the end timestamp must not be before the start time") }
        // The end is inclusive in Loki's label APIs.
        return (start, end + 1)
    }

    static func selector(_ text: String) throws -> [LabelMatcher] {
        do {
            return try SelectorParser.parse(text)
        } catch {
            throw APIError(.badData, "parse error: \(error)")
        }
    }

    private func labels(_ parameters: APIParameters) throws -> String {
        let (start, end) = try Self.range(parameters)
        let matchers = try parameters.first("query").map(Self.selector) ?? []
        var names = Set<String>()
        for set in try stores.logs().streams(matchers, start: start, end: end) {
            for label in set { names.insert(label.name) }
        }
        return "[" + names.sorted().map(JSONText.quote).joined(separator: ",") + "]"
    }

    private func values(_ parameters: APIParameters, name: String) throws -> String {
        let (start, end) = try Self.range(parameters)
        let matchers = try parameters.first("query").map(Self.selector) ?? []
        var values = Set<String>()
        for set in try stores.logs().streams(matchers, start: start, end: end) {
            if let value = set[name] { values.insert(value) }
        }
        return "[" + values.sorted().map(JSONText.quote).joined(separator: ",") + "]"
    }

    private func series(_ parameters: APIParameters) throws -> String {
        let (start, end) = try Self.range(parameters)
        let selectors = parameters.all("match[]") + parameters.all("match")
        let store = try stores.logs()
        var found = Set<Labels>()
        for selector in selectors.isEmpty ? ["{}"] : selectors {
            let matchers = selector == "{}" ? [] : try Self.selector(selector)
            found.formUnion(try store.streams(matchers, start: start, end: end))
        }
        return "[" + found.sorted().map { set in
            "{" + set.map { "\(JSONText.quote($0.name)):\(JSONText.quote($0.value))" }.joined(separator: ",") + "}"
        }.joined(separator: ",") + "]"
    }
}
