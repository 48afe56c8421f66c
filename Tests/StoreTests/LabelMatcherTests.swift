import ObsCore
import Testing

@Suite struct LabelMatcherTests {
    @Test(arguments: [
        (LabelMatcher.Kind.equal, "a", "a", true), (.equal, "a", "b", false), (.equal, "", "", true),
        (.notEqual, "a", "b", true), (.notEqual, "a", "a", false),
        (.regexMatch, "a|b", "b", true), (.regexMatch, "a|b", "ab", false), (.regexMatch, "foo.*", "foobar", true),
        (.regexMatch, "foo.*", "xfoo", false), (.regexMatch, ".*", "", true), (.regexMatch, ".+", "", false),
        (.regexMatch, "[0-9]+", "123", true), (.regexMatch, "[0-9]+", "12a", false), (.regexMatch, "a.c", "a\nc", true),
        (.regexMatch, "api\\.example", "api.example", true), (.regexMatch, "api\\.example", "apixexample", false),
        (.regexNoMatch, "a|b", "c", true), (.regexNoMatch, "a|b", "a", false),
    ])
    func matching(kind: LabelMatcher.Kind, pattern: String, candidate: String, expected: Bool) throws {
        #expect(try LabelMatcher(kind, "l", pattern).matches(candidate) == expected)
    }

    @Test func exactValuesForIndexLookups() throws {
        #expect(try LabelMatcher(.equal, "l", "x").exactValues == ["x"])
        #expect(try LabelMatcher(.regexMatch, "l", "a|b\\.c").exactValues == ["a", "b.c"])
        #expect(try LabelMatcher(.regexMatch, "l", "a.*").exactValues == nil)
        #expect(try LabelMatcher(.notEqual, "l", "x").exactValues == nil)
    }

    @Test func invalidRegexThrows() {
        #expect(throws: LinearRegex.SyntaxError.self) { try LabelMatcher(.regexMatch, "l", "(unclosed") }
    }

    @Test func labelsAreSortedUniqueAndDropEmptyValues() {
        let labels = Labels([Label("b", "2"), Label("a", "1"), Label("c", ""), Label("a", "3")])
        #expect(labels.pairs == [Label("a", "3"), Label("b", "2")])
        #expect(labels.setting("aa", to: "x").pairs.map(\.name) == ["a", "aa", "b"])
        #expect(labels.setting("a", to: "").pairs.map(\.name) == ["b"])
        #expect(Labels(["__name__": "up", "job": "x"]).description == "up{job=\"x\"}")
        #expect(Labels(["__name__": "up", "job": "x"]).stableHash == Labels(["job": "x", "__name__": "up"]).stableHash)
        #expect(Labels(["a": "b"]) < Labels(["a": "c"]))
        #expect(Labels(["a": "b"]) < Labels(["a": "b", "c": "d"]))
    }
}
