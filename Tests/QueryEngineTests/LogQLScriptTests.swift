import Foundation
import ObsCore
import QueryEngine
import Testing

/// LogQL semantics as data: each `LogQL/semantics/*.test` script loads streams and evaluates
/// queries against them. Format:
///
///     load {app="api"}                  a stream; entries follow, indented
///       10s some line                   time since the epoch, then the line verbatim
///       20s @{trace="a"} a line         with structured metadata
///     eval logs from 0s to 1m limit 2 forward: {app="api"} |= "x"
///       {app="api"} 10s some line       expected lines in order: final labels, time, line
///     eval instant at 1m: count_over_time({app="api"}[1m])
///       {app="api"} 2                   expected samples (any order)
///     eval range from 0s to 2m step 1m: rate({app="api"}[1m])
///       {app="api"} _ 0.5 1             one value per step, `_` where absent
///       error: pipeline error           or: the error must contain this text
@Suite struct LogQLScriptTests {
    struct Script: CustomStringConvertible, Sendable {
        var name: String
        var text: String
        var description: String { name }
    }

    static var scripts: [Script] {
        guard let directory = Bundle.module.path(forResource: "semantics", ofType: nil, inDirectory: "LogQL"),
              let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.filter { $0.hasSuffix(".test") }.sorted().compactMap { name in
            (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)).map { Script(name: name, text: $0) }
        }
    }

    @Test func scriptsAreFound() {
        #expect(Self.scripts.count >= 5)
    }

    /// Each script runs twice: range aggregations folded into steps as lines are read, and over
    /// kept samples with sliding windows.
    @Test(arguments: scripts, [64, 0])
    func script(_ script: Script, maxWindowsPerSample: Int) throws {
        var runner = ScriptRunner(name: script.name)
        runner.options.maxWindowsPerSample = maxWindowsPerSample
        try runner.run(script.text)
        #expect(runner.evaluations > 0, "\(script.name) evaluates nothing")
    }
}

struct ScriptFailure: Error, CustomStringConvertible {
    var description: String
}

/// Reads and runs one script; each expectation that does not hold is recorded as a test issue
/// naming the script and line.
struct ScriptRunner {
    let name: String
    var streams: [Labels: [LogEntry]] = [:]
    var evaluations = 0
    var options = LogQLOptions()

    enum Evaluation {
        case logs(start: Int64, end: Int64, limit: Int, direction: LogDirection)
        case instant(Int64)
        case range(start: Int64, end: Int64, step: Int64)
    }

    init(name: String) {
        self.name = name
    }

    static func duration(_ text: Substring) throws -> Int64 {
        if text == "0" { return 0 }
        guard let value = LogQLValues.durationNanoseconds(String(text)) else { throw ScriptFailure(description: "bad duration \(text)") }
        return value
    }

    /// Splits `{…} rest` into the label set and the rest.
    static func labels(_ text: Substring) throws -> (Labels, Substring) {
        var depth = 0, inQuote = false, escaped = false
        for index in text.indices {
            let character = text[index]
            if escaped { escaped = false; continue }
            if character == "\\" { escaped = true; continue }
            if character == "\"" { inQuote.toggle(); continue }
            if inQuote { continue }
            if character == "{" { depth += 1 }
            if character == "}" {
                depth -= 1
                if depth == 0 {
                    let end = text.index(after: index)
                    let labels = try LabelSetParser.parse(String(text[text.startIndex..<end]))
                    return (labels, text[end...].drop { $0 == " " })
                }
            }
        }
        throw ScriptFailure(description: "unterminated label set in \(text)")
    }

    mutating func run(_ text: String) throws {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var current: Labels?
        var index = 0
        while index < lines.count {
            let line = lines[index]
            let number = index + 1
            index += 1
            let trimmed = line.drop { $0 == " " }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if line.hasPrefix("load ") {
                current = try Self.labels(line.dropFirst(5)).0
                streams[current!, default: []] = streams[current!] ?? []
            } else if line.hasPrefix("  "), let stream = current {
                let parts = trimmed.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                let timestamp = try Self.duration(parts[0])
                var body = parts.count > 1 ? parts[1] : ""
                var metadata = Labels.empty
                if body.hasPrefix("@{") {
                    (metadata, body) = try Self.labels(body.dropFirst())
                }
                streams[stream]!.append(LogEntry(timestamp: timestamp, line: String(body), metadata: metadata))
            } else if line.hasPrefix("eval ") {
                current = nil
                var expected: [Substring] = []
                while index < lines.count, lines[index].hasPrefix("  ") {
                    expected.append(lines[index].drop { $0 == " " })
                    index += 1
                }
                try evaluate(line.dropFirst(5), expected: expected, at: number)
            } else {
                throw ScriptFailure(description: "\(name):\(number): cannot read \(line)")
            }
        }
    }

