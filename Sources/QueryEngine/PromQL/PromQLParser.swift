import ObsCore

/// Parses and type-checks PromQL. Precedence climbing over the lexer's tokens; errors name the line
/// and column and read like Prometheus's. Pure; thread-safe.
public enum PromQLParser {
    /// Deepest expression tree accepted; real queries stay far below it.
    public static let maximumDepth = 400

    public static func parse(_ text: String) throws(PromQLError) -> Expr {
        let bytes = Array(text.utf8)
        do throws(PromQLError) {
            var lexer = Lexer(text)
            var parser = Parser(tokens: try lexer.tokenize())
            if parser.current.kind == .end { throw PromQLError.parse(0, "no expression found in input") }
            let expr = try parser.expression(minPrecedence: 0)
            guard parser.current.kind == .end else {
                throw PromQLError.parse(parser.current.position, "unexpected \(parser.describe(parser.current))")
            }
            return expr
        } catch {
            guard case let .parse(offset, message) = error else { throw error }
            var line = 1, column = 1
            for byte in bytes.prefix(offset) {
                if byte == 0x0A { line += 1; column = 1 } else { column += 1 }
            }
            throw PromQLError.syntax("\(line):\(column): parse error: \(message)")
        }
    }
}

private let aggregators: [String: AggregateOperator] = {
    var all: [String: AggregateOperator] = [:]
    for op in AggregateOperator.allCases { all[op.rawValue] = op }
    return all
}()

private let keywordOperators: [String: BinaryOperator] = ["and": .and, "or": .or, "unless": .unless, "atan2": .atan2]

/// Words that cannot start a series selector.
private let reservedWords: Set<String> = ["bool", "by", "without", "on", "ignoring", "group_left", "group_right", "offset"]

private struct Parser {
    let tokens: [Token]
    var index = 0
    /// `info()`'s second argument is a set of label matchers that may all match the empty string.
    var allowEmptySelector = false
    /// Current recursion of the descent, bounded so that parsing itself cannot exhaust the stack.
    var nesting = 0
    /// Depth of the expression (and of the duration expression) built last. Evaluating, printing
    /// and even releasing a tree recurse over it, so no tree deeper than the limit is ever built.
    var lastDepth = 0
    var lastDurationDepth = 0

    mutating func made(_ expr: Expr, depth: Int) throws(PromQLError) -> Expr {
        guard depth <= PromQLParser.maximumDepth else {
            throw PromQLError.parse(current.position, "expression is nested more than \(PromQLParser.maximumDepth) levels deep")
        }
        lastDepth = depth
        return expr
    }

    mutating func made(_ duration: DurationExpr, depth: Int) throws(PromQLError) -> DurationExpr {
        guard depth <= PromQLParser.maximumDepth else {
            throw PromQLError.parse(current.position, "expression is nested more than \(PromQLParser.maximumDepth) levels deep")
        }
        lastDurationDepth = depth
        return duration
    }

    mutating func enter() throws(PromQLError) {
        nesting += 1
        if nesting > PromQLParser.maximumDepth {
            throw PromQLError.parse(current.position, "expression is nested more than \(PromQLParser.maximumDepth) levels deep")
        }
    }

    init(tokens: [Token]) { self.tokens = tokens }

    var current: Token { tokens[index] }
    var following: Token { tokens[min(index + 1, tokens.count - 1)] }

