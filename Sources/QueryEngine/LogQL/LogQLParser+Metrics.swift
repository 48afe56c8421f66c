import ObsCore

extension LogQLParser {
    /// Parses any LogQL expression: a log query, or a metric query.
    public static func parse(_ text: String) throws(LogQLParseError) -> LogQLExpr {
        var cursor = Cursor(Array(text.utf8))
        let expr = try cursor.expression(minimumPrecedence: 1)
        cursor.skipSpace()
        guard cursor.isAtEnd else { throw cursor.fail("unexpected \(cursor.describeNext()) after the query") }
        if case .logs = expr {} else { try cursor.checkMetric(expr) }
        return expr
    }
}

extension Cursor {
    /// Binary expressions by precedence climbing; `^` is right-associative.
    mutating func expression(minimumPrecedence: Int) throws(LogQLParseError) -> LogQLExpr {
        try nest()
        defer { nesting -= 1 }
        var lhs = try unary()
        while true {
            let saved = position
            guard let op = binaryOperator(), op.precedence >= minimumPrecedence else {
                position = saved
                return lhs
            }
            try countOperator()
            var returnBool = false
            if op.isComparison && takeWord("bool") { returnBool = true }
            var matching: BinaryOperation.Matching?
            if takeWord("on") { matching = .on(try labelList()) } else if takeWord("ignoring") { matching = .ignoring(try labelList()) }
            var group: BinaryOperation.Group?
            if takeWord("group_left") {
                group = .left(try optionalLabelList())
            } else if takeWord("group_right") {
                group = .right(try optionalLabelList())
            }
            let rhs = try expression(minimumPrecedence: op == .pow ? op.precedence : op.precedence + 1)
            let operation = BinaryOperation(op: op, lhs: lhs, rhs: rhs, returnBool: returnBool, matching: matching, group: group)
            if case .logs = lhs { throw fail("binary operations need metric queries on both sides", at: saved) }
            if case .logs = rhs { throw fail("binary operations need metric queries on both sides", at: saved) }
            lhs = .binary(operation)
        }
    }

    mutating func binaryOperator() -> BinaryOperation.Operator? {
        skipSpace()
        for word in [BinaryOperation.Operator.or, .and, .unless] where takeWord(word.rawValue) { return word }
        // Two-character operators before their one-character prefixes.
        for op in [BinaryOperation.Operator.equal, .notEqual, .greaterEqual, .lessEqual, .greater, .less, .add, .sub, .mul, .div, .mod, .pow]
        where take(op.rawValue) {
            return op
        }
        return nil
    }

    mutating func unary() throws(LogQLParseError) -> LogQLExpr {
        skipSpace()
        if peek == UInt8(ascii: "{") { return .logs(try logQuery()) }
        if take("(") {
            let inner = try expression(minimumPrecedence: 1)
            try expect(")")
            return inner
        }
        if let (text, start) = quantity() {
            guard let value = Double(text) else { throw fail("invalid number \"\(text)\"", at: start) }
            return .number(value)
        }
        if take("-") {
            guard let (text, start) = quantity(), let value = Double(text) else { throw fail("expected a number after -") }
            _ = start
            return .number(-value)
        }
        let start = position
        guard let word = name() else { throw fail("unexpected \(describeNext())") }
        if let operation = RangeAggregation.Operation(rawValue: word) { return try rangeAggregation(operation, at: start) }
        if let operation = VectorAggregation.Operation(rawValue: word) { return try vectorAggregation(operation) }
        switch word {
        case "vector":
            try expect("(")
            guard let (text, _) = quantity(), let value = Double(text) else { throw fail("vector() takes a number") }
            try expect(")")
            return .vector(value)
        case "label_replace":
            try expect("(")
            let inner = try expression(minimumPrecedence: 1)
            var arguments: [String] = []
            for what in ["destination label", "replacement", "source label", "regex"] {
                try expect(",")
                arguments.append(try requireString("the \(what)"))
            }
            try expect(")")
            do { _ = try LinearRegex(arguments[3]) } catch { throw fail("invalid regex \"\(arguments[3])\": \(error)", at: start) }
            return .labelReplace(inner, destination: arguments[0], replacement: arguments[1], source: arguments[2], regex: arguments[3])
        default:
            throw fail("unknown function or aggregation \"\(word)\"", at: start)
        }
    }

    mutating func rangeAggregation(_ operation: RangeAggregation.Operation, at start: Int) throws(LogQLParseError) -> LogQLExpr {
        try expect("(")
        var parameter: Double?
        if operation == .quantileOverTime {
            guard let (text, _) = quantity(), let value = Double(text) else { throw fail("quantile_over_time needs a quantile first") }
            parameter = value
            try expect(",")
        }
        skipSpace()
        let wrapped = take("(")
        let query = try logQuery()
        if wrapped { try expect(")") }
        try expect("[")
        let range = try durationLiteral("a range")
        try expect("]")
        var offset: Int64 = 0
        if takeWord("offset") { offset = try durationLiteral("an offset") }
        try expect(")")
        var grouping: Grouping?
        if let found = try groupingClause() { grouping = found }
        let unwraps = query.stages.contains { if case .unwrap = $0 { return true } else { return false } }
        if operation.needsUnwrap && !unwraps {
            throw fail("\(operation.rawValue) needs an unwrap expression: add | unwrap <label>", at: start)
        }
        if !operation.needsUnwrap && unwraps {
            throw fail("\(operation.rawValue) counts lines or bytes and takes no unwrap expression", at: start)
        }
        if grouping != nil && !operation.needsUnwrap {
            throw fail("grouping is only allowed on range aggregations of unwrapped values", at: start)
        }
        return .rangeAggregation(RangeAggregation(operation: operation, query: query, range: range, offset: offset,
                                                  parameter: parameter, grouping: grouping))
    }

