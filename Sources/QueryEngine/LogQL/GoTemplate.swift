/// Go's `text/template` as LogQL's `line_format` and `label_format` use it: text with `{{ }}`
/// actions over a line's labels (`.name`), pipelines (`x | f a`), parenthesised calls, string,
/// number and boolean literals, `if`/`else if`/`else`/`end`, `with`, comments and `{{-`/`-}}` trim
/// markers, with Loki's template functions (`TemplateFunctions`). Parsed once per query;
/// immutable and thread-safe.
public struct GoTemplate: Sendable {
    indirect enum Node: Sendable {
        case text(String)
        case action(Pipeline)
        case conditional(branches: [(Pipeline, [Node])], otherwise: [Node])
        case with(Pipeline, [Node], otherwise: [Node])
    }

    struct Pipeline: Sendable {
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
        case literal(TemplateValue)
        case function(String)
        case pipeline(Pipeline)
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    let nodes: [Node]
    /// The template as written.
    public let source: String

    public init(_ source: String) throws {
        self.source = source
        var parser = TemplateParser(source)
        nodes = try parser.parseAll()
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

    public func render(_ context: Context) throws -> String {
        var out = ""
        try render(nodes, context, dot: .map, into: &out)
        guard out.utf8.count <= TemplateFunctions.maxResultBytes else {
            throw Invalid(description: "template: output larger than \(TemplateFunctions.maxResultBytes) bytes")
        }
        return out
    }

    private func render(_ nodes: [Node], _ context: Context, dot: TemplateValue, into out: inout String) throws {
        for node in nodes {
            switch node {
            case let .text(text):
                out += text
            case let .action(pipeline):
                out += try evaluate(pipeline, context, dot: dot).text(labels: context.labels)
                // Each action is bounded; so is their sum, before it grows further.
                if out.utf8.count > TemplateFunctions.maxResultBytes {
                    throw Invalid(description: "template: output larger than \(TemplateFunctions.maxResultBytes) bytes")
                }
            case let .conditional(branches, otherwise):
                var taken = false
                for (condition, body) in branches where try evaluate(condition, context, dot: dot).isTrue {
                    try render(body, context, dot: dot, into: &out)
                    taken = true
                    break
                }
                if !taken { try render(otherwise, context, dot: dot, into: &out) }
            case let .with(pipeline, body, otherwise):
                let value = try evaluate(pipeline, context, dot: dot)
                try render(value.isTrue ? body : otherwise, context, dot: value.isTrue ? value : dot, into: &out)
            }
        }
    }

    func evaluate(_ pipeline: Pipeline, _ context: Context, dot: TemplateValue) throws -> TemplateValue {
        var previous: TemplateValue?
        for command in pipeline.commands {
            switch command {
            case let .call(name, operands):
                var arguments = try operands.map { try evaluate($0, context, dot: dot) }
                if let previous { arguments.append(previous) }
                previous = try TemplateFunctions.call(name, arguments, context)
            case let .operand(operand):
                if case let .function(name) = operand {
                    previous = try TemplateFunctions.call(name, previous.map { [$0] } ?? [], context)
                } else {
                    guard previous == nil else { throw Invalid(description: "can't give argument to non-function") }
                    previous = try evaluate(operand, context, dot: dot)
                }
            }
        }
        return previous ?? .none
    }

    private func evaluate(_ operand: Operand, _ context: Context, dot: TemplateValue) throws -> TemplateValue {
        switch operand {
        case let .field(path):
            // Labels are a flat map: `.a` is a label; deeper paths find nothing.
            guard path.count == 1 else { return .none }
            if case let .string(value) = dot, path.isEmpty { return .string(value) }
            return .string(context.labels[path[0]] ?? "")
        case .dot:
            return dot
        case let .literal(value):
            return value
        case let .function(name):
            return try TemplateFunctions.call(name, [], context)
        case let .pipeline(pipeline):
            return try evaluate(pipeline, context, dot: dot)
        }
    }
}

/// A value inside a template. Labels are strings; functions make numbers and booleans.
public enum TemplateValue: Sendable, Equatable {
    case string(String)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    /// `.` at the top: the label map.
    case map
    case none

    /// Go's truth: empty strings, zero numbers, false and nothing are false.
    var isTrue: Bool {
        switch self {
        case let .string(text): !text.isEmpty
        case let .int(value): value != 0
        case let .float(value): value != 0
        case let .bool(value): value
        case .map: true
        case .none: false
        }
    }

    func text(labels: [String: String]) -> String {
        switch self {
        case let .string(text): text
        case let .int(value): String(value)
        case let .float(value): goFloat(value)
        case let .bool(value): value ? "true" : "false"
        case .map: "map[" + labels.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " ") + "]"
        case .none: "<no value>"
        }
    }

