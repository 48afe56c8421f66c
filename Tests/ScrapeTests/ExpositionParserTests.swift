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
    static func listing(_ bytes: [UInt8], format: ExpositionFormat, lazyLabels: Bool = false) throws(ExpositionError) -> [String] {
        var lines: [String] = []
        var failure: ExpositionError?
        bytes.withUnsafeBytes { raw in
            var parser = ExpositionParser(raw, format: format)
            parser.lazyLabels = lazyLabels
            do throws(ExpositionError) {
                while let entry = try parser.next() {
                    switch entry {
                    case .sample:
                        var line = "sample \(braced(Labels(try parser.labels()))) \(render(parser.value))"
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

    /// Every fixture parses the same with the label sets read lazily, as the scrape loop reads them.
    @Test(arguments: fixtures, [false, true]) func fixture(_ name: String, lazyLabels: Bool) throws {
        let path = Self.directory + "/" + name
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let format: ExpositionFormat = name.hasSuffix(".om") ? .openMetrics : .prometheusText
        let base = String(path[..<path.lastIndex(of: ".")!])
        if name.hasPrefix("good-") {
            let expected = try String(contentsOfFile: base + ".expected", encoding: .utf8).split(separator: "\n").map(String.init)
            #expect(try Self.listing(bytes, format: format, lazyLabels: lazyLabels) == expected)
        } else {
            let expected = try String(contentsOfFile: base + ".error", encoding: .utf8).trimmingCharacters(in: .newlines)
            #expect(throws: ExpositionError.self) { try Self.listing(bytes, format: format, lazyLabels: lazyLabels) }
            do {
                _ = try Self.listing(bytes, format: format, lazyLabels: lazyLabels)
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

    /// Decimal values read without strtod round exactly as strtod does.
    @Test func decimalsRoundLikeStrtod() throws {
        var generator = SystemRandomNumberGenerator()
        var texts: [String] = ["0", "-0", "1", "0.1", "3.14159", "1e22", "1e-22", "123456789012345", "1234567890123456",
                               "0.000000000000000000000001", "9007199254740993", "1.7976931348623157e308", "5e-324", ".5", "5.", "+2.5E+3"]
        for _ in 0..<5000 {
            let digits = String((0..<Int.random(in: 1...17, using: &generator)).map { _ in Character(String(Int.random(in: 0...9, using: &generator))) })
            let point = Int.random(in: 0...digits.count, using: &generator)
            var text = String(digits.prefix(point)) + "." + String(digits.dropFirst(point))
            if Bool.random(using: &generator) { text += "e\(Int.random(in: -30...30, using: &generator))" }
            if Bool.random(using: &generator) { text = "-" + text }
            texts.append(text)
        }
        let body = Array(texts.enumerated().map { "m{i=\"\($0.offset)\"} \($0.element)\n" }.joined().utf8)
        var parsed: [Double] = []
        body.withUnsafeBytes { raw in
            var parser = ExpositionParser(raw, format: .prometheusText)
            while let entry = try? parser.next() { if entry == .sample { parsed.append(parser.value) } }
        }
        #expect(parsed.count == texts.count)
        for (text, value) in zip(texts, parsed) {
            let expected = Double(text.hasPrefix("+") ? String(text.dropFirst()) : text)!
            #expect(value.bitPattern == expected.bitPattern, "\(text)")
        }
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
