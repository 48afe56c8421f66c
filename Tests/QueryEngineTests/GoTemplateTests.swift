import QueryEngine
import Testing

/// `line_format`/`label_format` templates on one line with labels `app=web, status=503, path=/api/v1/users,
/// took=1.5`, line `GET /api 503` at 2024-01-02T03:04:05.678Z.
@Suite struct GoTemplateTests {
    static let context = GoTemplate.Context(
        labels: ["app": "web", "status": "503", "path": "/api/v1/users", "took": "1.5", "empty": ""],
        line: "GET /api 503", timestamp: 1_704_164_645_678_000_000)

    @Test(arguments: [
        ("{{.app}} {{.status}}", "web 503"),
        ("{{ .missing }}|", "|"),
        ("{{ .app | upper }}", "WEB"),
        ("{{ ToUpper .app }}-{{ lower \"ABC\" }}", "WEB-abc"),
        ("{{ .path | trimPrefix \"/api\" }}", "/v1/users"),
        ("{{ .path | replace \"/\" \"_\" }}", "_api_v1_users"),
        ("{{ substr 1 4 .path }}", "api"),
        ("{{ trunc 3 .app }}", "web"),
        ("{{ printf \"%s=%5s|%-4s|\" \"k\" .app .status }}", "k=  web|503 |"),
        ("{{ printf \"%.2f %d\" (float64 .took) (int .status) }}", "1.50 503"),
        ("{{ if eq .status \"503\" }}down{{ else }}up{{ end }}", "down"),
        ("{{ if gt (int .status) 499 }}5xx{{ else if gt (int .status) 399 }}4xx{{ else }}ok{{ end }}", "5xx"),
        ("{{ if and .app (not .empty) }}yes{{ end }}", "yes"),
        ("{{ .empty | default \"none\" }}", "none"),
        ("{{ __line__ | trimSuffix \" 503\" }}", "GET /api"),
        ("{{ __timestamp__ | date \"2006-01-02T15:04:05.000Z07:00\" }}", "2024-01-02T03:04:05.678Z"),
        ("{{ __timestamp__ | unixEpoch }}", "1704164645"),
        ("{{ regexReplaceAll \"v(\\\\d)\" .path \"version-${1}\" }}", "/api/version-1/users"),
        ("{{ add 1 2 3 }} {{ sub 10 4 }} {{ div 7 2 }} {{ mulf 1.5 2 }}", "6 6 3 3"),
        ("{{ .app | len }}", "3"),
        ("{{ contains \"api\" .path }} {{ hasPrefix \"/x\" .path }}", "true false"),
        ("a\n  {{- .app -}}  \nb", "awebb"),
        ("{{/* a comment */}}x", "x"),
        ("{{ with .app }}[{{ . }}]{{ end }}{{ with .empty }}never{{ else }}-{{ end }}", "[web]-"),
        ("{{ alignRight 5 .app }}|{{ alignLeft 5 .app }}|", "  web|web  |"),
        ("{{ \"a\\tb\" }}{{ `raw\\n` }}", "a\tbraw\\n"),
        ("{{ b64enc .app }} {{ \"d2Vi\" | b64dec }}", "d2Vi web"),
        ("{{ toDate \"2006-01-02\" \"2024-01-02\" | unixEpoch }}", "1704153600"),
    ])
    func render(_ source: String, _ expected: String) throws {
        #expect(try GoTemplate(source).render(Self.context) == expected)
    }

    @Test(arguments: ["{{ .app ", "{{ nosuchfunc .app }}", "{{ if .app }}x", "{{ end }}", "{{ define \"x\" }}{{ end }}", "{{ \"open }}"])
    func refused(_ source: String) {
        #expect(throws: GoTemplate.Invalid.self) { try GoTemplate(source) }
    }
}