    var string: String { text(labels: [:]) }
}

/// Reads template source into nodes.
struct TemplateParser {
    typealias Node = GoTemplate.Node
    let source: [Character]
    var index = 0
    /// `if`/`with` blocks open around the position; rendering recurses over them.
    var depth = 0
    static let maxDepth = 100

    init(_ source: String) {
        self.source = Array(source)
    }

    func fail(_ message: String) -> GoTemplate.Invalid {
        GoTemplate.Invalid(description: "template: \(message)")
    }

    /// The whole template; `end`, `else` at the top level are errors.
    mutating func parseAll() throws -> [Node] {
        let (nodes, stop) = try parseList()
        if let stop { throw fail("unexpected {{\(stop)}}") }
        return nodes
    }

    /// Nodes up to an `{{end}}`/`{{else …}}` (returned as the stop word with its rest) or the end.
    private mutating func parseList() throws -> ([Node], String?) {
        guard depth < Self.maxDepth else { throw fail("blocks nested deeper than \(Self.maxDepth) levels") }
        depth += 1
        defer { depth -= 1 }
        var nodes: [Node] = []
        var text = ""
        while index < source.count {
            if source[index] == "{" && index + 1 < source.count && source[index + 1] == "{" {
                index += 2
                var trimLeft = false
                if index + 1 < source.count && source[index] == "-" && source[index + 1] == " " {
                    trimLeft = true
                    index += 1
                }
                if trimLeft { while let last = text.last, last.isWhitespace { text.removeLast() } }
                if !text.isEmpty { nodes.append(.text(text)) }
                text = ""
                let (body, trimRight) = try actionBody()
                if trimRight { while index < source.count && source[index].isWhitespace { index += 1 } }
                let trimmed = body.trimmingSpaces
                if trimmed.hasPrefix("/*") {
                    guard trimmed.hasSuffix("*/") else { throw fail("unclosed comment") }
                    continue
                }
                let word = trimmed.prefix { !$0.isWhitespace && $0 != "(" }
                switch word {
                case "end":
                    return (nodes, "end")
                case "else":
                    return (nodes, trimmed)
                case "if", "with":
                    let conditionText = String(trimmed.dropFirst(word.count))
                    nodes.append(try control(String(word), conditionText))
                case "range", "define", "template", "block":
                    throw fail("{{\(word)}} is not supported in LogQL templates")
                default:
                    nodes.append(.action(try PipelineParser.parse(trimmed, fail: fail)))
                }
            } else {
                text.append(source[index])
                index += 1
            }
        }
        if !text.isEmpty { nodes.append(.text(text)) }
        return (nodes, nil)
    }

    private mutating func control(_ word: String, _ conditionText: String) throws -> Node {
        var branches: [(GoTemplate.Pipeline, [Node])] = []
        var condition = try PipelineParser.parse(conditionText, fail: fail)
        while true {
            let (body, stop) = try parseList()
            guard let stop else { throw fail("unexpected EOF: missing {{end}}") }
            branches.append((condition, body))
            if stop == "end" { break }
            // `else` or `else if …`
            let rest = stop.dropFirst(4).trimmingSpaces
            if rest.isEmpty {
                let (otherwise, final) = try parseList()
                guard final == "end" else { throw fail("expected {{end}} after {{else}}") }
                return make(word, branches, otherwise)
            }
            guard rest.hasPrefix("if ") || rest.hasPrefix("with ") else { throw fail("unexpected \"\(rest)\" after else") }
            condition = try PipelineParser.parse(String(rest.drop { !$0.isWhitespace }), fail: fail)
        }
        return make(word, branches, [])
    }

    private func make(_ word: String, _ branches: [(GoTemplate.Pipeline, [Node])], _ otherwise: [Node]) -> Node {
        if word == "with" {
            // `with … else with …` chains nest.
            var tail = otherwise
            for (condition, body) in branches.dropFirst().reversed() { tail = [.with(condition, body, otherwise: tail)] }
            return .with(branches[0].0, branches[0].1, otherwise: tail)
        }
        return .conditional(branches: branches, otherwise: otherwise)
    }

    /// The text of an action up to `}}`, honouring strings; whether it ended in ` -}}`.
    private mutating func actionBody() throws -> (String, Bool) {
        var body = ""
        var quote: Character?
        while index < source.count {
            let character = source[index]
            if let open = quote {
                body.append(character)
                index += 1
                if character == "\\" && open == "\"" && index < source.count {
                    body.append(source[index])
                    index += 1
                } else if character == open {
                    quote = nil
                }
                continue
            }
            if character == "\"" || character == "`" || character == "'" {
                quote = character
            } else if character == "}" && index + 1 < source.count && source[index + 1] == "}" {
                index += 2
                if body.hasSuffix(" -") {
                    body.removeLast(2)
                    return (body, true)
                }
                return (body, false)
            }
            body.append(character)
            index += 1
        }
        throw fail("unclosed action")
    }
}

/// Parses the inside of one action: `a | f "x" (g .b) | h`.
struct PipelineParser {
    let text: [Character]
    let fail: (String) -> GoTemplate.Invalid
    var index = 0
    var depth = 0