    mutating func vectorAggregation(_ operation: VectorAggregation.Operation) throws(LogQLParseError) -> LogQLExpr {
        var grouping = try groupingClause()
        try expect("(")
        var parameter: Double?
        if operation.takesParameter {
            guard let (text, _) = quantity(), let value = Double(text), value == value.rounded(), value > 0 else {
                throw fail("\(operation.rawValue) needs a positive whole number first")
            }
            parameter = value
            try expect(",")
        }
        let inner = try expression(minimumPrecedence: 1)
        try expect(")")
        if grouping == nil { grouping = try groupingClause() }
        if case .logs = inner { throw fail("\(operation.rawValue) aggregates metric queries, not log queries") }
        return .vectorAggregation(VectorAggregation(operation: operation, parameter: parameter, grouping: grouping, expr: inner))
    }

    mutating func groupingClause() throws(LogQLParseError) -> Grouping? {
        if takeWord("by") { return Grouping(without: false, labels: try labelList()) }
        if takeWord("without") { return Grouping(without: true, labels: try labelList()) }
        return nil
    }

    mutating func labelList() throws(LogQLParseError) -> [String] {
        try expect("(")
        var labels: [String] = []
        if take(")") { return labels }
        repeat { labels.append(try requireName("a label name")) } while take(",")
        try expect(")")
        return labels
    }

    mutating func optionalLabelList() throws(LogQLParseError) -> [String] {
        skipSpace()
        return peek == UInt8(ascii: "(") ? try labelList() : []
    }

    mutating func durationLiteral(_ what: String) throws(LogQLParseError) -> Int64 {
        guard let (text, start) = quantity() else { throw fail("expected \(what), got \(describeNext())") }
        guard let nanoseconds = LogQLValues.durationNanoseconds(text), nanoseconds > 0 || what == "an offset" else {
            throw fail("invalid duration \"\(text)\"", at: start)
        }
        return nanoseconds
    }

    /// A metric query must not end in a bare log query anywhere.
    func checkMetric(_ expr: LogQLExpr) throws(LogQLParseError) {
        switch expr {
        case .logs: throw fail("a log query cannot be combined with metric queries", at: 0)
        case let .binary(operation):
            try checkMetric(operation.lhs)
            try checkMetric(operation.rhs)
        case let .vectorAggregation(aggregation): try checkMetric(aggregation.expr)
        case let .labelReplace(inner, _, _, _, _): try checkMetric(inner)
        case .rangeAggregation, .number, .vector: return
        }
    }
}

extension LogQLExpr: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .logs(query): return query.description
        case let .number(value): return LogQLValues.format(value)
        case let .vector(value): return "vector(\(LogQLValues.format(value)))"
        case let .rangeAggregation(aggregation):
            var text = aggregation.operation.rawValue + "("
            if let parameter = aggregation.parameter { text += LogQLValues.format(parameter) + ", " }
            text += aggregation.query.description + " [" + LogQLValues.formatRange(aggregation.range) + "]"
            if aggregation.offset != 0 { text += " offset " + LogQLValues.formatRange(aggregation.offset) }
            text += ")"
            if let grouping = aggregation.grouping { text += " " + grouping.description }
            return text
        case let .vectorAggregation(aggregation):
            var text = aggregation.operation.rawValue
            if let grouping = aggregation.grouping { text += " " + grouping.description + " " }
            text += "("
            if let parameter = aggregation.parameter { text += LogQLValues.format(parameter) + ", " }
            return text + aggregation.expr.description + ")"
        case let .labelReplace(inner, destination, replacement, source, regex):
            return "label_replace(" + inner.description + ", " + [destination, replacement, source, regex].map(JSONText.quote)
                .joined(separator: ", ") + ")"
        case let .binary(operation):
            var text = Self.operand(operation.lhs, of: operation.op, right: false) + " " + operation.op.rawValue
            if operation.returnBool { text += " bool" }
            switch operation.matching {
            case let .on(labels): text += " on (" + labels.joined(separator: ", ") + ")"
            case let .ignoring(labels): text += " ignoring (" + labels.joined(separator: ", ") + ")"
            case nil: break
            }
            switch operation.group {
            case let .left(labels): text += " group_left" + (labels.isEmpty ? "" : " (" + labels.joined(separator: ", ") + ")")
            case let .right(labels): text += " group_right" + (labels.isEmpty ? "" : " (" + labels.joined(separator: ", ") + ")")
            case nil: break
            }
            return text + " " + Self.operand(operation.rhs, of: operation.op, right: true)
        }
    }

    /// An operand in parentheses when its own operator binds looser than the one it sits under.
    private static func operand(_ expr: LogQLExpr, of parent: BinaryOperation.Operator, right: Bool) -> String {
        guard case let .binary(child) = expr else { return expr.description }
        let needs = child.op.precedence < parent.precedence
            || (child.op.precedence == parent.precedence && (parent == .pow ? !right : right))
        return needs ? "(" + expr.description + ")" : expr.description
    }
}

extension LogQLValues {
    /// Ranges and offsets as Prometheus writes durations (`5m`, `1h30m`), when whole milliseconds.
    static func formatRange(_ nanoseconds: Int64) -> String {
        guard nanoseconds % 1_000_000 == 0 else { return formatDuration(nanoseconds) }
        return PrometheusDuration(milliseconds: nanoseconds / 1_000_000).description
    }
}

extension Grouping: CustomStringConvertible {
    public var description: String { (without ? "without" : "by") + " (" + labels.joined(separator: ", ") + ")" }
}
