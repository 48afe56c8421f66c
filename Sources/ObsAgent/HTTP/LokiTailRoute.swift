import Hummingbird
import HummingbirdWebSocket
import LogIngest
import NIOPosix
import ObsCore
import QueryEngine

/// `/loki/api/v1/tail` over WebSocket, as Grafana's live view uses it: the newest `limit` lines
/// since `start` (an hour ago by default) first, then every second the lines that arrived since,
/// each batch one `{"streams":[…],"dropped_entries":null}` text frame. Lines are shown
/// `delay_for` seconds (at most 5) after their timestamp, so late arrivals within that delay are
/// not missed. A bad query is refused with HTTP 400 before the upgrade.
struct LokiTailRoute {
    let stores: Stores

    static let maxDelay = 5
    static let poll: Duration = .seconds(1)

    struct Request: Sendable {
        var query: LogQuery
        var limit: Int
        var start: Int64
        var delay: Int64
    }

    func register(on router: Router<BasicWebSocketRequestContext>) {
        router.ws("/loki/api/v1/tail") { request, _ in
            _ = try Self.parse(APIParameters(FormDecoding.pairs(request.uri.query ?? "")))
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            guard let tail = try? Self.parse(APIParameters(FormDecoding.pairs(context.request.uri.query ?? ""))) else { return }
            let engine = LogQLEngine(querier: try stores.logs())
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The client's frames are read only to notice it leaving.
                group.addTask {
                    for try await _ in inbound {}
                }
                group.addTask {
                    try await Self.stream(tail, engine: engine) { try await outbound.write(.text($0)) }
                }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    static func parse(_ parameters: APIParameters) throws -> Request {
        func refuse(_ message: String) -> HTTPError { HTTPError(.badRequest, message: message) }
        guard let text = parameters.first("query"), !text.isEmpty else { throw refuse("query parameter is required") }
        let expr: LogQLExpr
        do {
            expr = try LogQLParser.parse(text)
        } catch {
            throw refuse(error.description)
        }
        guard case let .logs(query) = expr else { throw refuse("tail requires a log query, not a metric query") }
        do {
            _ = try LogPipeline(query.stages)
        } catch {
            throw refuse("\(error)")
        }
        guard let limit = try? parameters.integer("limit", in: 1...LokiQueryRoutes.maxLimit, default: LokiQueryRoutes.defaultLimit, "") else {
            throw refuse("invalid limit: want a positive integer up to \(LokiQueryRoutes.maxLimit)")
        }
        let now = WallClock.milliseconds() * 1_000_000
        guard let start = (try? parameters.lokiTime("start")).map({ $0 ?? now - LokiQueryRoutes.defaultRange }) else {
            throw refuse("cannot parse \"\(parameters.first("start") ?? "")\" to a valid timestamp")
        }
        guard let delay = try? parameters.integer("delay_for", in: 0...maxDelay, default: 0, "") else {
            throw refuse("delay_for can't be greater than \(maxDelay)")
        }
        return Request(query: query, limit: limit, start: start, delay: Int64(delay) * 1_000_000_000)
    }

    /// Sends batches until cancelled: first the newest `limit` lines since `start`, then what
    /// arrived after the last line sent.
    static func stream(_ tail: Request, engine: LogQLEngine, send: (String) async throws -> Void) async throws {
        var from = tail.start
        var first = true
        while !Task.isCancelled {
            let until = WallClock.milliseconds() * 1_000_000 - tail.delay
            if until > from {
                let window = from
                let direction: LogDirection = first ? .backward : .forward
                let result = try await NIOThreadPool.singleton.runIfActive {
                    try engine.logs(tail.query, start: window, end: until, direction: direction, limit: tail.limit)
                }
                let lines = first ? result.lines.reversed() : result.lines
                if let last = lines.last { from = last.timestamp + 1 }
                if !lines.isEmpty { try await send(frame(Array(lines))) }
                if first || lines.count < tail.limit { from = max(from, until) }
                first = false
            }
            try await Task.sleep(for: poll)
        }
    }

    static func frame(_ lines: [LogLine]) -> String {
        var grouped: [Labels: [LogLine]] = [:]
        var order: [Labels] = []
        for line in lines {
            if grouped[line.labels] == nil { order.append(line.labels) }
            grouped[line.labels, default: []].append(line)
        }
        var out = "{\"streams\":["
        for (index, labels) in order.enumerated() {
            if index > 0 { out += "," }
            out += "{\"stream\":"
            QueryJSON.labels(labels, into: &out)
            out += ",\"values\":[" + grouped[labels]!.map { "[\"\($0.timestamp)\"," + JSONText.quote($0.line) + "]" }.joined(separator: ",")
            out += "]}"
        }
        return out + "],\"dropped_entries\":null}"
    }
}
