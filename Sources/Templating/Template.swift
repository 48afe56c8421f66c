/// The functions a template may call beyond Go's built-ins: Loki's for `line_format`, Prometheus's
/// for rule annotations, Alertmanager's for notifications. A table may carry per-render context
/// (the line being formatted, the query engine).
public protocol TemplateFunctionTable {
    /// Calls `name`, which is one of the names the template was parsed with.
    func call(_ name: String, _ args: [TemplateValue]) throws(TemplateError) -> TemplateValue
}

/// Go's `text/template`: text with `{{ }}` actions, pipelines (`x | f a`), parenthesised calls,
/// literals, variables (`$x := …`, `$x = …`, `$labels.name`), fields (`.Labels.job`), `if`/`else
/// if`/`else`, `with`, `range` (over lists and maps, with `$i, $v :=`), comments and `{{-`/`-}}`
/// trim markers. Parsed once; immutable and thread-safe. Output is bounded by `maxOutputBytes`.
public struct Template: Sendable {
    indirect enum Node: Sendable {
        case text(String)
        case action(Pipeline)
        case conditional(branches: [(Pipeline, [Node])], otherwise: [Node])
        case with(Pipeline, [Node], otherwise: [Node])
        case range(Pipeline, [Node], otherwise: [Node])
    }

    struct Pipeline: Sendable {
        /// Variables the pipeline declares (`$x :=`) or assigns (`$x =`).
        var variables: [String] = []
        var assigns = false
        var commands: [Command]
    }

    /// One command: a function with arguments, or a single operand.
    enum Command: Sendable {
        case call(String, [Operand])
        case operand(Operand)
    }

    indirect enum Operand: Sendable {
        case field([String])
        case dot
        case variable(String, [String])
        case literal(TemplateValue)
        case function(String)
        case pipeline(Pipeline)
    }

    /// The most bytes one render or one function result may produce: Loki's default `max_line_size`.
    public static let maxOutputBytes = 256 << 10

    let nodes: [Node]
    /// The template as written.
    public let source: String
    /// The name errors mention (`template: NAME: …`).
    public let name: String

    /// Parses `source`; `functions` are the names the caller's table defines besides Go's built-ins.
    public init(_ source: String, name: String, functions: Set<String>) throws(TemplateError) {
        self.source = source
        self.name = name
        var parser = TemplateParser(source, name: name, functions: functions.union(Builtins.names))
        nodes = try parser.parseAll()
    }

    /// Renders with `dot` as `.` and the given variables in scope (`$` is always `dot`).
    public func render(dot: TemplateValue, variables: [(String, TemplateValue)] = [],
                       functions: some TemplateFunctionTable) throws(TemplateError) -> String {
        var renderer = Renderer(name: name, functions: functions, variables: [("$", dot)] + variables)
        try renderer.render(nodes, dot: dot)
        return renderer.out
    }
}

/// One render: the output so far and the variables in scope.
struct Renderer<Functions: TemplateFunctionTable> {
    typealias Node = Template.Node
    let name: String
    let functions: Functions
    var variables: [(String, TemplateValue)]
    var out = ""

    init(name: String, functions: Functions, variables: [(String, TemplateValue)]) {
        self.name = name
        self.functions = functions
        self.variables = variables
    }

    func fail(_ message: String) -> TemplateError {
        TemplateError("template: \(name): executing \"\(name)\": \(message)")
    }

    mutating func render(_ nodes: [Node], dot: TemplateValue) throws(TemplateError) {
        // Variables declared in a block end with it.
        let scope = variables.count
        defer { variables.removeSubrange(scope...) }
        for node in nodes {
            switch node {
            case let .text(text):
                out += text
            case let .action(pipeline):
                let value = try evaluate(pipeline, dot: dot)
                if pipeline.variables.isEmpty { out += value.text }
            case let .conditional(branches, otherwise):
                let inner = variables.count
                var taken = false
                for (condition, body) in branches where try evaluate(condition, dot: dot).isTrue {
                    try render(body, dot: dot)
                    taken = true
                    break
                }
                if !taken { try render(otherwise, dot: dot) }
                variables.removeSubrange(inner...)
            case let .with(pipeline, body, otherwise):
                let inner = variables.count
                let value = try evaluate(pipeline, dot: dot)
                try render(value.isTrue ? body : otherwise, dot: value.isTrue ? value : dot)
                variables.removeSubrange(inner...)
            case let .range(pipeline, body, otherwise):
                try range(pipeline, body, otherwise, dot: dot)
            }
            // Each action is bounded; so is their sum, before it grows further.
            guard out.utf8.count <= Template.maxOutputBytes else {
                throw fail("output larger than \(Template.maxOutputBytes) bytes")
            }
        }
    }

