import ObsCore

/// `info(v, {selector})`: adds the data labels of info metrics (`target_info` unless the selector
/// names others) to the series of `v` that share their identifying labels, `instance` and `job`.
extension Evaluator {
    static let identifyingLabels = ["instance", "job"]

    func info(_ arguments: [Expr]) throws(PromQLError) -> EvalValue {
        var nameMatchers: [LabelMatcher] = []
        var dataMatchers: [LabelMatcher] = []
        if arguments.count > 1 {
            guard case let .vectorSelector(selector) = unwrapParens(arguments[1]) else {
                throw .execution("expected label selectors as the second argument to info function")
            }
            for matcher in selector.matchers {
                if matcher.name == Labels.metricName { nameMatchers.append(matcher) } else { dataMatchers.append(matcher) }
            }
        }
        if nameMatchers.isEmpty {
            nameMatchers = [try! LabelMatcher(.equal, Labels.metricName, "target_info")]
        } else if !nameMatchers.contains(where: { $0.kind == .equal || $0.kind == .regexMatch }) {
            // Only exclusions: choose among the metrics named like info metrics.
            nameMatchers.append(try! LabelMatcher(.regexMatch, Labels.metricName, ".+_info"))
        }
        let base = try vector(arguments[0])
        // Info series are read at the time the base series was read: its `@` and `offset` apply.
        let infoSelector = VectorSelector(name: nil, matchers: nameMatchers + dataMatchers,
                                          modifiers: readingModifiers(arguments[0]))
        let infos = try selectInstant(infoSelector, reportTimestamps: true)
        var infosByKey: [[String]: [Int]] = [:]
        for (i, series) in infos.enumerated() {
            infosByKey[Self.identifyingLabels.map { series.labels[$0] ?? "" }, default: []].append(i)
        }
        let dataNames = Set(dataMatchers.map(\.name))
        let emptyAllowed = dataMatchers.allSatisfy { $0.matchesEmpty }
        var output = SeriesByLabels(steps: steps, context: context)
        func emit(_ labels: Labels, _ step: Int, _ value: Double, dropName: Bool) throws(PromQLError) {
            try output.set(labels, step, value, dropName: dropName)
        }
        for series in base {
            let name = series.labels.metricName ?? ""
            // A series the name matchers pick is an info series itself.
            if !name.isEmpty, nameMatchers.allSatisfy({ $0.matches(name) }) {
                // Info series themselves pass through unchanged.
                for step in 0..<steps where series.present[step] { try emit(series.labels, step, series.values[step], dropName: series.dropName) }
                continue
            }
            let candidates = infosByKey[Self.identifyingLabels.map { series.labels[$0] ?? "" }] ?? []
            for step in 0..<steps where series.present[step] {
                // The newest sample of each info metric at this step.
                var newest: [String: Int] = [:]
                for c in candidates where infos[c].present[step] {
                    let metric = infos[c].labels.metricName ?? ""
                    if let other = newest[metric], infos[other].values[step] >= infos[c].values[step] { continue }
                    newest[metric] = c
                }
                if newest.isEmpty {
                    if emptyAllowed { try emit(series.labels, step, series.values[step], dropName: series.dropName) }
                    continue
                }
                var added: [String: String] = [:]
                for c in newest.values.sorted() {
                    for label in infos[c].labels where label.name != Labels.metricName
                        && !Self.identifyingLabels.contains(label.name) && series.labels[label.name] == nil
                        && (dataNames.isEmpty || dataNames.contains(label.name)) {
                        if let existing = added[label.name], existing != label.value {
                            throw .execution("conflicting label: \(label.name) has values \(existing) and \(label.value) in info metrics")
                        }
                        added[label.name] = label.value
                    }
                }
                var labels = series.labels
                for (name, value) in added { labels = labels.setting(name, to: value) }
                try emit(labels, step, series.values[step], dropName: series.dropName)
            }
        }
        return .vector(output.series.filter { !$0.isEmpty })
    }

    /// The `@` and `offset` with which an expression reads its data, followed into its first
    /// vector argument: the outermost `@` wins, offsets add up.
    func readingModifiers(_ expr: Expr) -> TimeModifiers {
        var at: TimeModifiers.At?
        var offsets: [DurationExpr] = []
        var current: Expr? = expr
        while let node = current {
            current = nil
            switch node {
            case let .vectorSelector(selector), let .matrixSelector(selector, _, _):
                if at == nil { at = selector.modifiers.at }
                if let offset = selector.modifiers.offset { offsets.append(offset) }
            case let .subquery(inner, _, _, modifiers):
                if at == nil { at = modifiers.at }
                if let offset = modifiers.offset { offsets.append(offset) }
                current = inner
            case let .paren(inner), let .negate(inner):
                current = inner
            case let .call(_, arguments, _):
                current = arguments.first { $0.type == .vector || $0.type == .matrix }
            case let .aggregate(aggregate):
                current = aggregate.expr
            case let .binary(binary):
                current = binary.lhs.type == .vector ? binary.lhs : binary.rhs
            default:
                break
            }
        }
        let total = offsets.dropFirst().reduce(offsets.first) { sum, next in .binary(.add, sum!, next) }
        return TimeModifiers(offset: total, at: at)
    }
}
