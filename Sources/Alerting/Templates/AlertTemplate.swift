import ObsCore
import Templating

/// Expands an alerting rule's label and annotation templates the way Prometheus does: `.` holds
/// `Labels`, `ExternalLabels`, `ExternalURL` and `Value`, and `$labels`, `$externalLabels`,
/// `$externalURL` and `$value` name them. A template that fails to render expands to
/// `<error expanding template: …>`, so the failure shows where the text would have been.
public struct AlertTemplate: Sendable {
    let template: Template

    /// Parses `text` with Prometheus's template functions; the name errors mention is `__alert_<rule>`.
    public static func parse(_ text: String, ruleName: String) throws(TemplateError) -> AlertTemplate {
        AlertTemplate(template: try Template(text, name: "__alert_" + ruleName, functions: PrometheusTemplateFunctions.names))
    }

    /// What one alert's templates see.
    public struct Data: Sendable {
        public var labels: Labels
        public var externalLabels: Labels
        public var externalURL: String
        public var value: Double

        public init(labels: Labels, externalLabels: Labels, externalURL: String, value: Double) {
            self.labels = labels
            self.externalLabels = externalLabels
            self.externalURL = externalURL
            self.value = value
        }
    }

    /// The expansion, or the error text in its place; the error itself is returned too, for logging.
    public func expand(_ data: Data, time: Int64, querier: (any RuleQuerier)?) -> (text: String, error: TemplateError?) {
        let labels = TemplateValue.map(Self.dictionary(data.labels))
        let external = TemplateValue.map(Self.dictionary(data.externalLabels))
        let dot = TemplateValue.record([
            .init("Labels", labels), .init("ExternalLabels", external), .init("ExternalURL", .string(data.externalURL)),
            .init("Value", .float(data.value)),
        ])
        let variables: [(String, TemplateValue)] = [
            ("$labels", labels), ("$externalLabels", external), ("$externalURL", .string(data.externalURL)),
            ("$value", .float(data.value)),
        ]
        let functions = PrometheusTemplateFunctions(querier: querier, time: time, externalURL: data.externalURL)
        do {
            return (try template.render(dot: dot, variables: variables, functions: functions), nil)
        } catch {
            return ("<error expanding template: \(error.description)>", error)
        }
    }

    static func dictionary(_ labels: Labels) -> [String: String] {
        var out: [String: String] = [:]
        for label in labels { out[label.name] = label.value }
        return out
    }
}
