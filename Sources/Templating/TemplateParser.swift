/// Reads template source into nodes.
struct TemplateParser {
    typealias Node = Template.Node
    let source: [Character]
    let name: String
    let functions: Set<String>
    var index = 0
    /// `if`/`with`/`range` blocks open around the position; rendering recurses over them.
    var depth = 0
    static let maxDepth = 100

    init(_ source: String, name: String, functions: Set<String>) {
        self.source = Array(source)
        self.name = name
        self.functions = functions
    }

    func fail(_ message: String) -> TemplateError {
        TemplateError("template: \(name): \(message)")
    }

    /// The whole template; `end`, `else` at the top level are errors.
    mutating func parseAll() throws(TemplateError) -> [Node] {
        let (nodes, stop) = try parseList()
        if let stop { throw fail("unexpected {{\(stop)}}") }
        return nodes
    }

    /// Nodes up to an `{{end}}`/`{{else …}}` (returned as the stop word with its rest) or the end.
    private mutating func parseList() throws(TemplateError) -> ([Node], String?) {
        guard depth < Self.maxDepth else { throw fail("blocks nested deeper than \(Self.maxDepth) levels") }
        depth += 1
        defer { depth -= 1 }
        var nodes: [Node] = []
        var text = ""
        while index < source.count {
            if source[index] == "{" && index + 1 < source.count && source[index + 1] == "{" {
                index += 2
                var trimLeft = false
                if index + 1 < source.count && source[index] == "-" && source[index + 1].isWhitespace {
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
                case "if", "with", "range":
                    let conditionText = String(trimmed.dropFirst(word.count))
                    nodes.append(try control(String(word), conditionText))
                case "define", "template", "block", "break", "continue":
                    throw fail("{{\(word)}} is not supported")
                default:
                    nodes.append(.action(try pipeline(trimmed)))
                }
            } else {
                text.append(source[index])
                index += 1
            }
        }
        if !text.isEmpty { nodes.append(.text(text)) }
        return (nodes, nil)
    }

    private func pipeline(_ text: String) throws(TemplateError) -> Template.Pipeline {
        var parser = PipelineParser(text, functions: functions, fail: fail)
        return try parser.parse()
    }

