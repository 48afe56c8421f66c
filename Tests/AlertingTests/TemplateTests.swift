import Alerting
import ObsCore
import Testing

/// Alert templates render as Prometheus's Go templates do, byte for byte.
@Suite struct AlertTemplateTests {
    static let data = AlertTemplate.Data(
        labels: Labels(["__name__": "up", "instance": "h1:9100", "job": "node"]),
        externalLabels: Labels(["cluster": "eu"]), externalURL: "http://prom.example:9090/prefix", value: 1_234_567)

    @Test(arguments: [
        ("{{ $value }}", "1.234567e+06"),
        ("{{ $value | humanize }}", "1.235M"),
        ("{{ 0.000123 | humanize }}", "123u"),
        ("{{ 0 | humanize }}", "0"),
        ("{{ 1048576 | humanize1024 }}", "1Mi"),
        ("{{ 90061 | humanizeDuration }}", "1d 1h 1m 1s"),
        ("{{ 3.5 | humanizeDuration }}", "3.5s"),
        ("{{ 0.25 | humanizeDuration }}", "250ms"),
        ("{{ 0.1234 | humanizePercentage }}", "12.34%"),
        ("{{ 1700000000.5 | humanizeTimestamp }}", "2023-11-14 22:13:20.5 +0000 UTC"),
        ("{{ $labels.instance }} {{ .Labels.job }} {{ $labels.missing }}|", "h1:9100 node |"),
        ("{{ $externalLabels.cluster }} {{ $externalURL }} {{ pathPrefix }}", "eu http://prom.example:9090/prefix /prefix"),
        ("{{ printf \"%.2f\" $value }} {{ printf \"%d\" 7 }} {{ printf \"%s\" 1.5 }}", "1234567.00 7 %!s(float64=1.5)"),
        ("{{ if gt $value 1000.0 }}big{{ else }}small{{ end }}", "big"),
        ("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}", "__name__=up;instance=h1:9100;job=node;"),
        ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", "2"),
        ("{{ \"host:9100\" | stripPort }} {{ \"[::1]:80\" | stripPort }} {{ \"db.example.com:5432\" | stripDomain }}", "host ::1 db:5432"),
        ("{{ reReplaceAll \"(a+)(b)\" \"${2}x\" \"aaab\" }} {{ match \"^v[0-9]+$\" \"v42\" }}", "bx true"),
        ("{{ \"hello wORLD\" | title }} {{ toUpper \"a\" }}", "Hello WORLD A"),
        ("{{ graphLink \"up == 0\" }}", "/graph?g0.expr=up+%3D%3D+0&g0.tab=0"),
        ("{{ $value | humanize | printf \"%s!\" }}", "1.235M!"),
        ("{{ len $labels }} {{ index $labels \"job\" }}", "3 node"),
        ("{{ with $labels.job }}[{{ . }}]{{ end }}", "[node]"),
    ])
    func renders(_ source: String, _ expected: String) throws {
        let template = try AlertTemplate.parse(source, ruleName: "Test")
        let (text, error) = template.expand(Self.data, time: 0, querier: nil)
        #expect(error == nil)
        #expect(text == expected)
    }

    /// A failing template shows its error in place of the text, as Prometheus does.
    @Test(arguments: ["{{ \"x\" | humanize }}", "{{ gt $value 1 }}", "{{ query \"up\" }}", "{{ .Nope }}"])
    func failsVisibly(_ source: String) throws {
        let template = try AlertTemplate.parse(source, ruleName: "Test")
        let (text, error) = template.expand(Self.data, time: 0, querier: nil)
        #expect(error != nil)
        #expect(text.hasPrefix("<error expanding template: "))
    }

    @Test(arguments: ["{{ nosuch }}", "{{ if }}", "{{ range $labels }}", "{{ $x = 1 }}{{ end }}",
                      "{{ range $k = $labels }}{{ end }}", "{{ if $x = 1 }}{{ end }}"])
    func refused(_ source: String) {
        #expect(throws: (any Error).self) { try AlertTemplate.parse(source, ruleName: "Test") }
    }
}

/// The series notation of promtool's `input_series`.
@Suite struct SeriesNotationTests {
    @Test(arguments: [(String, [Double])]([
        ("1+1x3", [1.0, 2, 3, 4]),
        ("10-2x2 5", [10.0, 8, 6, 5]),
        ("-2+4x2", [-2.0, 2, 6]),
        ("7x2", [7.0, 7, 7]),
        ("1e3 Inf -Inf", [1000.0, .infinity, -.infinity]),
    ]))
    func expands(_ text: String, _ expected: [Double]) throws {
        let values = try SeriesNotation.values(text)
        #expect(values == expected.map { .float($0) })
    }

    @Test func gapsAndStaleMarkers() throws {
        let values = try SeriesNotation.values("1 _ _x2 stale")
        #expect(values.count == 5)
        #expect(values[1] == .missing && values[3] == .missing)
        guard case let .float(stale) = values[4] else { Issue.record("no stale marker"); return }
        #expect(StaleMarker.isStale(stale))
    }

    @Test func histograms() throws {
        let values = try SeriesNotation.values("{{sum:3 count:2 buckets:[2]}}+{{sum:1 count:1 buckets:[1]}}x2")
        #expect(values.count == 3)
        guard case let .histogram(last) = values[2] else { Issue.record("not a histogram"); return }
        #expect(last.count == 4 && last.sum == 5 && last.positive == [FloatHistogram.Bucket(0, 4)])
    }

    @Test(arguments: ["1+x3", "abc", "1x99999999999", "{{sum:1", "{{nope:1}}", "x3", "+x2"])
    func refused(_ text: String) {
        #expect(throws: SeriesNotation.Invalid.self) { try SeriesNotation.values(text) }
    }
}