    private mutating func range(_ pipeline: Template.Pipeline, _ body: [Node], _ otherwise: [Node],
                                dot: TemplateValue) throws(TemplateError) {
        let inner = variables.count
        defer { variables.removeSubrange(inner...) }
        var bare = pipeline
        bare.variables = []
        bare.assigns = false
        let collection = try evaluate(bare, dot: dot)
        let elements: [(TemplateValue, TemplateValue)]
        switch collection {
        case let .list(items): elements = items.enumerated().map { (.int(Int64($0.offset)), $0.element) }
        case let .map(entries): elements = entries.sorted { $0.key < $1.key }.map { (.string($0.key), .string($0.value)) }
        case .none: elements = []
        default: throw fail("range can't iterate over \(collection.text)")
        }
        if elements.isEmpty {
            try render(otherwise, dot: dot)
            return
        }
        for (key, element) in elements {
            switch pipeline.variables.count {
            case 1: variables.append((pipeline.variables[0], element))
            case 2:
                variables.append((pipeline.variables[0], key))
                variables.append((pipeline.variables[1], element))
            default: break
            }
            try render(body, dot: element)
            variables.removeSubrange(inner...)
        }
    }

    mutating func evaluate(_ pipeline: Template.Pipeline, dot: TemplateValue) throws(TemplateError) -> TemplateValue {
        var previous: TemplateValue?
        for command in pipeline.commands {
            switch command {
            case let .call(name, operands):
                previous = try call(name, operands, piped: previous, dot: dot)
            case let .operand(operand):
                if case let .function(name) = operand {
                    previous = try call(name, [], piped: previous, dot: dot)
                } else {
                    guard previous == nil else { throw fail("can't give argument to non-function") }
                    previous = try evaluate(operand, dot: dot)
                }
            }
        }
        let value = previous ?? .none
        if pipeline.assigns, let name = pipeline.variables.first {
            guard let index = variables.lastIndex(where: { $0.0 == name }) else {
                throw fail("undefined variable: \(name)")
            }
            variables[index].1 = value
        } else if let declared = pipeline.variables.first {
            variables.append((declared, value))
        }
        return value
    }

    private mutating func call(_ name: String, _ operands: [Template.Operand], piped: TemplateValue?,
                               dot: TemplateValue) throws(TemplateError) -> TemplateValue {
        // `and` and `or` stop at the first operand that decides, as Go's do.
        if name == "and" || name == "or" {
            var last = TemplateValue.none
            for operand in operands {
                last = try evaluate(operand, dot: dot)
                if last.isTrue != (name == "and") { return last }
            }
            if let piped { last = piped }
            return last
        }
        var arguments: [TemplateValue] = []
        for operand in operands { arguments.append(try evaluate(operand, dot: dot)) }
        if let piped { arguments.append(piped) }
        do throws(TemplateError) {
            let result: TemplateValue
            if Builtins.names.contains(name) {
                result = try Builtins.call(name, arguments)
            } else {
                result = try functions.call(name, arguments)
            }
            if case let .string(text) = result, text.utf8.count > Template.maxOutputBytes {
                throw TemplateError("result larger than \(Template.maxOutputBytes) bytes")
            }
            return result
        } catch {
            throw fail("error calling \(name): \(error.description)")
        }
    }

    private mutating func evaluate(_ operand: Template.Operand, dot: TemplateValue) throws(TemplateError) -> TemplateValue {
        switch operand {
        case let .field(path):
            var value = dot
            for name in path { value = try value.field(name) }
            return value
        case .dot:
            return dot
        case let .variable(name, path):
            guard var value = variables.last(where: { $0.0 == name })?.1 else { throw fail("undefined variable: \(name)") }
            for field in path { value = try value.field(field) }
            return value
        case let .literal(value):
            return value
        case let .function(name):
            return try call(name, [], piped: nil, dot: dot)
        case let .pipeline(pipeline):
            return try evaluate(pipeline, dot: dot)
        }
    }
}
