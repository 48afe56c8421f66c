import ArgumentParser
import ObsCore

/// `obsctl traces get <id>` and `obsctl traces search`: the agent's Tempo API from the terminal.
struct TracesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "traces", abstract: "Show a trace or search traces.",
        subcommands: [TraceGetCommand.self, TraceSearchCommand.self])
}

/// One span as the tree printer needs it.
struct TreeSpan {
    var id: String
    var parent: String
    var service: String
    var name: String
    var start: UInt64
    var end: UInt64
    var error: Bool
}

struct TraceGetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Print a trace as a tree with durations and a waterfall.")

    @OptionGroup var options: GlobalOptions

    @Argument(help: "The trace id (hex).")
    var id: String

    /// Width of the waterfall column.
    static let barWidth = 40

    func validate() throws {
        guard !id.isEmpty, id.count <= 32, id.allSatisfy(\.isHexDigit) else {
            throw ValidationError("\"\(id)\" is not a trace id: want up to 32 hex digits")
        }
    }

    func run() async throws {
        let client = try options.client()
        do {
            let reply = try await client.get("/api/traces/\(id)")
            guard reply.status == 200 else {
                throw ObsctlError.api(status: reply.status, type: "trace", message: reply.text.trimmingWhitespace())
            }
            if options.output == .json {
                print(reply.text)
                return
            }
            let object = JSONDocument.parse(reply.body)
            guard let batches = (object as? [String: Any])?["batches"] as? [[String: Any]] else {
                throw ObsctlError.badResponse(url: client.baseURL, status: reply.status, detail: String(reply.text.prefix(200)))
            }
            print(Self.render(Self.spans(batches)))
        } catch let error as ObsctlError {
            printError(error.description)
            throw ExitCode(1)
        }
    }

    static func spans(_ batches: [[String: Any]]) -> [TreeSpan] {
        var result: [TreeSpan] = []
        for batch in batches {
            let attributes = (batch["resource"] as? [String: Any])?["attributes"] as? [[String: Any]] ?? []
            let service = attributes.first { $0["key"] as? String == "service.name" }
                .flatMap { ($0["value"] as? [String: Any])?["stringValue"] as? String } ?? "unknown_service"
            for scope in batch["scopeSpans"] as? [[String: Any]] ?? [] {
                for span in scope["spans"] as? [[String: Any]] ?? [] {
                    let status = (span["status"] as? [String: Any])?["code"] as? Int ?? 0
                    result.append(TreeSpan(id: span["spanId"] as? String ?? "", parent: span["parentSpanId"] as? String ?? "",
                                           service: service, name: span["name"] as? String ?? "",
                                           start: UInt64(span["startTimeUnixNano"] as? String ?? "") ?? 0,
                                           end: UInt64(span["endTimeUnixNano"] as? String ?? "") ?? 0, error: status == 2))
                }
            }
        }
        return result
    }

    /// The spans as an indented tree (children under their parent, by start time), each line with
    /// its duration and a bar placed on the trace's time axis.
    static func render(_ spans: [TreeSpan]) -> String {
        guard let first = spans.map(\.start).min(), let last = spans.map(\.end).max() else { return "(no spans)" }
        let total = Double(max(last - first, 1))
        let ids = Set(spans.map(\.id))
        var children: [String: [TreeSpan]] = [:]
        for span in spans { children[ids.contains(span.parent) ? span.parent : "", default: []].append(span) }
        var rows: [[String]] = []
        func walk(_ parent: String, depth: Int) {
            for span in (children[parent] ?? []).sorted(by: { $0.start < $1.start }) {
                let from = Int(Double(span.start - first) / total * Double(barWidth))
                let width = max(1, Int(Double(span.end >= span.start ? span.end - span.start : 0) / total * Double(barWidth)))
                let bar = String(repeating: " ", count: min(from, barWidth - 1)) + String(repeating: span.error ? "!" : "█", count: min(width, barWidth - min(from, barWidth - 1)))
                rows.append([String(repeating: "  ", count: depth) + span.service + ": " + span.name,
                             Render.duration(nanoseconds: span.end >= span.start ? span.end - span.start : 0), "|" + bar.padded(to: barWidth) + "|"])
                if span.id != parent { walk(span.id, depth: depth + 1) }
            }
        }
        walk("", depth: 0)
        return Render.table(header: ["SPAN", "DURATION", "WATERFALL"], rows: rows)
    }
}

struct TraceSearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search", abstract: "Find traces by service, TraceQL, duration and time.")

    @OptionGroup var options: GlobalOptions

    @Option(help: "Only traces with a span of this service.")
    var service: String?

    @Option(help: "A TraceQL spanset filter, e.g. '{ span.http.response.status_code >= 500 }'.")
    var query: String?

    @Option(help: "Shortest trace duration, e.g. 100ms.")
    var minDuration: String?

    @Option(help: "Longest trace duration, e.g. 2s.")
    var maxDuration: String?

    @Option(help: "How far back to search, e.g. 1h.")
    var since = "1h"

    @Option(help: "Most traces to list.")
    var limit = 20

    func validate() throws {
        if service != nil && query != nil { throw ValidationError("give --service or --query, not both") }
        for (flag, value) in [("--min-duration", minDuration), ("--max-duration", maxDuration)] {
            if let value, (GoDuration.nanoseconds(value) ?? -1) < 0 { throw ValidationError("\(flag): \"\(value)\" is not a duration such as 100ms") }
        }
        guard (PrometheusDuration(since)?.milliseconds ?? 0) > 0 else { throw ValidationError("--since: \"\(since)\" is not a duration such as 1h") }
        guard limit > 0 else { throw ValidationError("--limit must be greater than zero") }
    }

    func run() async throws {
        let client = try options.client()
        let end = WallClock.milliseconds() / 1000 + 1
        let start = end - PrometheusDuration(since)!.milliseconds / 1000
        var parameters: [(String, String)] = [("limit", String(limit)), ("start", String(start)), ("end", String(end))]
        if let service { parameters.append(("q", "{ resource.service.name = \(JSONText.quote(service)) }")) }
        if let query { parameters.append(("q", query)) }
        if let minDuration { parameters.append(("minDuration", minDuration)) }
        if let maxDuration { parameters.append(("maxDuration", maxDuration)) }
        do {
            let path = AgentClient.path("/api/search", parameters)
            let reply = try await client.get(path)
            guard reply.status == 200 else {
                throw ObsctlError.api(status: reply.status, type: "search", message: reply.text.trimmingWhitespace())
            }
            if options.output == .json {
                print(reply.text)
                return
            }
            let object = JSONDocument.parse(reply.body)
            let traces = (object as? [String: Any])?["traces"] as? [[String: Any]] ?? []
            if traces.isEmpty {
                print("(no traces)")
                return
            }
            let rows = traces.map { trace -> [String] in
                let start = UInt64(trace["startTimeUnixNano"] as? String ?? "") ?? 0
                let matched = ((trace["spanSet"] as? [String: Any])?["matched"] as? Int).map(String.init) ?? ""
                return [trace["traceID"] as? String ?? "", TimeParsing.rfc3339String(nanoseconds: Int64(start)),
                        Render.duration(nanoseconds: UInt64(trace["durationMs"] as? Int ?? 0) * 1_000_000),
                        trace["rootServiceName"] as? String ?? "", trace["rootTraceName"] as? String ?? "", matched]
            }
            print(Render.table(header: ["TRACE ID", "START", "DURATION", "ROOT SERVICE", "ROOT SPAN", "MATCHED"], rows: rows))
        } catch let error as ObsctlError {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}
