import Foundation
@testable import LogIngest
import ObsCore
import Testing

/// Tailed-file reading from fixtures: each `Fixtures/tail/NAME.log` is read line by line as the
/// tailer reads it (format detected from the first line, one assembler per stream, the multiline
/// preset named by the file's prefix) and must give the entries in `NAME.expected`: one per line as
/// `stream<TAB>text` with newlines written `\n`, then `malformed N`.
@Suite struct LineFormatTests {
    static let directory = Bundle.module.resourcePath! + "/Fixtures/tail"

    static var fixtures: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".log") }.sorted()
    }

    static func read(_ bytes: [UInt8], preset: String?) throws -> [String] {
        var format: LineFormat?
        var assemblers: [String: EntryAssembler] = [:]
        var order: [String] = []
        var out: [String] = []
        var malformed = 0
        func record(_ entries: [EntryAssembler.Entry], _ stream: String) {
            for entry in entries { out.append(stream + "\t" + entry.line.replacingOccurrences(of: "\n", with: "\\n")) }
        }
        for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast() {
            try Array(line).withUnsafeBytes { raw in
                if format == nil { format = LineFormat.detect(raw) }
                let parsed = RawLine(raw, format: format!)
                if parsed.malformed { malformed += 1 }
                let stream = parsed.stream ?? ""
                if assemblers[stream] == nil {
                    order.append(stream)
                    assemblers[stream] = EntryAssembler(rule: try preset.map { try MultilineRule(preset: $0, firstLine: nil) },
                                                        maxLines: 500, maxBytes: 1 << 20)
                }
                record(assemblers[stream]!.add(parsed, now: 1), stream)
            }
        }
        for stream in order { record(assemblers[stream]!.take(), stream) }
        return out + ["malformed \(malformed)"]
    }

    @Test(arguments: fixtures) func fixture(_ name: String) throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Self.directory + "/" + name)))
        let prefix = String(name.prefix { $0 != "-" })
        let preset = ["java", "python", "go"].contains(prefix) ? prefix : nil
        let expected = try String(contentsOfFile: Self.directory + "/" + name.dropLast(4) + ".expected", encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        let got = try Self.read(bytes, preset: preset)
        #expect(got == expected)
    }

    @Test func fixturesAreFound() {
        #expect(Self.fixtures.count >= 6)
    }

    @Test func kubeletPathsGiveKubernetesLabels() {
        let input = TailInput(name: "pods", paths: ["/var/log/pods/*/*/*.log"])
        #expect(input.pathLabels("/var/log/pods/shop_web-1_0b7e2a1c/web/0.log") == [
            Label("namespace", "shop"), Label("pod", "web-1"), Label("pod_uid", "0b7e2a1c"), Label("container", "web"),
        ])
        #expect(input.pathLabels("/var/log/syslog") == [Label("filename", "/var/log/syslog")])
    }

    @Test func nanosecondTimesRoundTrip() {
        let text = "2025-06-01T08:00:00.123456789Z"
        let parsed = Array(text.utf8).withUnsafeBytes { TimeParsing.rfc3339Nanoseconds($0) }
        #expect(parsed == 1_748_764_800_123_456_789)
        #expect(TimeParsing.rfc3339String(nanoseconds: parsed!) == text)
        #expect(TimeParsing.rfc3339String(nanoseconds: 1_748_764_800_100_000_000) == "2025-06-01T08:00:00.1Z")
    }
}
