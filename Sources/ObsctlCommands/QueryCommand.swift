import ArgumentParser
import ObsCore

/// `obsctl query 'expr'` (instant) and `obsctl query range 'expr'`: PromQL against the agent.
struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query", abstract: "Run a PromQL query.",
        subcommands: [InstantQueryCommand.self, RangeQueryCommand.self],
        defaultSubcommand: InstantQueryCommand.self)

    @ParentCommand var root: Obsctl
}

struct InstantQueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "instant", abstract: "Evaluate an expression at one instant (the default).")

    @ParentCommand var query: QueryCommand
    var options: GlobalOptions { query.root.options }

    @Argument(help: "The PromQL expression.")
    var expression: String

    @Option(help: "Evaluation time: Unix seconds, RFC 3339 or 'now'.")
    var time = "now"

    func validate() throws {
        guard QueryTime.parse(time) != nil else { throw ValidationError("--time: cannot parse \"\(time)\" as a time") }
    }

    func run() async throws {
        let path = AgentClient.path("/api/v1/query", [("query", expression), ("time", QueryTime.seconds(QueryTime.parse(time)!))])
        try await QueryOutput.run(path, options: options)
    }
}

struct RangeQueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "range", abstract: "Evaluate an expression over a time range.")

    @ParentCommand var query: QueryCommand
    var options: GlobalOptions { query.root.options }

    @Argument(help: "The PromQL expression.")
    var expression: String

    @OptionGroup var range: TimeRangeOptions

    func run() async throws {
        let (from, to, stepMs) = range.window()
        let path = AgentClient.path("/api/v1/query_range", [
            ("query", expression), ("start", QueryTime.seconds(from)), ("end", QueryTime.seconds(to)),
            ("step", QueryTime.seconds(stepMs)),
        ])
        try await QueryOutput.run(path, options: options)
    }
}

/// `--start`/`--end`/`--since`/`--step`, shared by the commands that query a time range.
struct TimeRangeOptions: ParsableArguments {
    @Option(help: "Range start: Unix seconds, RFC 3339 or 'now'.")
    var start: String?

    @Option(help: "Range end: Unix seconds, RFC 3339 or 'now'.")
    var end = "now"

    @Option(help: "How far back from --end to start, e.g. 1h (instead of --start; default 1h).")
    var since: String?

    @Option(help: "Resolution step, e.g. 15s (default: the range split into 120 steps, at least 1s).")
    var step: String?

    func validate() throws {
        if start != nil && since != nil { throw ValidationError("give --start or --since, not both") }
        if let start, QueryTime.parse(start) == nil { throw ValidationError("--start: cannot parse \"\(start)\" as a time") }
        guard QueryTime.parse(end) != nil else { throw ValidationError("--end: cannot parse \"\(end)\" as a time") }
        if let since, (PrometheusDuration(since)?.milliseconds ?? 0) <= 0 {
            throw ValidationError("--since: \"\(since)\" is not a positive duration such as 1h")
        }
        if let step, (PrometheusDuration(step)?.milliseconds ?? 0) <= 0 {
            throw ValidationError("--step: \"\(step)\" is not a positive duration such as 15s")
        }
        let (from, to, _) = window()
        if to < from { throw ValidationError("--end is before --start") }
    }

    /// Start, end and step in milliseconds.
    func window() -> (Int64, Int64, Int64) {
        let to = QueryTime.parse(end)!
        let from = start.flatMap(QueryTime.parse) ?? to - (PrometheusDuration(since ?? "1h")?.milliseconds ?? 3_600_000)
        let stepMs = step.flatMap { PrometheusDuration($0)?.milliseconds } ?? max(1000, (to - from) / 120)
        return (from, to, stepMs)
    }
}

/// Times on the command line: `now`, Unix seconds, or RFC 3339; in milliseconds.
enum QueryTime {
    static func parse(_ text: String) -> Int64? {
        text == "now" ? WallClock.milliseconds() : TimeParsing.milliseconds(text)
    }

