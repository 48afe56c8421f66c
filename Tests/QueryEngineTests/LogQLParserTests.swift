import Foundation
import QueryEngine
import Testing

/// LogQL syntax as data: `LogQL/log-queries.txt` and `LogQL/metric-queries.txt` list queries with
/// their canonical form or the error they must give.
@Suite struct LogQLParserTests {
    struct Case: CustomStringConvertible, Sendable {
        var query: String
        var print: String?
        var error: String?
        var description: String { query }
    }

    static var cases: [Case] {
        var result: [Case] = []
        for file in ["log-queries", "metric-queries"] {
            guard let path = Bundle.module.path(forResource: file, ofType: "txt", inDirectory: "LogQL"),
                  let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            result += cases(text)
        }
        return result
    }

    static func cases(_ text: String) -> [Case] {
        var result: [Case] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("query: ") {
                result.append(Case(query: String(line.dropFirst(7))))
            } else if line.hasPrefix("print: ") {
                result[result.count - 1].print = String(line.dropFirst(7))
            } else if line.hasPrefix("error: ") {
                result[result.count - 1].error = String(line.dropFirst(7))
            }
        }
        return result
    }

    @Test func casesAreFound() {
        #expect(Self.cases.count >= 60)
    }

    @Test(arguments: cases) func logQuery(_ example: Case) throws {
        if let expected = example.print {
            let parsed = try LogQLParser.parse(example.query)
            #expect(parsed.description == expected)
            // The canonical form parses to the same query.
            #expect(try LogQLParser.parse(parsed.description) == parsed)
        } else if let expected = example.error {
            do {
                let parsed = try LogQLParser.parse(example.query)
                Issue.record("parsed as \(parsed)")
            } catch {
                #expect(error.description.contains(expected), "\(error.description)")
            }
        } else {
            Issue.record("case without print or error")
        }
    }

    @Test func durationsAndSizes() {
        #expect(LogQLValues.durationNanoseconds("1h30m") == 5_400_000_000_000)
        #expect(LogQLValues.durationNanoseconds("250ms") == 250_000_000)
        #expect(LogQLValues.durationNanoseconds("1.5s") == 1_500_000_000)
        #expect(LogQLValues.durationNanoseconds("10µs") == 10_000)
        #expect(LogQLValues.durationNanoseconds("5parsecs") == nil)
        #expect(LogQLValues.formatDuration(5_400_000_000_000) == "1h30m0s")
        #expect(LogQLValues.formatDuration(1_500_000_000) == "1.5s")
        #expect(LogQLValues.formatDuration(250_000_000) == "250ms")
        #expect(LogQLValues.bytes("10KB") == 10_000)
        #expect(LogQLValues.bytes("1.5MiB") == 1_572_864)
        #expect(LogQLValues.bytes("3") == nil)
    }
}