    mutating func advance() -> Token {
        let token = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    func isKeyword(_ word: String) -> Bool {
        current.kind == .identifier && current.text.lowercased() == word
    }

    func describe(_ token: Token) -> String {
        switch token.kind {
        case .end: "end of input"
        case .identifier: "identifier \"\(token.text)\""
        case .number: "number \"\(token.text)\""
        case .duration: "duration \"\(token.text)\""
        case .string: "string \"\(token.text)\""
        case .leftParen: "\"(\""
        case .rightParen: "\")\""
        case .leftBrace: "\"{\""
        case .rightBrace: "\"}\""
        case .leftBracket: "\"[\""
        case .rightBracket: "\"]\""
        case .comma: "\",\""
        case .colon: "\":\""
        default: "\"\(token.text)\""
        }
    }

    mutating func expect(_ kind: Token.Kind, _ context: String) throws(PromQLError) {
        guard current.kind == kind else {
            throw PromQLError.parse(current.position, "unexpected \(describe(current)) in \(context)")
        }
        _ = advance()
    }

    // MARK: Binary expressions

    func binaryOperator() -> BinaryOperator? {
        switch current.kind {
        case .add: .add
        case .sub: .sub
        case .mul: .mul
        case .div: .div
        case .mod: .mod
        case .pow: .pow
        case .equal: .equal
        case .notEqual: .notEqual
        case .less: .less
        case .greater: .greater
        case .lessEqual: .lessEqual
        case .greaterEqual: .greaterEqual
        case .trimUpper: .trimUpper
        case .trimLower: .trimLower
        case .identifier: keywordOperators[current.text.lowercased()]
        default: nil
        }
    }

    mutating func expression(minPrecedence: Int) throws(PromQLError) -> Expr {
        try enter()
        defer { nesting -= 1 }
        var lhs = try unary()
        var lhsDepth = lastDepth
        while let op = binaryOperator(), op.precedence >= minPrecedence {
            let opToken = advance()
            var returnBool = false
            var matching = VectorMatching()
            if isKeyword("bool") {
                _ = advance()
                returnBool = true
            }
            if isKeyword("on") || isKeyword("ignoring") {
                matching.on = isKeyword("on")
                matching.explicit = true
                _ = advance()
                matching.labels = try labelList("grouping opts")
                if isKeyword("group_left") || isKeyword("group_right") {
                    matching.cardinality = isKeyword("group_left") ? .manyToOne : .oneToMany
                    _ = advance()
                    if current.kind == .leftParen { matching.include = try labelList("grouping opts") }
                }
            }
            try fillModifiers(&matching)
            let rhs = try expression(minPrecedence: op.isRightAssociative ? op.precedence : op.precedence + 1)
            let binary = try makeBinary(op, lhs, rhs, returnBool: returnBool, matching: matching, at: opToken.position)
            lhs = try made(binary, depth: max(lhsDepth, lastDepth) + 1)
            lhsDepth = lastDepth
        }
        lastDepth = lhsDepth
        return lhs
    }

    mutating func fillModifiers(_ matching: inout VectorMatching) throws(PromQLError) {
        while current.kind == .identifier, following.kind == .leftParen {
            let word = current.text.lowercased()
            guard word == "fill" || word == "fill_left" || word == "fill_right" else { return }
            _ = advance()
            _ = advance()
            var sign = 1.0
            if current.kind == .sub || current.kind == .add {
                if advance().kind == .sub { sign = -1 }
            }
            guard current.kind == .number else {
                throw PromQLError.parse(current.position, "unexpected \(describe(current)) in fill modifier, expected number")
            }
            let value = sign * advance().number
            try expect(.rightParen, "fill modifier")
            if word != "fill_right" { matching.fillLeft = value }
            if word != "fill_left" { matching.fillRight = value }
        }
    }

    func makeBinary(_ op: BinaryOperator, _ lhs: Expr, _ rhs: Expr, returnBool: Bool, matching: VectorMatching,
                    at position: Int) throws(PromQLError) -> Expr {
        let lt = lhs.type, rt = rhs.type
        for side in [lt, rt] where side != .scalar && side != .vector {
            throw PromQLError.parse(position, "binary expression must contain only scalar and instant vector types")
        }
        if returnBool && !op.isComparison {
            throw PromQLError.parse(position, "bool modifier can only be used on comparison operators")
        }
        if op.isComparison && !returnBool && lt == .scalar && rt == .scalar {
            throw PromQLError.parse(position, "comparisons between scalars must use BOOL modifier")
        }
        if op.isSetOperator && (lt == .scalar || rt == .scalar) {
            throw PromQLError.parse(position, "set operator \"\(op.rawValue)\" not allowed in binary scalar expression")
        }
        let bothVectors = lt == .vector && rt == .vector
        if !bothVectors && (matching.explicit || matching.fillLeft != nil || matching.fillRight != nil) {
            throw PromQLError.parse(position, "vector matching only allowed between instant vectors")
        }
        if op.isSetOperator && matching.cardinality != .oneToOne {
            throw PromQLError.parse(position, "no grouping allowed for \"\(op.rawValue)\" operation")
        }
        if matching.on {
            for label in matching.include where matching.labels.contains(label) {
                throw PromQLError.parse(position, "label \"\(label)\" must not occur in ON and GROUP clause at once")
            }
        }
        var finalMatching: VectorMatching? = nil
        if bothVectors {
            var m = matching
            if op.isSetOperator { m.cardinality = .oneToOne }
            finalMatching = m
        }
        return .binary(Binary(op: op, lhs: lhs, rhs: rhs, returnBool: returnBool, matching: finalMatching))
    }

    // MARK: Unary, postfix, primary

    mutating func unary() throws(PromQLError) -> Expr {
        guard current.kind == .sub || current.kind == .add else { return try postfix() }
        let token = advance()
        let operand = try expression(minPrecedence: BinaryOperator.pow.precedence)
        let type = operand.type
        guard type == .scalar || type == .vector else {
            throw PromQLError.parse(token.position, "unary expression only allowed on expressions of type scalar or instant vector, got \"\(type.rawValue == "matrix" ? "range vector" : type.documentedName)\"")
        }
        if token.kind == .add { return operand }
        if case let .number(value, text) = operand {
            return try made(.number(-value, text: text.map { "-" + $0 }), depth: 1)
        }
        return try made(.negate(operand), depth: lastDepth + 1)
    }

    mutating func postfix() throws(PromQLError) -> Expr {
        var expr = try primary()
        var depth = lastDepth
        defer { lastDepth = depth }
        while true {
            switch current.kind {
            case .leftBracket:
                let bracket = advance()
                let range = try durationExpression(minPrecedence: 0)
                if current.kind == .colon {
                    _ = advance()
                    var step: DurationExpr?
                    if current.kind != .rightBracket { step = try durationExpression(minPrecedence: 0) }
                    try expect(.rightBracket, "subquery selector")
                    guard expr.type == .vector else {
                        throw PromQLError.parse(bracket.position, "subquery is only allowed on instant vector, got \(expr.type.documentedName) instead")
                    }
                    try checkPositive(range, at: bracket.position, what: "subquery range")
                    expr = try made(.subquery(expr, range: range, step: step, modifiers: TimeModifiers()), depth: depth + 1)
                    depth = lastDepth
                } else {
                    try expect(.rightBracket, "matrix selector")
                    guard case let .vectorSelector(selector) = expr else {
                        throw PromQLError.parse(bracket.position, "ranges only allowed for vector selectors")
                    }
                    if selector.modifiers.offset != nil || selector.modifiers.at != nil {
                        throw PromQLError.parse(bracket.position, "no offset or @ modifiers allowed before range")
                    }
                    try checkPositive(range, at: bracket.position, what: "range")
                    expr = .matrixSelector(selector, range: range, mode: .normal)
                }
            case .identifier where isKeyword("anchored") || isKeyword("smoothed"):
                let token = advance()
                let mode = RangeMode(rawValue: token.text.lowercased())!
                switch expr {
                case .matrixSelector(let selector, let range, .normal):
                    expr = .matrixSelector(selector, range: range, mode: mode)
                case var .vectorSelector(selector) where mode == .smoothed && !selector.smoothed:
                    selector.smoothed = true
                    expr = .vectorSelector(selector)
                default:
                    throw PromQLError.parse(token.position, "unexpected \(describe(token))")
                }
            case .identifier where isKeyword("offset"):
                let token = advance()
                let offset = try offsetDuration()
                try updateModifiers(&expr, at: token.position) { (m) throws(PromQLError) in
                    guard m.offset == nil else { throw PromQLError.parse(token.position, "offset may not be set multiple times") }
                    m.offset = offset
                }
            case .at:
                let token = advance()
                let at = try atModifier()
                try updateModifiers(&expr, at: token.position) { (m) throws(PromQLError) in
                    guard m.at == nil else { throw PromQLError.parse(token.position, "@ <timestamp> may not be set multiple times") }
                    m.at = at
                }
            default:
                return expr
            }
        }
    }

    func checkPositive(_ range: DurationExpr, at position: Int, what: String) throws(PromQLError) {
        guard range.isConstant else { return }
        if range.milliseconds(step: 0, range: 0) <= 0 {
            throw PromQLError.parse(position, "duration must be greater than 0")
        }
    }

    func updateModifiers(_ expr: inout Expr, at position: Int,
                         _ body: (inout TimeModifiers) throws(PromQLError) -> Void) throws(PromQLError) {
        switch expr {
        case var .vectorSelector(selector):
            try body(&selector.modifiers)
            expr = .vectorSelector(selector)
        case .matrixSelector(var selector, let range, let mode):
            try body(&selector.modifiers)
            expr = .matrixSelector(selector, range: range, mode: mode)
        case .subquery(let inner, let range, let step, var modifiers):
            try body(&modifiers)
            expr = .subquery(inner, range: range, step: step, modifiers: modifiers)
        default:
            throw PromQLError.parse(position, "offset or @ modifier must be preceded by an instant vector selector or range vector selector or a subquery")
        }
    }

    mutating func atModifier() throws(PromQLError) -> TimeModifiers.At {
        if current.kind == .identifier, following.kind == .leftParen {
            let word = current.text.lowercased()
            if word == "start" || word == "end" {
                _ = advance()
                _ = advance()
                try expect(.rightParen, "@ modifier")
                return word == "start" ? .start : .end
            }
        }
        var sign = 1.0
        if current.kind == .sub || current.kind == .add {
            if advance().kind == .sub { sign = -1 }
        }
        guard current.kind == .number || current.kind == .duration else {
            throw PromQLError.parse(current.position, "unexpected \(describe(current)) in @, expected timestamp")
        }
        let token = advance()
        let seconds = sign * (token.kind == .duration ? token.number / 1000 : token.number)
        let millis = (seconds * 1000).rounded()
        guard seconds.isFinite, abs(millis) <= Double(QueryContext.timeBound) else {
            throw PromQLError.parse(token.position, "timestamp out of bounds for @ modifier: \(seconds)")
        }
        return .timestamp(Int64(millis))
    }

    /// `offset` takes one signed duration term: a literal, a number of seconds, a parenthesised
    /// duration expression, `step()`, `range()`, `min_of(…)` or `max_of(…)`; operators after it apply
    /// to the selector, as in Prometheus.
    mutating func offsetDuration() throws(PromQLError) -> DurationExpr {
        if current.kind == .sub || current.kind == .add {
            let negative = advance().kind == .sub
            let term = try durationPrimary()
            return negative ? try made(.negate(term), depth: lastDurationDepth + 1) : term
        }
        return try durationPrimary()
    }

    // MARK: Duration expressions

    /// Duration expressions take the arithmetic operators only.
    func durationOperator() -> BinaryOperator? {
        guard current.kind != .identifier, let op = binaryOperator(), !op.isComparison else { return nil }
        return op
    }

    mutating func durationExpression(minPrecedence: Int) throws(PromQLError) -> DurationExpr {
        try enter()
        defer { nesting -= 1 }
        var lhs: DurationExpr
        if current.kind == .sub || current.kind == .add {
            let negative = advance().kind == .sub
            let operand = try durationExpression(minPrecedence: BinaryOperator.pow.precedence)
            lhs = negative ? try made(.negate(operand), depth: lastDurationDepth + 1) : operand
        } else {
            lhs = try durationPrimary()
        }
        var lhsDepth = lastDurationDepth
        while let op = durationOperator(), op.precedence >= minPrecedence {
            _ = advance()
            let rhs = try durationExpression(minPrecedence: op.isRightAssociative ? op.precedence : op.precedence + 1)
            lhs = try made(.binary(op, lhs, rhs), depth: max(lhsDepth, lastDurationDepth) + 1)
            lhsDepth = lastDurationDepth
        }
        lastDurationDepth = lhsDepth
        return lhs
    }

    mutating func durationPrimary() throws(PromQLError) -> DurationExpr {
        let token = current
        switch token.kind {
        case .duration:
            _ = advance()
            return try made(.literal(milliseconds: token.number, text: token.text), depth: 1)
        case .number:
            _ = advance()
            return try made(.number(token.number, text: token.text), depth: 1)
        case .leftParen:
            _ = advance()
            let inner = try durationExpression(minPrecedence: 0)
            try expect(.rightParen, "duration expression")
            return try made(.paren(inner), depth: lastDurationDepth + 1)
        case .identifier where following.kind == .leftParen:
            let word = token.text.lowercased()
            _ = advance()
            _ = advance()
            switch word {
            case "step", "range":
                try expect(.rightParen, "\(word)()")
                return try made(word == "step" ? .step : .range, depth: 1)
            case "min_of", "max_of":
                let a = try durationExpression(minPrecedence: 0)
                let aDepth = lastDurationDepth
                try expect(.comma, "\(word)()")
                let b = try durationExpression(minPrecedence: 0)
                try expect(.rightParen, "\(word)()")
                return try made(word == "min_of" ? .minOf(a, b) : .maxOf(a, b), depth: max(aDepth, lastDurationDepth) + 1)
            default:
                throw PromQLError.parse(token.position, "unexpected function \"\(token.text)\" in duration expression")
            }
        default:
            throw PromQLError.parse(token.position, "unexpected \(describe(token)) in duration expression, expected duration")
        }
    }

    // MARK: Primary expressions

    mutating func primary() throws(PromQLError) -> Expr {
        let token = current
        switch token.kind {
        case .number:
            _ = advance()
            return try made(.number(token.number, text: token.text), depth: 1)
        case .duration:
            _ = advance()
            return try made(.number(token.number / 1000, text: token.text), depth: 1)
        case .string:
            _ = advance()
            return try made(.string(token.text), depth: 1)
        case .leftParen:
            _ = advance()
            let inner = try expression(minPrecedence: 0)
            try expect(.rightParen, "paren expression")
            return try made(.paren(inner), depth: lastDepth + 1)
        case .leftBrace:
            return try selector(name: nil, at: token.position)
        case .identifier:
            let lower = token.text.lowercased()
            if let op = aggregators[lower],
               following.kind == .leftParen || (following.kind == .identifier && ["by", "without"].contains(following.text.lowercased())) {
                return try aggregation(op)
            }
            if following.kind == .leftParen {
                if lower == "step" || lower == "range" || lower == "min_of" || lower == "max_of" {
                    let duration = try durationPrimary()
                    return try made(.duration(duration), depth: lastDurationDepth + 1)
                }
                return try call()
            }
            if keywordOperators[lower] != nil || reservedWords.contains(lower) {
                throw PromQLError.parse(token.position, "unexpected \(describe(token))")
            }
            _ = advance()
            return try selector(name: token.text, at: token.position)
        case .end:
            throw PromQLError.parse(token.position, "unexpected end of input")
        default:
            throw PromQLError.parse(token.position, "unexpected \(describe(token))")
        }
    }

    mutating func selector(name: String?, at position: Int) throws(PromQLError) -> Expr {
        var metricName = name
        var matchers: [LabelMatcher] = []
        if let name { matchers.append(try makeMatcher(.equal, Labels.metricName, name, at: position)) }
        if current.kind == .leftBrace {
            _ = advance()
            while current.kind != .rightBrace {
                let labelToken = current
                guard labelToken.kind == .identifier || labelToken.kind == .string else {
                    throw PromQLError.parse(labelToken.position, "unexpected \(describe(labelToken)) in label matching, expected label")
                }
                _ = advance()
                let kind: LabelMatcher.Kind
                switch current.kind {
                case .assign: kind = .equal
                case .notEqual: kind = .notEqual
                case .regexMatch: kind = .regexMatch
                case .regexNoMatch: kind = .regexNoMatch
                case .comma, .rightBrace where labelToken.kind == .string:
                    // `{"my.metric"}`: a quoted metric name alone.
                    if let metricName {
                        throw PromQLError.parse(labelToken.position, "metric name must not be set twice: \"\(metricName)\" or \"\(labelToken.text)\"")
                    }
                    metricName = labelToken.text
                    matchers.append(try makeMatcher(.equal, Labels.metricName, labelToken.text, at: labelToken.position))
                    if current.kind == .comma { _ = advance() }
                    continue
                default:
                    throw PromQLError.parse(current.position, "unexpected \(describe(current)) in label matching, expected label matching operator")
                }
                _ = advance()
                guard current.kind == .string else {
                    throw PromQLError.parse(current.position, "unexpected \(describe(current)) in label matching, expected string")
                }
                let value = advance().text
                if labelToken.text == Labels.metricName, kind == .equal, let metricName {
                    throw PromQLError.parse(labelToken.position, "metric name must not be set twice: \"\(metricName)\" or \"\(value)\"")
                }
                matchers.append(try makeMatcher(kind, labelToken.text, value, at: labelToken.position))
                if current.kind == .comma {
                    _ = advance()
                } else if current.kind != .rightBrace {
                    throw PromQLError.parse(current.position, "unexpected \(describe(current)) in label matching, expected \",\" or \"}\"")
                }
            }
            _ = advance()
        }
        guard allowEmptySelector || matchers.contains(where: { !$0.matchesEmpty }) else {
            throw PromQLError.parse(position, "vector selector must contain at least one non-empty matcher")
        }
        return try made(.vectorSelector(VectorSelector(name: metricName, matchers: matchers, position: position)), depth: 1)
    }

    func makeMatcher(_ kind: LabelMatcher.Kind, _ name: String, _ value: String, at position: Int) throws(PromQLError) -> LabelMatcher {
        do {
            return try LabelMatcher(kind, name, value)
        } catch {
            throw PromQLError.parse(position, "invalid regular expression \"\(value)\": \(error)")
        }
    }

    mutating func labelList(_ context: String) throws(PromQLError) -> [String] {
        try expect(.leftParen, context)
        var labels: [String] = []
        try commaSeparated(context) { (parser) throws(PromQLError) in
            guard parser.current.kind == .identifier || parser.current.kind == .string,
                  parser.current.kind == .string || !parser.current.text.contains(":") else {
                throw PromQLError.parse(parser.current.position, "unexpected \(parser.describe(parser.current)) in \(context), expected label")
            }
            labels.append(parser.advance().text)
        }
        return labels
    }

    /// Calls `element` for each comma-separated item up to the closing parenthesis, and consumes it.
    mutating func commaSeparated(_ context: String, _ element: (inout Parser) throws(PromQLError) -> Void) throws(PromQLError) {
        while current.kind != .rightParen {
            try element(&self)
            if current.kind == .comma {
                _ = advance()
            } else if current.kind != .rightParen {
                throw PromQLError.parse(current.position, "unexpected \(describe(current)) in \(context), expected \",\" or \")\"")
            }
        }
        _ = advance()
    }

    mutating func aggregation(_ op: AggregateOperator) throws(PromQLError) -> Expr {
        let opToken = advance()
        var grouping: [String] = []
        var without = false
        var explicitGrouping = false
        func modifier(_ parser: inout Parser) throws(PromQLError) {
            guard parser.isKeyword("by") || parser.isKeyword("without") else { return }
            without = parser.isKeyword("without")
            explicitGrouping = true
            _ = parser.advance()
            grouping = try parser.labelList("grouping opts")
        }
        try modifier(&self)
        try expect(.leftParen, "aggregation")
        let parameterPosition = current.position
        let arguments = try argumentList("aggregation") { _ in false }
        let argumentDepth = lastDepth
        if !explicitGrouping { try modifier(&self) }
        let expected = op.parameterType == nil ? 1 : 2
        guard arguments.count == expected else {
            throw PromQLError.parse(opToken.position, "wrong number of arguments for aggregate expression provided, expected \(expected), got \(arguments.count)")
        }
        let expr = arguments[expected - 1]
        guard expr.type == .vector else {
            throw PromQLError.parse(opToken.position, "expected type instant vector in aggregation expression, got \(expr.type.documentedName)")
        }
        var parameter: Expr?
        if let type = op.parameterType {
            parameter = arguments[0]
            guard arguments[0].type == type else {
                throw PromQLError.parse(opToken.position, "expected type \(type.documentedName) in aggregation parameter, got \(arguments[0].type.documentedName)")
            }
        }
        return try made(.aggregate(Aggregate(op: op, expr: expr, parameter: parameter, grouping: grouping,
                                    without: without, explicitGrouping: explicitGrouping,
                                    position: opToken.position, parameterPosition: parameterPosition)),
                        depth: argumentDepth + 1)
    }

    /// Comma-separated expressions up to and including the closing parenthesis.
    /// `emptySelectorAllowed(i)` says whether argument `i` may be a selector matching everything.
    mutating func argumentList(_ context: String, emptySelectorAllowed: (Int) -> Bool) throws(PromQLError) -> [Expr] {
        var arguments: [Expr] = []
        var deepest = 0
        try commaSeparated(context) { (parser) throws(PromQLError) in
            parser.allowEmptySelector = emptySelectorAllowed(arguments.count)
            defer { parser.allowEmptySelector = false }
            arguments.append(try parser.expression(minPrecedence: 0))
            deepest = max(deepest, parser.lastDepth)
        }
        lastDepth = deepest
        return arguments
    }

    mutating func call() throws(PromQLError) -> Expr {
        let nameToken = advance()
        guard let function = Function.named(nameToken.text) else {
            throw PromQLError.parse(nameToken.position, "unknown function with name \"\(nameToken.text)\"")
        }
        try expect(.leftParen, "function call")
        let arguments = try argumentList("function call") { index in function.name == "info" && index == 1 }
        let argumentDepth = lastDepth
        let declared = function.argumentTypes.count
        if function.variadic == 0 {
            guard arguments.count == declared else {
                throw PromQLError.parse(nameToken.position, "expected \(declared) argument(s) in call to \"\(function.name)\", got \(arguments.count)")
            }
        } else {
            guard arguments.count >= declared - 1 else {
                throw PromQLError.parse(nameToken.position, "expected at least \(declared - 1) argument(s) in call to \"\(function.name)\", got \(arguments.count)")
            }
            if function.variadic > 0, arguments.count > declared - 1 + function.variadic {
                throw PromQLError.parse(nameToken.position, "expected at most \(declared - 1 + function.variadic) argument(s) in call to \"\(function.name)\", got \(arguments.count)")
            }
        }
        for (i, argument) in arguments.enumerated() {
            let expected = function.argumentTypes[min(i, declared - 1)]
            var actual = argument.type
            if case .paren = argument, actual == .matrix, expected == .matrix { actual = .matrix }
            guard actual == expected else {
                throw PromQLError.parse(nameToken.position, "expected type \(expected.documentedName) in call to function \"\(function.name)\", got \(actual.documentedName)")
            }
        }
        try checkRangeMode(function, arguments, at: nameToken.position)
        return try made(.call(function, arguments, position: nameToken.position), depth: argumentDepth + 1)
    }

    func checkRangeMode(_ function: Function, _ arguments: [Expr], at position: Int) throws(PromQLError) {
        for argument in arguments {
            guard case let .matrixSelector(_, _, mode) = argument, mode != .normal else { continue }
            let allowed = mode == .anchored ? ["changes", "delta", "increase", "rate", "resets"] : ["delta", "increase", "rate"]
            if !allowed.contains(function.name) {
                // Prometheus reports this one without a position.
                throw PromQLError.syntax("\(mode.rawValue) modifier can only be used with: \(allowed.joined(separator: ", ")) - not with \(function.name)")
            }
        }
    }
}
