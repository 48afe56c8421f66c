import Templating

/// A `line_format` or `label_format` template: Go's `text/template` over a line's labels (`.name`)
/// with Loki's functions (`LokiTemplateFunctions`). Parsed once per query; immutable and thread-safe.
public struct GoTemplate: Sendable {
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    let template: Template
    /// The template as written.
    public var source: String { template.source }

    public init(_ source: String) throws(Invalid) {
        do {
            template = try Template(source, name: "line", functions: LokiTemplateFunctions.names)
        } catch {
            throw Invalid(description: error.description)
        }
    }

    /// What a template sees while rendering one line.
    public struct Context: Sendable {
        public var labels: [String: String]
        public var line: String
        /// Nanoseconds.
        public var timestamp: Int64

        public init(labels: [String: String], line: String, timestamp: Int64) {
            self.labels = labels
            self.line = line
            self.timestamp = timestamp
        }
    }

    public func render(_ context: Context) throws(Invalid) -> String {
        do {
            return try template.render(dot: .map(context.labels),
                                       functions: LokiTemplateFunctions(line: context.line, timestamp: context.timestamp))
        } catch {
            throw Invalid(description: error.description)
        }
    }
}
