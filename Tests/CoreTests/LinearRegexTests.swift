import ObsCore
import Testing

@Suite struct LinearRegexTests {
    @Test func anchoredAndUnanchoredMatching() throws {
        let regex = try LinearRegex("a.c")
        #expect(regex.wholeMatches("abc"))
        #expect(!regex.wholeMatches("xabcx"))
        #expect(regex.occurs(in: "xabcx"))
        #expect(!regex.occurs(in: "a\nc"))
        #expect(try LinearRegex("a.c", dotMatchesNewline: true).wholeMatches("a\nc"))
    }

    @Test func goSyntax() throws {
        #expect(try LinearRegex("(?i)ERROR").occurs(in: "an error here"))
        #expect(try LinearRegex(#"\d{3}-\pL+"#).wholeMatches("123-abc"))
        #expect(try LinearRegex("[[:alpha:]]+").wholeMatches("abc"))
        // Backreferences and lookarounds are not RE2: refused, as Go refuses them.
        #expect(throws: LinearRegex.SyntaxError.self) { try LinearRegex(#"(a)\1"#) }
        #expect(throws: LinearRegex.SyntaxError.self) { try LinearRegex("a(?=b)") }
        #expect(throws: LinearRegex.SyntaxError.self) { try LinearRegex("(unclosed") }
    }

    @Test func namedGroupsInBothSpellings() throws {
        let regex = try LinearRegex(#"(?P<method>\w+) (?<path>[^ ]+) ([0-9]+)"#)
        #expect(regex.groupNames == [nil, "method", "path", nil])
        let match = try #require(regex.firstMatch("GET /index.html 200"))
        #expect(match.group(named: "method") == "GET")
        #expect(match.group(named: "path") == "/index.html")
        #expect(match.group(3) == "200")
        // `(?<` inside a class or escaped is left alone.
        #expect(try LinearRegex(#"[(?<x>]+"#).wholeMatches("(?<x>"))
        #expect(try LinearRegex(#"\(?<"#).wholeMatches("(<"))
    }

    @Test func expansionAsGoExpands() throws {
        let match = try #require(try LinearRegex("(?P<host>[^:]+):([0-9]+)").wholeMatch("db:5432"))
        #expect(match.expand("$1/$2") == "db/5432")
        #expect(match.expand("${host}_x") == "db_x")
        // `$hostx` names a group that does not exist: nothing, as in Go.
        #expect(match.expand("$hostx|$$|$9|$99999999999") == "|$||")
    }

    @Test(arguments: [
        ("a(x*)b", "-ab-axxb-", "${1}W", "-W-xxW-"),
        ("x*", "abc", "-", "-a-b-c-"),
        ("a*", "baaac", "X", "XbXcX"),
        ("(\\w+)@", "a@ b@", "<$1>", "<a> <b>"),
        ("é", "aéb", "e", "aeb"),
    ])
    func replaceAllAsGo(_ pattern: String, _ text: String, _ replacement: String, _ expected: String) throws {
        #expect(try LinearRegex(pattern).replaceAll(in: text, with: replacement, literal: false) == expected)
    }

    @Test func literalReplacementKeepsDollars() throws {
        #expect(try LinearRegex("b").replaceAll(in: "abc", with: "$1", literal: true) == "a$1c")
    }

    /// Patterns that make backtracking engines run for ages finish at once here.
    @Test func noCatastrophicBacktracking() throws {
        let subject = String(repeating: "a", count: 50_000) + "!"
        #expect(try !LinearRegex("(a+)+$").wholeMatches(subject))
        #expect(try !LinearRegex("(a|aa)*b").occurs(in: subject))
        #expect(try !LinearRegex("(.*a){20}x").occurs(in: subject))
    }

    /// A pattern whose program would take more than the bound is refused, not built.
    /// (Many counted repetitions in sequence cost RE2 seconds to compile; they are refused first.)
    @Test func hugePatternsAreRefused() {
        let repeats = "(" + String(repeating: "[a-z]{1,100}", count: 2_000) + ")"
        #expect(throws: LinearRegex.SyntaxError.self) { try LinearRegex(repeats) }
        #expect(throws: LinearRegex.SyntaxError.self) { try LinearRegex("((((a{1000}){1000}){1000}){1000})") }
        let huge = "(" + String(repeating: "[a-z]", count: 2_000_000) + ")"
        #expect(throws: LinearRegex.SyntaxError.self) { try LinearRegex(huge) }
        // Braces that are not a repetition and braces in classes count nothing.
        #expect(LinearRegex.countedRepetitions(#"a{2,5}b{3}[{9999}]\{9999}x{,"#) == 8)
    }
}

@Suite struct GoFloatTests {
    @Test(arguments: [
        (0.0, "0"), (1.0, "1"), (-2.5, "-2.5"), (100_000.0, "100000"), (1_000_000.0, "1e+06"),
        (1_234_567.0, "1.234567e+06"), (0.0001, "0.0001"), (0.00001, "1e-05"), (1e19, "1e+19"),
        (1e300, "1e+300"), (-1e-300, "-1e-300"), (123.456, "123.456"), (Double.infinity, "+Inf"),
        (-Double.infinity, "-Inf"), (Double.nan, "NaN"), (0.1 + 0.2, "0.30000000000000004"),
        (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
    ])
    func formatsAsGoPercentV(_ value: Double, _ expected: String) {
        #expect(GoFloat.format(value) == expected)
    }
}

@Suite struct CheckedTimeTests {
    @Test func scalesWithinBoundsOnly() {
        #expect(CheckedTime.number("1700000000", scale: 1_000_000_000, limit: CheckedTime.maxNanoseconds) == 1_700_000_000_000_000_000)
        #expect(CheckedTime.number("1e11", scale: 1_000_000_000, limit: CheckedTime.maxNanoseconds) == nil)
        #expect(CheckedTime.number("1e30", scale: 1000, limit: CheckedTime.maxMilliseconds) == nil)
        #expect(CheckedTime.number("inf", scale: 1000, limit: CheckedTime.maxMilliseconds) == nil)
        #expect(CheckedTime.number("nan", scale: 1000, limit: CheckedTime.maxMilliseconds) == nil)
        #expect(CheckedTime.number("9223372036854775807", scale: 1000, limit: .max) == nil)
        #expect(CheckedTime.number("-1.5", scale: 1000, limit: CheckedTime.maxMilliseconds) == -1500)
        #expect(CheckedTime.clamped(.max, limit: CheckedTime.maxNanoseconds) == CheckedTime.maxNanoseconds)
    }
}
