import ObsCore
@testable import Scrape
import Testing

/// Relabeling as a table: input labels, steps, expected labels (nil: dropped). Covers every action.
@Suite struct RelabelTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var input: [String: String]
        var steps: [RelabelConfig]
        var output: [String: String]?
        var testDescription: String { name }
    }

    static func regex(_ source: String) -> RelabelRegex { try! RelabelRegex(source) }

    static let cases: [Case] = [
        Case(name: "replace with capture groups",
             input: ["a": "foo", "b": "bar"],
             steps: [RelabelConfig(sourceLabels: ["a", "b"], targetLabel: "c", regex: regex("f(.*);(.*)r"), replacement: "ch${1}-${2}ch")],
             output: ["a": "foo", "b": "bar", "c": "choo-bach"]),
        Case(name: "replace without a match changes nothing",
             input: ["a": "foo"],
             steps: [RelabelConfig(sourceLabels: ["a"], targetLabel: "b", regex: regex("bar"))],
             output: ["a": "foo"]),
        Case(name: "replace is anchored",
             input: ["a": "foo"],
             steps: [RelabelConfig(sourceLabels: ["a"], targetLabel: "b", regex: regex("o"), replacement: "x")],
             output: ["a": "foo"]),
        Case(name: "replace to an empty value removes the label",
             input: ["a": "foo", "b": "bar"],
             steps: [RelabelConfig(sourceLabels: ["missing"], targetLabel: "b")],
             output: ["a": "foo"]),
        Case(name: "replace with a templated target label",
             input: ["__meta_port": "9100", "name": "job"],
             steps: [RelabelConfig(sourceLabels: ["name", "__meta_port"], targetLabel: "${1}_port", regex: regex("(.*);(.*)"), replacement: "$2")],
             output: ["__meta_port": "9100", "name": "job", "job_port": "9100"]),
        Case(name: "the usual __address__ rewrite from a port annotation",
             input: ["__address__": "10.0.0.1:8080", "__meta_kubernetes_pod_annotation_prometheus_io_port": "9102"],
             steps: [RelabelConfig(sourceLabels: ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
                                   targetLabel: "__address__", regex: regex("([^:]+)(?::\\d+)?;(\\d+)"), replacement: "$1:$2")],
             output: ["__address__": "10.0.0.1:9102", "__meta_kubernetes_pod_annotation_prometheus_io_port": "9102"]),
        Case(name: "keep on a match",
             input: ["a": "foo"],
             steps: [RelabelConfig(action: .keep, sourceLabels: ["a"], regex: regex("f.*"))],
             output: ["a": "foo"]),
        Case(name: "keep drops without a match",
             input: ["a": "foo"],
             steps: [RelabelConfig(action: .keep, sourceLabels: ["a"], regex: regex("o"))],
             output: nil),
        Case(name: "keep of an absent label matches the empty string",
             input: ["a": "foo"],
             steps: [RelabelConfig(action: .keep, sourceLabels: ["b"], regex: regex(""))],
             output: ["a": "foo"]),
        Case(name: "drop on a match",
             input: ["a": "foo", "b": "bar"],
             steps: [RelabelConfig(action: .drop, sourceLabels: ["a", "b"], regex: regex("foo;bar"))],
             output: nil),
        Case(name: "drop keeps without a match",
             input: ["a": "foo"],
             steps: [RelabelConfig(action: .drop, sourceLabels: ["a"], regex: regex("bar"))],
             output: ["a": "foo"]),
        Case(name: "keepequal keeps equal values",
             input: ["a": "foo", "b": "foo"],
             steps: [RelabelConfig(action: .keepequal, sourceLabels: ["a"], targetLabel: "b")],
             output: ["a": "foo", "b": "foo"]),
        Case(name: "keepequal drops different values",
             input: ["a": "foo", "b": "bar"],
             steps: [RelabelConfig(action: .keepequal, sourceLabels: ["a"], targetLabel: "b")],
             output: nil),
        Case(name: "dropequal drops equal values",
             input: ["a": "foo", "b": "foo"],
             steps: [RelabelConfig(action: .dropequal, sourceLabels: ["a"], targetLabel: "b")],
             output: nil),
        Case(name: "dropequal keeps different values",
             input: ["a": "foo", "b": "bar"],
             steps: [RelabelConfig(action: .dropequal, sourceLabels: ["a"], targetLabel: "b")],
             output: ["a": "foo", "b": "bar"]),
        Case(name: "hashmod of MD5 as Prometheus computes it",
             input: ["a": "foo", "b": "bar", "c": "baz"],
             steps: [RelabelConfig(action: .hashmod, sourceLabels: ["c"], targetLabel: "d", modulus: 1000)],
             output: ["a": "foo", "b": "bar", "c": "baz", "d": "976"]),
        Case(name: "labelmap copies matching names",
             input: ["__meta_kubernetes_pod_label_app": "web", "__meta_kubernetes_pod_label_tier": "front", "job": "x"],
             steps: [RelabelConfig(action: .labelmap, regex: regex("__meta_kubernetes_pod_label_(.+)"))],
             output: ["__meta_kubernetes_pod_label_app": "web", "__meta_kubernetes_pod_label_tier": "front", "job": "x",
                      "app": "web", "tier": "front"]),
        Case(name: "labeldrop removes matching names",
             input: ["a": "1", "b1": "2", "b2": "3"],
             steps: [RelabelConfig(action: .labeldrop, regex: regex("b.*"))],
             output: ["a": "1"]),
        Case(name: "labelkeep removes the others",
             input: ["a": "1", "b1": "2", "b2": "3"],
             steps: [RelabelConfig(action: .labelkeep, regex: regex("b.*"))],
             output: ["b1": "2", "b2": "3"]),
        Case(name: "lowercase",
             input: ["a": "FoO", "b": "BaR"],
             steps: [RelabelConfig(action: .lowercase, sourceLabels: ["a", "b"], targetLabel: "c")],
             output: ["a": "FoO", "b": "BaR", "c": "foo;bar"]),
        Case(name: "uppercase",
             input: ["a": "foo"],
             steps: [RelabelConfig(action: .uppercase, sourceLabels: ["a"], targetLabel: "a")],
             output: ["a": "FOO"]),
        Case(name: "steps run in order and see earlier results",
             input: ["__address__": "host:9100"],
             steps: [
                RelabelConfig(sourceLabels: ["__address__"], targetLabel: "instance"),
                RelabelConfig(sourceLabels: ["instance"], targetLabel: "host", regex: regex("(.*):.*")),
                RelabelConfig(action: .keep, sourceLabels: ["host"], regex: regex("host")),
             ],
             output: ["__address__": "host:9100", "instance": "host:9100", "host": "host"]),
    ]

    @Test(arguments: cases) func relabel(_ c: Case) {
        let result = Relabeler.apply(c.steps, to: Labels(c.input))
        #expect(result == c.output.map { Labels($0) })
    }

    @Test func everyActionIsCovered() {
        let covered = Set(Self.cases.flatMap { $0.steps.map(\.action) })
        #expect(covered == Set(RelabelConfig.Action.allCases))
    }

    @Test func invalidStepsAreNamed() throws {
        #expect(RelabelConfig(action: .hashmod, targetLabel: "x").problem == "relabel configuration for hashmod requires non-zero modulus")
        #expect(RelabelConfig(action: .replace).problem == "relabel configuration for replace action requires 'target_label' value")
        #expect(RelabelConfig(action: .labeldrop, sourceLabels: ["a"]).problem == "labeldrop action requires only 'regex', and no other fields")
        #expect(throws: (any Error).self) { try RelabelRegex("(") }
    }
}
