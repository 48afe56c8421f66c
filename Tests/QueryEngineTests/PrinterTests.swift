import Foundation
import QueryEngine
import Testing

/// `format_query` cases from Formatting/format_query.txt: each line is `input ⇒ expected`.
@Suite struct PrinterTests {
    static let cases: [(String, String)] = {
        let url = Bundle.module.url(forResource: "Formatting/format_query", withExtension: "txt")!
        let text = try! String(contentsOf: url, encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let arrow = line.range(of: " ⇒ ") else { return nil }
            return (String(line[..<arrow.lowerBound]), String(line[arrow.upperBound...]))
        }
    }()

    @Test(arguments: cases)
    func formats(_ input: String, _ expected: String) throws {
        let expr = try PromQLParser.parse(input)
        #expect(PromQLPrinter.format(expr) == expected)
        // The canonical form parses back to itself.
        #expect(PromQLPrinter.format(try PromQLParser.parse(expected)) == expected)
    }

    @Test func numbersAndDurationsLex() throws {
        for (input, seconds) in [("1h30m", 5400.0), ("0x1F", 31), ("1_000", 1000), ("1.5e3", 1500), ("250ms", 0.25)] {
            guard case let .number(value, _) = try PromQLParser.parse(input) else {
                Issue.record("\(input) is not a number literal")
                continue
            }
            #expect(value == seconds, "\(input)")
        }
        #expect(throws: PromQLError.self) { try PromQLParser.parse("1m5") }
        #expect(throws: PromQLError.self) { try PromQLParser.parse("5m1h") }
    }
}

/// Multi-line `format_query` output, from Formatting/pretty.txt: cases separated by `---`, each the
/// input on its first line and the expected output on the following ones.
@Suite struct PrettyPrinterTests {
    static let cases: [(String, String)] = {
        let url = Bundle.module.url(forResource: "Formatting/pretty", withExtension: "txt")!
        let text = try! String(contentsOf: url, encoding: .utf8)
        return text.components(separatedBy: "\n---\n").map { block in
            let lines = block.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            return (lines[0], lines.dropFirst().joined(separator: "\n").trimmingCharacters(in: .newlines))
        }
    }()

    @Test(arguments: cases)
    func splitsLongExpressions(_ input: String, _ expected: String) throws {
        let pretty = PromQLPrinter.pretty(try PromQLParser.parse(input))
        #expect(pretty == expected)
        // The multi-line form means the same expression.
        #expect(PromQLPrinter.format(try PromQLParser.parse(pretty)) == PromQLPrinter.format(try PromQLParser.parse(input)))
    }
}
