import Foundation
import ObsCore
@testable import Scrape
import Testing

/// The exposition parser against fixture files: every `good-*` file parses to its `.expected`
/// listing, every `bad-*` file fails with the message in its `.error` file. `.prom` files are
/// Prometheus text, `.om` files OpenMetrics.
@Suite struct ExpositionParserTests {
    static let directory = Bundle.module.resourcePath! + "/Fixtures/exposition"

    static var fixtures: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".prom") || $0.hasSuffix(".om") }.sorted()
    }

    /// Parses `bytes` into the listing format of the fixtures.
    static func listing(_ bytes: [UInt8], format: ExpositionFormat) throws(ExpositionError) -> [String] {
        var lines: [String] = []
        var failure: ExpositionError?
        bytes.withUnsafeBytes { raw in
            var parser = ExpositionParser(raw, format: format)
            do throws(ExpositionError) {
                while let entry = try parser.next() {
                    switch entry {
                    case .sample:
                        var line = "sample \(braced(Labels(parser.labels()))) \(render(parser.value))"
                        if let t = parser.timestamp { line += " @\(t)" }
                        lines.append(line)
                    case let .help(name, text):
                        lines.append("help \(name) " + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n"))
                    case let .type(name, type): lines.append("type \(name) \(type.rawValue)")
                    case let .unit(name, unit): lines.append("unit \(name) \(unit)")
                    case .metadata: lines.append("unexpected lazy metadata")
                    }
                }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return lines
    }

    static func braced(_ labels: Labels) -> String {
        "{" + labels.map { "\($0.name)=\(JSONText.quote($0.value))" }.joined(separator: ", ") + "}"
    }

    static func render(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    @Test(arguments: fixtures) func fixture(_ name: String) throws {
        let path = Self.directory + "/" + name
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let format: ExpositionFormat = name.hasSuffix(".om") ? .openMetrics : .prometheusText
        let base = String(path[..<path.lastIndex(of: ".")!])
        if name.hasPrefix("good-") {
            let expected = try String(contentsOfFile: base + ".expected", encoding: .utf8).split(separator: "\n").map(String.init)
            #expect(try Self.listing(bytes, format: format) == expected)
        } else {
            let expected = try String(contentsOfFile: base + ".error", encoding: .utf8).trimmingCharacters(in: .newlines)
            #expect(throws: ExpositionError.self) { try Self.listing(bytes, format: format) }
            do {
                _ = try Self.listing(bytes, format: format)
            } catch {
                #expect(error.description == expected)
            }
        }
    }

    /// With lazy metadata the parser hands back comment lines whose entries build on request.
    @Test func lazyMetadataBuildsTheSameEntries() throws {
        let bytes = Array("# HELP a Some help.\n# TYPE a counter\na_total 1\n".utf8)
        var entries: [ExpositionParser.Entry] = []
        bytes.withUnsafeBytes { raw in
            var parser = ExpositionParser(raw, format: .prometheusText)
            parser.lazyMetadata = true
            while let entry = try? parser.next() {
                entries.append(entry == .metadata ? parser.metadataEntry() : entry)
            }
        }
        #expect(entries == [.help(name: "a", text: "Some help."), .type(name: "a", type: .counter), .sample])
    }

    @Test func fixturesAreFound() {
        #expect(Self.fixtures.count >= 12)
    }

    @Test func contentTypePicksTheFormat() {
        #expect(ExpositionFormat(contentType: "application/openmetrics-text; version=1.0.0; charset=utf-8") == .openMetrics)
        #expect(ExpositionFormat(contentType: "text/plain; version=0.0.4") == .prometheusText)
        #expect(ExpositionFormat(contentType: nil) == .prometheusText)
    }
}