    mutating func evaluate(_ line: Substring, expected: [Substring], at number: Int) throws {
        evaluations += 1
        guard let colon = line.range(of: ": ") else { throw ScriptFailure(description: "\(name):\(number): missing ': query'") }
        let words = line[..<colon.lowerBound].split(separator: " ")
        let query = String(line[colon.upperBound...])
        let evaluation: Evaluation
        switch words.first {
        case "logs":
            var limit = 100, direction = LogDirection.backward
            if let at = words.firstIndex(of: "limit") { limit = Int(words[at + 1]) ?? limit }
            if words.contains("forward") { direction = .forward }
            evaluation = .logs(start: try Self.duration(words[2]), end: try Self.duration(words[4]), limit: limit, direction: direction)
        case "instant":
            evaluation = .instant(try Self.duration(words[2]))
        case "range":
            evaluation = .range(start: try Self.duration(words[2]), end: try Self.duration(words[4]), step: try Self.duration(words[6]))
        default:
            throw ScriptFailure(description: "\(name):\(number): unknown evaluation \(words.first ?? "")")
        }
        let place = "\(name):\(number) [windows \(options.maxWindowsPerSample)] \(query)"
        let wantedError = expected.first.flatMap { $0.hasPrefix("error: ") ? String($0.dropFirst(7)) : nil }
        let engine = LogQLEngine(querier: MemoryLogs(streams: streams), options: options)
        do {
            let expr = try LogQLParser.parse(query)
            switch evaluation {
            case let .logs(start, end, limit, direction):
                guard case let .logs(logQuery) = expr else { throw ScriptFailure(description: "not a log query") }
                let result = try engine.logs(logQuery, start: start, end: end + 1, direction: direction, limit: limit)
                if let wantedError { Issue.record("\(place): expected error \(wantedError)"); return }
                let got = result.lines.map { "\($0.labels) \($0.timestamp) \($0.line)" }
                let want = try expected.map { text -> String in
                    let (labels, rest) = try Self.labels(text)
                    let parts = rest.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                    return "\(labels) \(try Self.duration(parts[0])) \(parts.count > 1 ? parts[1] : "")"
                }
                #expect(got == want, "\(place)")
            case let .instant(time):
                let result = try engine.metric(expr, start: time, end: time, step: 0, instant: true)
                if let wantedError { Issue.record("\(place): expected error \(wantedError)"); return }
                compare(Self.samples(result.value), expected, steps: 1, place: place)
            case let .range(start, end, step):
                let result = try engine.metric(expr, start: start, end: end, step: step, instant: false)
                if let wantedError { Issue.record("\(place): expected error \(wantedError)"); return }
                let steps = Int((end - start) / step) + 1
                compare(Self.samples(result.value, start: start / 1_000_000, step: step / 1_000_000, steps: steps), expected,
                        steps: steps, place: place)
            }
        } catch {
            let message = "\(error)"
            if let wantedError {
                #expect(message.contains(wantedError), "\(place): error \(message)")
            } else {
                Issue.record("\(place): unexpected error \(message)")
            }
        }
    }

    /// Values per series and step, nil where absent.
    static func samples(_ value: QueryValue, start: Int64 = 0, step: Int64 = 1, steps: Int = 1) -> [Labels: [Double?]] {
        switch value {
        case let .scalar(point): return [.empty: [point.f]]
        case .string: return [:]
        case let .vector(samples):
            return Dictionary(samples.map { ($0.labels, [$0.point.f]) }, uniquingKeysWith: { a, _ in a })
        case let .matrix(series):
            var result: [Labels: [Double?]] = [:]
            for s in series {
                var values = [Double?](repeating: nil, count: steps)
                for point in s.points { values[Int((point.t - start) / step)] = point.f }
                result[s.labels] = values
            }
            return result
        }
    }

