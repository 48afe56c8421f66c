import ObsCore

extension Expr {
    /// The matchers of every vector and range selector in the expression, in order: what
    /// `/api/v1/query_exemplars` looks exemplars up by (Prometheus's `ExtractSelectors`).
    public var selectorMatchers: [[LabelMatcher]] {
        var result: [[LabelMatcher]] = []
        collectSelectors(into: &result)
        return result
    }

    private func collectSelectors(into result: inout [[LabelMatcher]]) {
        switch self {
        case .number, .string, .duration:
            break
        case let .vectorSelector(selector), let .matrixSelector(selector, _, _):
            result.append(selector.matchers)
        case let .subquery(inner, _, _, _), let .negate(inner), let .paren(inner):
            inner.collectSelectors(into: &result)
        case let .call(_, arguments, _):
            for argument in arguments { argument.collectSelectors(into: &result) }
        case let .aggregate(aggregate):
            aggregate.parameter?.collectSelectors(into: &result)
            aggregate.expr.collectSelectors(into: &result)
        case let .binary(binary):
            binary.lhs.collectSelectors(into: &result)
            binary.rhs.collectSelectors(into: &result)
        }
    }
}