    private mutating func control(_ word: String, _ conditionText: String) throws(TemplateError) -> Node {
        var branches: [(Template.Pipeline, [Node])] = []
        var condition = try pipeline(conditionText)
        if condition.assigns { throw fail("cannot assign in \(word): declare with :=") }
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
            guard word != "range", rest.hasPrefix("if ") || rest.hasPrefix("with ") else {
                throw fail("unexpected \"\(rest)\" after else")
            }
            condition = try pipeline(String(rest.drop { !$0.isWhitespace }))
        }
        return make(word, branches, [])
    }

    private func make(_ word: String, _ branches: [(Template.Pipeline, [Node])], _ otherwise: [Node]) -> Node {
        switch word {
        case "range":
            return .range(branches[0].0, branches[0].1, otherwise: otherwise)
        case "with":
            // `with … else with …` chains nest.
            var tail = otherwise
            for (condition, body) in branches.dropFirst().reversed() { tail = [.with(condition, body, otherwise: tail)] }
            return .with(branches[0].0, branches[0].1, otherwise: tail)
        default:
            return .conditional(branches: branches, otherwise: otherwise)
        }
    }

    /// The text of an action up to `}}`, honouring strings; whether it ended in ` -}}`.
    private mutating func actionBody() throws(TemplateError) -> (String, Bool) {
        var body = ""
        var quote: Character?
        while index < source.count {
            let character = source[index]
            if let open = quote {
                body.append(character)
                index += 1
                if character == "\\" && open != "`" && index < source.count {
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
                if body.hasSuffix(" -") || body.hasSuffix("\t-") || body.hasSuffix("\n-") {
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

/// Parses the inside of one action: `$x := a | f "x" (g .b) | h`.
struct PipelineParser {
    let text: [Character]
    let functions: Set<String>
    let fail: (String) -> TemplateError
    var index = 0
    var depth = 0

    init(_ text: String, functions: Set<String>, fail: @escaping (String) -> TemplateError) {
        self.text = Array(text)
        self.functions = functions
        self.fail = fail
    }

    mutating func parse() throws(TemplateError) -> Template.Pipeline {
        let (variables, assigns) = declarations()
        var pipeline = try pipeline()
        pipeline.variables = variables
        pipeline.assigns = assigns
        skipSpace()
        guard index == text.count else { throw fail("unexpected \"\(String(text[index...]))\" in action") }
        return pipeline
    }

    /// `$x :=`, `$i, $v :=` or `$x =` at the start; nothing (and the position unchanged) otherwise.
    private mutating func declarations() -> ([String], Bool) {
        let start = index
        var names: [String] = []
        while true {
            skipSpace()
            guard index < text.count, text[index] == "$" else { break }
            let name = variableName()
            names.append(name)
            skipSpace()
            if index < text.count, text[index] == ",", names.count == 1 {
                index += 1
                continue
            }
            break
        }
        skipSpace()
        if !names.isEmpty, index + 1 < text.count, text[index] == ":", text[index + 1] == "=" {
            index += 2
            return (names, false)
        }
        if names.count == 1, index < text.count, text[index] == "=", index + 1 >= text.count || text[index + 1] != "=" {
            index += 1
            return (names, true)
        }
        index = start
        return ([], false)
    }

    private mutating func variableName() -> String {
        var name = "$"
        index += 1
        while index < text.count && (text[index].isLetter || text[index].isNumber || text[index] == "_") {
            name.append(text[index])
            index += 1
        }
        return name
    }

    private mutating func skipSpace() {
        while index < text.count && text[index].isWhitespace { index += 1 }
    }

    private mutating func pipeline() throws(TemplateError) -> Template.Pipeline {
        guard depth < TemplateParser.maxDepth else { throw fail("parentheses nested deeper than \(TemplateParser.maxDepth) levels") }
        depth += 1
        defer { depth -= 1 }
        var commands: [Template.Command] = []
        while true {
            commands.append(try command())
            skipSpace()
            guard index < text.count, text[index] == "|" else { break }
            index += 1
        }
        return Template.Pipeline(commands: commands)
    }

    private mutating func command() throws(TemplateError) -> Template.Command {
        var operands: [Template.Operand] = []
        while true {
            skipSpace()
            guard index < text.count, text[index] != "|", text[index] != ")" else { break }
            operands.append(try operand())
        }
        guard let first = operands.first else { throw fail("missing value for command") }
        if case let .function(name) = first, operands.count > 1 { return .call(name, Array(operands.dropFirst())) }
        guard operands.count == 1 else { throw fail("can't give argument to non-function \(first)") }
        return .operand(first)
    }

    /// `.a.b` after a variable or at the start of a field chain.
    private mutating func fieldPath() -> [String] {
        var path: [String] = []
        while index < text.count, text[index] == "." {
            index += 1
            var name = ""
            while index < text.count && (text[index].isLetter || text[index].isNumber || text[index] == "_") {
                name.append(text[index])
                index += 1
            }
            path.append(name)
        }
        return path
    }

    private mutating func operand() throws(TemplateError) -> Template.Operand {
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
        case "$":
            let name = variableName()
            return .variable(name, fieldPath())
        case ".":
            if index + 1 >= text.count || !(text[index + 1].isLetter || text[index + 1] == "_") {
                index += 1
                return .dot
            }
            return .field(fieldPath())
        default:
            let start = index
            while index < text.count && !text[index].isWhitespace && text[index] != "|" && text[index] != ")" && text[index] != "(" {
                index += 1
            }
            let word = String(text[start..<index])
            if word == "true" || word == "false" { return .literal(.bool(word == "true")) }
            if word == "nil" { return .literal(.none) }
            if let number = Int64(word) { return .literal(.int(number)) }
            if word.hasPrefix("0x") || word.hasPrefix("0X"), let number = Int64(word.dropFirst(2), radix: 16) { return .literal(.int(number)) }
            if let number = Double(word), word.first.map({ $0.isNumber || $0 == "-" || $0 == "+" || $0 == "." }) == true {
                return .literal(.float(number))
            }
            guard let first = word.first, first.isLetter || first == "_" else { throw fail("unexpected \"\(word)\" in operand") }
            guard functions.contains(word) else { throw fail("function \"\(word)\" not defined") }
            return .function(word)
        }
    }

    /// A Go double-quoted string with its escapes.
    private mutating func quoted() throws(TemplateError) -> String {
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
