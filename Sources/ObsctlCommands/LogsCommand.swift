import ArgumentParser
import ObsCore

/// `obsctl logs '{namespace="shop"} |= "error"' --since 1h`: a LogQL query over the agent's Loki
/// API. Log queries print one line per entry, oldest first: time, labels, line. Metric queries
/// print as `obsctl query range` does: a table, or a chart with `--output chart`. `--follow` keeps
/// polling for new lines after the first answer.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Run a LogQL query.")

    @OptionGroup var options: GlobalOptions

    @Argument(help: "The LogQL query: a log query, or a metric query such as sum by (app) (rate({…}[1m])).")
    var query: String

    @OptionGroup var range: TimeRangeOptions

    @Option(help: "Most lines to print (log queries).")
    var limit = 100

    @Flag(help: "Keep printing new lines as they arrive (log queries).")
    var follow = false

    @Flag(help: "Hide the labels; print time and line only.")
    var noLabels = false

    /// How often `--follow` asks for new lines.
    static let pollInterval: Duration = .seconds(1)

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be greater than zero") }
        if follow && range.end != "now" { throw ValidationError("--follow reads up to now; leave --end out") }
    }

    func run() async throws {
        let client = try options.client()
        let (from, to, stepMs) = range.window()
        do {
            var newest = try await ask(client, from: from * 1_000_000, to: to * 1_000_000, stepMs: stepMs, direction: "backward")
            guard follow else { return }
            var after = newest ?? to * 1_000_000
            while true {
                try await Task.sleep(for: Self.pollInterval)
                newest = try await ask(client, from: after + 1, to: WallClock.milliseconds() * 1_000_000, stepMs: stepMs,
                                       direction: "forward")
                if let newest { after = newest }
            }
        } catch let error as ObsctlError {
            printError(error.description)
            throw ExitCode(1)
        }
    }

    /// Runs the query over `[from, to]` (nanoseconds) and prints the answer; returns the newest
    /// line's timestamp for a log query.
    private func ask(_ client: AgentClient, from: Int64, to: Int64, stepMs: Int64, direction: String) async throws -> Int64? {
        let path = AgentClient.path("/loki/api/v1/query_range", [
            ("query", query), ("start", String(from)), ("end", String(to)), ("limit", String(limit)),
            ("direction", direction), ("step", QueryTime.seconds(stepMs)),
        ])
        let reply = try await client.get(path)
        // Loki answers errors in plain text.
        guard reply.status == 200 else {
            throw ObsctlError.api(status: reply.status, type: "query", message: reply.text.trimmingWhitespace())
        }
        let object = JSONDocument.parse(reply.body)
        guard let data = (object as? [String: Any])?["data"] as? [String: Any], let type = data["resultType"] as? String else {
            throw ObsctlError.badResponse(url: client.baseURL + path, status: reply.status, detail: String(reply.text.prefix(200)))
        }
        if options.output == .json {
            print(reply.text)
            return nil
        }
        guard type == "streams" else {
            print(QueryOutput.render(type: type, result: data["result"] as Any, format: options.output))
            return nil
        }
        var lines: [(timestamp: Int64, labels: String, line: String)] = []
        for stream in data["result"] as? [[String: Any]] ?? [] {
            let labels = QueryOutput.labelText(stream["stream"])
            for value in stream["values"] as? [[Any]] ?? [] where value.count >= 2 {
                guard let text = value[0] as? String, let timestamp = Int64(text), let line = value[1] as? String else { continue }
                lines.append((timestamp, labels, line))
            }
        }
        lines.sort { ($0.timestamp, $0.labels) < ($1.timestamp, $1.labels) }
        if lines.isEmpty && direction == "backward" { printError("(no lines)") }
        for entry in lines {
            let time = TimeParsing.rfc3339String(nanoseconds: entry.timestamp)
            print(noLabels ? "\(time) \(entry.line)" : "\(time) \(entry.labels) \(entry.line)")
        }
        fflush(nil)
        return lines.last?.timestamp
    }
}
