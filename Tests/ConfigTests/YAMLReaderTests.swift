import Foundation
import ObsYAML
import Testing

/// The YAML reader against `Fixtures/yaml/reader.txt`: each case is a document and either the tree
/// it reads as or the error it gets. The writer must give back a document that reads as the same tree.
@Suite struct YAMLReaderTests {
    struct Case: CustomStringConvertible, Sendable {
        let name: String
        let document: String
        let expectsError: Bool
        let expected: String
        var description: String { name }
    }

    static func cases() -> [Case] {
        let url = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/yaml/reader.txt")
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        var cases: [Case] = []
        var name: String?
        var document: [Substring] = []
        var expectation: (error: Bool, lines: [Substring])?
        func flush() {
            guard let name, let expectation else { return }
            cases.append(Case(name: name, document: document.map { $0 + "\n" }.joined(), expectsError: expectation.error,
                              expected: expectation.lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("=== ") {
                flush()
                name = String(line.dropFirst(4))
                document = []
                expectation = nil
            } else if line == "--> tree" || line == "--> error" {
                expectation = (line == "--> error", [])
            } else if expectation != nil {
                expectation?.lines.append(line)
            } else if name != nil {
                document.append(line)
            }
        }
        flush()
        return cases
    }

    @Test func casesArePresent() {
        #expect(Self.cases().count >= 40)
    }

    @Test(arguments: cases())
    func readsAsExpected(_ testCase: Case) throws {
        if testCase.expectsError {
            let error = #expect(throws: ConfigError.self) { try YAMLValue.parse(testCase.document, file: "t.yml") }
            #expect(error?.description == "t.yml:" + testCase.expected)
            return
        }
        let value = try YAMLValue.parse(testCase.document, file: "t.yml")
        #expect(value.map { "\($0.node)" } ?? "nil" == testCase.expected)
        // What the writer makes of the tree reads back as the same tree.
        if let value {
            let written = value.serialized(maskingKeys: [])
            let reread = try YAMLValue.parse(written, file: "written.yml")
            #expect(reread.map { "\($0.node)" } == "\(value.node)", "written as:\n\(written)")
        }
    }

    @Test func lineBreaksOfEveryKindAndPositions() throws {
        let value = try #require(try YAMLValue.parse("a: 1\r\nb:\r  - x\r\n  - \"é\": y\n", file: "t.yml"))
        #expect("\(value.node)" == #"{"a": "1", "b": ["x", {"é": "y"}]}"#)
        let mapping = try value.mapping(allowedKeys: ["a", "b"])
        let item = try #require(mapping["b"]).sequence()[1]
        #expect(item.line == 4 && item.column == 5)
        let inner = try item.mapping(allowedKeys: ["é"])
        #expect(inner["é"]?.line == 4 && inner["é"]?.column == 10, "columns count characters, not bytes")
    }

    @Test func deepNestingIsRefused() {
        let document = String(repeating: "[", count: 100_000)
        let error = #expect(throws: ConfigError.self) { try YAMLValue.parse(document, file: "t.yml") }
        #expect(error?.message.contains("nested deeper than 64 levels") == true)
        var blocks = ""
        for level in 0..<100 { blocks += String(repeating: " ", count: level) + "k:\n" }
        #expect(throws: ConfigError.self) { try YAMLValue.parse(blocks, file: "t.yml") }
    }

    @Test func aliasExpansionIsBounded() {
        // Each level refers to the one before ten times: 10^9 nodes if expanded.
        var document = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            document += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        let error = #expect(throws: ConfigError.self) { try YAMLValue.parse(document, file: "t.yml") }
        #expect(error?.message.contains("expands to more than 1000000 nodes") == true)
    }

    @Test func secretsAreMaskedWhenWritten() throws {
        let value = try #require(try YAMLValue.parse("""
            receivers:
            - name: a
              webhook_configs:
              - url: http://x
                http_config: {basic_auth: {username: u, password: "s3cr3t"}}
            note: "multi\\nline: #text"
            """, file: "t.yml"))
        let written = value.serialized(maskingKeys: ["password"])
        #expect(!written.contains("s3cr3t") && written.contains("password: <secret>"))
        let reread = try #require(try YAMLValue.parse(written, file: "w.yml"))
        #expect("\(reread.node)".contains(#""note": "multi\nline: #text""#))
    }
}
