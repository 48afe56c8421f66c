import Alerting
import Foundation
import Testing

/// Rule files as data: every file under `Fixtures/bad` is refused with the error its first line
/// names (`# error: …`), every file under `Fixtures/good` loads with the rule count it names.
@Suite struct RuleFileTests {
    static func fixtures(_ kind: String) -> [String] {
        guard let directory = Bundle.module.url(forResource: "Fixtures/\(kind)", withExtension: nil),
              let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        return names.filter { $0.hasSuffix(".yml") }.sorted().map { directory.appendingPathComponent($0).path }
    }

    static func header(_ path: String, _ key: String) throws -> String {
        let first = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").first ?? ""
        return String(first.dropFirst("# \(key): ".count))
    }

    @Test(arguments: fixtures("bad"))
    func refused(_ path: String) throws {
        let expected = try Self.header(path, "error")
        do {
            _ = try RuleFile.load(path)
            Issue.record("\(path) was accepted")
        } catch {
            #expect(error.description.contains(expected), "\(error.description)")
            #expect(error.description.hasPrefix(path), "errors name the file")
        }
    }

    @Test(arguments: fixtures("good"))
    func loads(_ path: String) throws {
        let expected = Int(try Self.header(path, "rules"))
        let file = try RuleFile.load(path)
        #expect(file.groups.reduce(0) { $0 + $1.rules.count } == expected)
    }

    @Test func fixturesExist() {
        #expect(Self.fixtures("bad").count >= 10)
        #expect(!Self.fixtures("good").isEmpty)
    }
}
