import Alertmanager
import Foundation
import ObsCore
import Testing

/// Alertmanager configurations as data: every file under `Fixtures/bad` is refused with the error
/// its first line names (`# error: …`); every file under `Fixtures/good` loads with the receiver
/// count it names.
@Suite struct AlertmanagerConfigTests {
    static func fixtures(_ kind: String) -> [String] {
        guard let directory = Bundle.module.url(forResource: "Fixtures/\(kind)", withExtension: nil),
              let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        return names.filter { $0.hasSuffix(".yml") }.sorted().map { directory.appendingPathComponent($0).path }
    }

    static func header(_ path: String, _ key: String) throws -> (String, String) {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let first = text.split(separator: "\n").first ?? ""
        return (String(first.dropFirst("# \(key): ".count)), text)
    }

    @Test(arguments: fixtures("bad"))
    func refused(_ path: String) throws {
        let (expected, text) = try Self.header(path, "error")
        do {
            _ = try AlertmanagerSettings.parse(text, file: path)
            Issue.record("\(path) was accepted")
        } catch {
            #expect(error.description.contains(expected), "\(error.description)")
            #expect(error.description.hasPrefix(path + ":"), "errors name the file and line: \(error.description)")
        }
    }

    @Test(arguments: fixtures("good"))
    func loads(_ path: String) throws {
        let (expected, text) = try Self.header(path, "receivers")
        let settings = try AlertmanagerSettings.parse(text, file: path)
        #expect(settings.receivers.count == Int(expected))
        #expect(!settings.original.contains("s3cr3t") && !settings.original.contains("pw}"), "secrets are masked")
    }

    @Test func fixturesExist() {
        #expect(Self.fixtures("bad").count >= 20)
        #expect(Self.fixtures("good").count >= 2)
    }

    @Test func inheritanceAndKeys() throws {
        let text = try String(contentsOfFile: Self.fixtures("good").first { $0.hasSuffix("docs-example.yml") }!, encoding: .utf8)
        let route = Route(root: try AlertmanagerSettings.parse(text, file: "am.yml").route)
        let pager = route.match(Labels(["service": "foo1", "severity": "critical"]))
        #expect(pager.map(\.receiver) == ["team-X-pager"])
        #expect(pager[0].key == #"{}/{service=~"foo1|foo2|baz"}/{severity="critical"}"#)
        #expect(pager[0].groupBy == ["alertname", "cluster", "service"] && pager[0].repeatInterval == 3 * 3_600_000)
        // `continue` lets a match go on to the next sibling; a node with no matching child matches itself.
        let owner = route.match(Labels(["service": "zzz", "owner": "team-X"]))
        #expect(owner.map(\.receiver) == ["team-Y-pager"])
        let both = route.match(Labels(["service": "foo2", "owner": "team-X"]))
        #expect(both.map(\.receiver) == ["team-X-mails"])
        let catchAll = route.match(Labels(["service": "other"]))
        #expect(catchAll.count == 1 && catchAll[0].groupByAll && catchAll[0].key == "{}/{}")
    }
}

@Suite struct MatcherSyntaxTests {
    @Test(arguments: [
        ("a=b", "a=\"b\""), ("a = \"b c\"", "a=\"b c\""), ("a=~\"x|y\"", "a=~\"x|y\""), ("a!=", "a!=\"\""),
        ("a!~\"\\\\d+\"", "a!~\"\\\\d+\""), ("a=\"quote\\\"d\"", "a=\"quote\\\"d\""), ("foo_bar:baz=\"1\"", "foo_bar:baz=\"1\""),
    ])
    func parses(_ input: String, _ rendered: String) throws {
        #expect(try MatcherSyntax.parse(input).description == rendered)
    }

    @Test(arguments: ["", "=b", "1a=b", "a", "a=\"b", "a=b\"c", "a=~\"(\""])
    func refuses(_ input: String) {
        #expect(throws: AlertmanagerError.self) { try MatcherSyntax.parse(input) }
    }

    @Test func lists() throws {
        let list = try MatcherSyntax.parseList(#"{team="a,b", sev=~"x|y"}"#)
        #expect(list.map(\.description) == [#"team="a,b""#, #"sev=~"x|y""#])
        #expect(MatcherSyntax.key(list) == #"{sev=~"x|y",team="a,b"}"#)
        #expect(try MatcherSyntax.parseList("a=b,c!=d").count == 2)
    }
}

@Suite struct NotificationLogTests {
    typealias Entry = NotificationLog.Entry
    static let now: Int64 = 1_000_000 * 1_000_000_000
    static let hour: Int64 = 3_600_000

    /// Alertmanager's dedup table: (logged firing, logged resolved, age of the entry in ms, firing,
    /// resolved, send_resolved) → notify?
    @Test(arguments: [
        (nil, nil, 0, [1], [], true, true),          // never notified, something fires
        (nil, nil, 0, [], [1], true, false),         // never notified, all resolved
        ([1], [], 60_000, [1, 2], [], true, true),   // a new alert fires
        ([1, 2], [], 60_000, [1], [], true, false),  // one resolved and send_resolved… see next
        ([1, 2], [], 60_000, [1], [2], true, true),  // resolved alert not yet told
        ([1, 2], [], 60_000, [1], [2], false, false),// …unless send_resolved is off
        ([1], [], 60_000, [], [1], false, true),     // all resolved: tell, whatever send_resolved
        ([], [1], 60_000, [], [1], true, false),     // already told it resolved
        ([1], [], 2 * hour, [1], [], true, true),    // repeat interval (1h) passed
        ([1], [], hour - 1, [1], [], true, false),   // not yet
    ] as [([UInt64]?, [UInt64]?, Int64, [UInt64], [UInt64], Bool, Bool)])
    func dedup(_ logged: [UInt64]?, _ loggedResolved: [UInt64]?, _ age: Int64, _ firing: [UInt64], _ resolved: [UInt64],
               _ sendResolved: Bool, _ expected: Bool) {
        let entry = logged.map { Entry(key: "k", timestamp: Self.now - age * 1_000_000, firing: Set($0), resolved: Set(loggedResolved ?? []),
                                       expiresAt: Self.now + 1) }
        #expect(NotificationLog.needsUpdate(entry, firing: Set(firing), resolved: Set(resolved), sendResolved: sendResolved,
                                            repeatInterval: Self.hour, now: Self.now) == expected)
    }
}