    init(_ text: String, fail: @escaping (String) -> GoTemplate.Invalid) {
        self.text = Array(text)
        self.fail = fail
    }

    static func parse(_ text: String, fail: @escaping (String) -> GoTemplate.Invalid) throws -> GoTemplate.Pipeline {
        var parser = PipelineParser(text, fail: fail)
        return try parser.parse()
    }

    mutating func parse() throws -> GoTemplate.Pipeline {
        let pipeline = try pipeline()
        skipSpace()
        guard index == text.count else { throw fail("unexpected \"\(String(text[index...]))\" in action") }
        return pipeline
    }

    private mutating func skipSpace() {
        while index < text.count && text[index].isWhitespace { index += 1 }
    }

    private mutating func pipeline() throws -> GoTemplate.Pipeline {
        guard depth < TemplateParser.maxDepth else { throw fail("parentheses nested deeper than \(TemplateParser.maxDepth) levels") }
        depth += 1
        defer { depth -= 1 }
        var commands: [GoTemplate.Command] = []
        while true {
            commands.append(try command())
            skipSpace()
            guard index < text.count, text[index] == "|" else { break }
            index += 1
        }
        return GoTemplate.Pipeline(commands: commands)
    }

    private mutating func command() throws -> GoTemplate.Command {
        var operands: [GoTemplate.Operand] = []
        while true {
            skipSpace()
            guard index < text.count, text[index] != "|", text[index] != ")" else { break }
            operands.append(try operand())
        }
        guard let first = operands.first else { throw fail("missing value for command") }
        if case let .function(name) = first, operands.count > 1 { return .call(name, Array(operands.dropFirst())) }
        guard operands.count == 1 else { throw fail("can't give argument to non-function") }
        return .operand(first)
    }

    private mutating func operand() throws -> GoTemplate.Operand {
        let character = text[index]
        switch character {
        case "(":
            index += 1
            let inner = try pipeline()
            skipSpace()
            guard index < text.count, text[index] == ")" else { throw fail("unclosed left paren") }
            index += 1
            return .pipeline(inner)
        case "\"":
            return .literal(.string(try quoted()))
        case "`":
            index += 1
            let start = index
            while index < text.count && text[index] != "`" { index += 1 }
            guard index < text.count else { throw fail("unterminated raw quoted string") }
            defer { index += 1 }
            return .literal(.string(String(text[start..<index])))
        case "'":
            guard index + 2 < text.count, text[index + 2] == "'", let ascii = text[index + 1].asciiValue else {
                throw fail("malformed character constant")
            }
            index += 3
            return .literal(.int(Int64(ascii)))
        case ".":
            index += 1
            var path: [String] = []
            var name = ""
            while index < text.count && (text[index].isLetter || text[index].isNumber || text[index] == "_" || text[index] == ".") {
                if text[index] == "." {
                    path.append(name)
                    name = ""
                } else {
                    name.append(text[index])
                }
                index += 1
            }
            if name.isEmpty && path.isEmpty { return .dot }
            path.append(name)
            return .field(path)
        default:
            let start = index
            while index < text.count && !text[index].isWhitespace && text[index] != "|" && text[index] != ")" && text[index] != "(" {
                index += 1
            }
            let word = String(text[start..<index])
            if word == "true" || word == "false" { return .literal(.bool(word == "true")) }
            if word == "nil" { return .literal(.none) }
            if let number = Int64(word) { return .literal(.int(number)) }
            if let number = Double(word), word.first.map({ $0.isNumber || $0 == "-" || $0 == "+" || $0 == "." }) == true {
                return .literal(.float(number))
            }
            guard let first = word.first, first.isLetter || first == "_" else { throw fail("unexpected \"\(word)\" in operand") }
            guard TemplateFunctions.known(word) else { throw fail("function \"\(word)\" not defined") }
            return .function(word)
        }
    }

    /// A Go double-quoted string with its escapes.
    private mutating func quoted() throws -> String {
        index += 1
        var out = ""
        while index < text.count {
            let character = text[index]
            index += 1
            switch character {
            case "\"":
                return out
            case "\\":
                guard index < text.count else { break }
                let escape = text[index]
                index += 1
                switch escape {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "\\", "\"", "'": out.append(escape)
                default: throw fail("invalid escape \\\(escape) in string")
                }
            default:
                out.append(character)
            }
        }
        throw fail("unterminated quoted string")
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