    func compare(_ got: [Labels: [Double?]], _ expected: [Substring], steps: Int, place: String) {
        var want: [Labels: [Double?]] = [:]
        for text in expected {
            guard let (labels, rest) = try? Self.labels(text) else { Issue.record("\(place): cannot read \(text)"); return }
            want[labels] = rest.split(separator: " ").map { $0 == "_" ? nil : Double(String($0)) ?? (String($0) == "NaN" ? .nan : nil) }
        }
        func same(_ a: [Double?], _ b: [Double?]) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { x, y in
                switch (x, y) {
                case (nil, nil): true
                case let (x?, y?): x == y || (x.isNaN && y.isNaN) || abs(x - y) <= 1e-9 * max(1, abs(y))
                default: false
                }
            }
        }
        let matches = Set(got.keys) == Set(want.keys) && want.allSatisfy { same(got[$0.key]!, $0.value) }
        #expect(matches, "\(place)\n got: \(got.sorted { $0.key < $1.key })\nwant: \(want.sorted { $0.key < $1.key })")
    }
}

/// Streams held in memory, served as chunks of at most three entries so scans cross chunk edges.
struct MemoryLogs: LogQuerier {
    let streams: [Labels: [LogEntry]]

    func streams(_ matchers: [LabelMatcher], start: Int64, end: Int64) throws -> [Labels] {
        streams.keys.filter { labels in matchers.allSatisfy { $0.matches(labels[$0.name] ?? "") } }.sorted()
    }

    func chunks(_ matchers: [LabelMatcher], start: Int64, end: Int64) throws -> [any LogChunk] {
        var result: [any LogChunk] = []
        for labels in try streams(matchers, start: start, end: end) {
            let entries = streams[labels]!.sorted { $0.timestamp < $1.timestamp }
            var offset = 0
            while offset < entries.count {
                result.append(LogEntriesChunk(labels: labels, sortedEntries: Array(entries[offset..<min(offset + 3, entries.count)])))
                offset += 3
            }
        }
        return result
    }
}

/// The engine's limits fail with Loki's words instead of running away.
@Suite struct LogQLLimitTests {
    static let logs = MemoryLogs(streams: [
        Labels(["app": "a"]): (1...9).map { LogEntry(timestamp: Int64($0) * 1_000_000_000, line: "line \($0) id=\($0)") },
        Labels(["app": "b"]): [LogEntry(timestamp: 1_000_000_000, line: "other")],
    ])

    @Test func seriesLimit() throws {
        var options = LogQLOptions()
        options.maxSeries = 1
        let engine = LogQLEngine(querier: Self.logs, options: options)
        #expect(throws: LogQLError.self) {
            try engine.metric(try LogQLParser.parse(#"count_over_time({app=~"a|b"}[1m])"#), start: 10_000_000_000,
                              end: 10_000_000_000, step: 0, instant: true)
        }
        let summed = try engine.metric(try LogQLParser.parse(#"sum(count_over_time({app=~"a|b"}[1m]))"#), start: 10_000_000_000,
                                       end: 10_000_000_000, step: 0, instant: true)
        #expect(summed.value == .vector([Sample(labels: .empty, point: Point(t: 10_000, f: 10))]))
    }

    @Test func timeout() throws {
        var options = LogQLOptions()
        options.timeout = .zero
        let engine = LogQLEngine(querier: Self.logs, options: options)
        guard case let .logs(query) = try LogQLParser.parse(#"{app="a"}"#) else { return }
        do {
            _ = try engine.logs(query, start: 0, end: 100_000_000_000, direction: .forward, limit: 10)
            Issue.record("no timeout")
        } catch {
            guard case .timeout = error else { Issue.record("\(error)"); return }
        }
    }

    @Test func statsCountWhatWasRead() throws {
        let engine = LogQLEngine(querier: Self.logs)
        guard case let .logs(query) = try LogQLParser.parse(#"{app="a"} |= "line 9""#) else { return }
        let result = try engine.logs(query, start: 0, end: 100_000_000_000, direction: .backward, limit: 10)
        #expect(result.lines.map(\.line) == ["line 9 id=9"])
        #expect(result.stats.chunksRef == 3 && result.stats.chunksScanned == 3)
        #expect(result.stats.totalLines == 9 && result.stats.entriesReturned == 1)
    }
}