    static func seconds(_ ms: Int64) -> String {
        ms % 1000 == 0 ? String(ms / 1000) : CFormat.double("%.3f", Double(ms) / 1000)
    }
}

/// Prints a query answer as a table, the agent's JSON, or a chart.
enum QueryOutput {
    static func run(_ path: String, options: GlobalOptions) async throws {
        let client = try options.client()
        do {
            let reply = try await client.apiEnvelope(path)
            for note in reply.notes { printError(note) }
            if options.output == .json {
                print(reply.body)
                return
            }
            guard let data = reply.data as? [String: Any], let type = data["resultType"] as? String else {
                throw ObsctlError.badResponse(url: path, status: 200, detail: "no resultType")
            }
            print(render(type: type, result: data["result"] as Any, format: options.output))
        } catch let error as ObsctlError {
            printError(error.description)
            throw ExitCode(1)
        }
    }

    static func render(type: String, result: Any, format: OutputFormat) -> String {
        switch type {
        case "scalar", "string":
            let pair = result as? [Any] ?? []
            return pair.count == 2 ? "\(pair[1])" : ""
        case "vector":
            let samples = result as? [[String: Any]] ?? []
            if samples.isEmpty { return "(no data)" }
            let rows = samples.map { sample -> [String] in
                let value = (sample["value"] as? [Any])?.last as? String
                    ?? ((sample["histogram"] as? [Any])?.last).flatMap(histogramText)?.text ?? ""
                return [labelText(sample["metric"]), value]
            }
            return Render.table(header: ["SERIES", "VALUE"], rows: rows)
        default:
            let series = result as? [[String: Any]] ?? []
            if series.isEmpty { return "(no data)" }
            // Histogram points chart by their observation count and list with their buckets.
            let parsed = series.map { s -> (String, [(t: Double, v: Double, text: String)]) in
                var points = (s["values"] as? [[Any]] ?? []).compactMap { pair -> (t: Double, v: Double, text: String)? in
                    guard pair.count == 2, let t = JSONDocument.number(pair[0]),
                          let v = Double(pair[1] as? String ?? "") else { return nil }
                    return (t, v, Render.text(v))
                }
                points += (s["histograms"] as? [[Any]] ?? []).compactMap { pair -> (t: Double, v: Double, text: String)? in
                    guard pair.count == 2, let t = JSONDocument.number(pair[0]),
                          let h = histogramText(pair[1]) else { return nil }
                    return (t, h.count, h.text)
                }
                points.sort { $0.t < $1.t }
                return (labelText(s["metric"]), points)
            }
            if format == .chart { return Chart.draw(parsed.map { ($0.0, $0.1.map { ($0.t, $0.v) }) }) }
            var rows: [[String]] = []
            for (labels, points) in parsed {
                for p in points { rows.append([labels, QueryTime.seconds(Int64((p.t * 1000).rounded())), p.text]) }
            }
            return Render.table(header: ["SERIES", "TIME", "VALUE"], rows: rows)
        }
    }

    /// A native histogram from the API's JSON as `count=… sum=… (l,u]:n …`, and its count.
    static func histogramText(_ object: Any) -> (count: Double, text: String)? {
        guard let h = object as? [String: Any], let countText = h["count"] as? String, let count = Double(countText) else {
            return nil
        }
        var text = "count=\(countText) sum=\(h["sum"] as? String ?? "")"
        for bucket in h["buckets"] as? [[Any]] ?? [] where bucket.count == 4 {
            let rule = bucket[0] as? Int ?? 0
            let open = rule == 1 || rule == 3 ? "[" : "("
            let close = rule == 0 || rule == 3 ? "]" : ")"
            text += " \(open)\(bucket[1]),\(bucket[2])\(close):\(bucket[3])"
        }
        return (count, text)
    }

    static func labelText(_ metric: Any?) -> String {
        let labels = (metric as? [String: String] ?? [:]).map { Label($0.key, $0.value) }
        let text = Labels(labels).description
        return text.isEmpty ? "{}" : text
    }
}
