import ObsCore
import QueryEngine
import Testing

/// Log pipelines on single entries: each case runs a query's stages on one line with `{app="web"}`
/// and gives the resulting line and labels, or nil when the line is dropped.
@Suite struct LogPipelineTests {
    struct Case: CustomStringConvertible, Sendable {
        var query: String
        var line: String
        /// `line ⏎ labels` of the result; nil: dropped.
        var expected: (line: String, labels: [String: String])?
        var value: Double? = nil
        var description: String { query }
    }

    static let cases: [Case] = [
        Case(query: #"{app="web"} |= "error""#, line: "an error here", expected: ("an error here", [:])),
        Case(query: #"{app="web"} |= "error""#, line: "all fine", expected: nil),
        Case(query: #"{app="web"} != "debug" or "trace""#, line: "a trace line", expected: nil),
        Case(query: #"{app="web"} |= "a" or "b""#, line: "only b", expected: ("only b", [:])),
        Case(query: #"{app="web"} |~ "5\\d\\d""#, line: "status 503", expected: ("status 503", [:])),
        Case(query: #"{app="web"} |> "<_> GET <_>""#, line: "1.2.3.4 GET /x", expected: ("1.2.3.4 GET /x", [:])),
        Case(query: #"{app="web"} | json"#, line: #"{"level":"info","req":{"method":"GET","path":"/a"},"tags":[1,2],"ms":5.5}"#,
             expected: (#"{"level":"info","req":{"method":"GET","path":"/a"},"tags":[1,2],"ms":5.5}"#,
                        ["level": "info", "req_method": "GET", "req_path": "/a", "ms": "5.5"])),
        Case(query: #"{app="web"} | json m="req.method", first="tags[0]""#, line: #"{"req":{"method":"GET"},"tags":[7,8]}"#,
             expected: (#"{"req":{"method":"GET"},"tags":[7,8]}"#, ["m": "GET", "first": "7"])),
        Case(query: #"{app="web"} | json"#, line: "not json",
             expected: ("not json", ["__error__": "JSONParserErr", "__error_details__": "*"])),
        Case(query: #"{app="web"} | logfmt"#, line: #"level=warn msg="disk almost full" free=3%"#,
             expected: (#"level=warn msg="disk almost full" free=3%"#, ["level": "warn", "msg": "disk almost full", "free": "3%"])),
        Case(query: #"{app="web"} | logfmt | level="warn" and free!="0""#, line: "level=warn free=1", expected: ("level=warn free=1", ["level": "warn", "free": "1"])),
        Case(query: #"{app="web"} | logfmt | status >= 500"#, line: "status=404", expected: nil),
        Case(query: #"{app="web"} | logfmt | took > 1s"#, line: "took=1.5s", expected: ("took=1.5s", ["took": "1.5s"])),
        Case(query: #"{app="web"} | logfmt | size > 1KB"#, line: "size=2KiB", expected: ("size=2KiB", ["size": "2KiB"])),
        Case(query: #"{app="web"} | logfmt | status >= 500"#, line: "status=oops",
             expected: ("status=oops", ["status": "oops", "__error__": "LabelFilterErr", "__error_details__": "*"])),
        Case(query: #"{app="web"} | regexp "(?P<method>[A-Z]+) (?P<path>\\S+)""#, line: "GET /x 200",
             expected: ("GET /x 200", ["method": "GET", "path": "/x"])),
        Case(query: #"{app="web"} | pattern "<ip> - <_> \"<method> <uri>\" <status>""#, line: #"1.2.3.4 - - "GET /a" 200"#,
             expected: (#"1.2.3.4 - - "GET /a" 200"#, ["ip": "1.2.3.4", "method": "GET", "uri": "/a", "status": "200"])),
        Case(query: #"{app="web"} | unpack"#, line: #"{"_entry":"original line","pod":"p1"}"#, expected: ("original line", ["pod": "p1"])),
        Case(query: #"{app="web"} | logfmt | drop level, status="200""#, line: "level=info status=200 x=1", expected: ("level=info status=200 x=1", ["x": "1"])),
        Case(query: #"{app="web"} | logfmt | keep x"#, line: "level=info x=1", expected: ("level=info x=1", ["x": "1"])),
        Case(query: #"{app="web"} | logfmt | label_format lvl=level"#, line: "level=info", expected: ("level=info", ["lvl": "info"])),
        Case(query: #"{app="web"} | decolorize"#, line: "\u{1B}[31mred\u{1B}[0m text", expected: ("red text", [:])),
        Case(query: #"{app="web"} | logfmt | unwrap duration(took)"#, line: "took=250ms x=1", expected: ("took=250ms x=1", ["x": "1"]), value: 0.25),
        Case(query: #"{app="web"} | logfmt | unwrap bytes(size)"#, line: "size=2KB", expected: ("size=2KB", [:]), value: 2000),
    ]

    @Test(arguments: cases) func pipeline(_ example: Case) throws {
        guard case let .logs(query) = try LogQLParser.parse(example.query) else {
            Issue.record("not a log query")
            return
        }
        let output = try LogPipeline(query.stages).process(line: example.line, labels: Labels(["app": "web"]))
        guard let expected = example.expected else {
            #expect(output == nil)
            return
        }
        guard let output else {
            Issue.record("dropped")
            return
        }
        #expect(output.line == expected.line)
        var labels: [String: String] = [:]
        for label in output.labels where label.name != "app" { labels[label.name] = label.value }
        // "*" stands for any value (error details carry the parser's own words).
        for (name, value) in expected.labels where value == "*" { labels[name] = labels[name] == nil ? nil : "*" }
        #expect(labels == expected.labels)
        #expect(output.value == example.value)
    }

    @Test func templatesThatDoNotParseAreRefused() throws {
        guard case let .logs(query) = try LogQLParser.parse(#"{app="web"} | line_format "{{.x""#) else { return }
        #expect(throws: LogPipeline.Invalid.self) { try LogPipeline(query.stages) }
    }

    @Test func substringFiltersArePushedDown() throws {
        guard case let .logs(query) = try LogQLParser.parse(#"{app="web"} |= "err" != "debug" | json |= "late""#) else { return }
        let filter = try #require(try LogPipeline(query.stages).pushdownFilter)
        func test(_ text: String) -> Bool { Array(text.utf8).withUnsafeBytes { filter($0) } }
        #expect(test("an err line"))
        #expect(!test("an err debug line"))
        #expect(!test("nothing"))
    }
}
