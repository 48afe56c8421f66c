import ObsCore

/// Binary operators. Series are paired by their matching signature once; the operator then runs
/// step by step over the pairs, with Prometheus's checks for ambiguous matches at each step.
extension Evaluator {
    func binary(_ binary: Binary) throws(PromQLError) -> EvalValue {
        let lhs = try eval(binary.lhs)
        let rhs = try eval(binary.rhs)
        let op = binary.op
        switch (lhs, rhs) {
        case let (.scalar(l), .scalar(r)):
            return .scalar((0..<steps).map { op.applyScalars(l[$0], r[$0]) ?? .nan })
        case let (.vector(v), .scalar(s)) where op.isTrim:
            return .vector(trim(op, v, s, location: context.location(startPosition(binary.lhs))))
        case let (.vector(v), .scalar(s)):
            return .vector(vectorScalar(op, v, s, scalarOnLeft: false, returnBool: binary.returnBool,
                                        location: context.location(startPosition(binary.lhs))))
        case let (.scalar(s), .vector(v)):
            return .vector(vectorScalar(op, v, s, scalarOnLeft: true, returnBool: binary.returnBool,
                                        location: context.location(startPosition(binary.lhs))))
        case let (.vector(l), .vector(r)):
            let matching = binary.matching ?? VectorMatching()
            switch op {
            case .and, .unless: return .vector(andUnless(l, r, matching, keepMatched: op == .and))
            case .or: return .vector(try or(l, r, matching))
            default:
                return .vector(try vectorVector(op, l, r, matching, returnBool: binary.returnBool,
                                                location: context.location(startPosition(binary.lhs))))
            }
        default:
            throw .execution("binary expression must contain only scalar and instant vector types")
        }
    }

    func vectorScalar(_ op: BinaryOperator, _ vector: [StepSeries], _ scalar: [Double], scalarOnLeft: Bool,
                      returnBool: Bool, location: String) -> [StepSeries] {
        var result = vector
        let dropsName = !op.isComparison || returnBool
        for i in result.indices {
            if dropsName { result[i].dropName = true }
            if result[i].histograms != nil {
                let series = result[i]
                let metric = series.labels.metricName ?? ""
                for step in 0..<steps where series.present[step] {
                    let mine = operand(series, step), other = Operand.float(scalar[step])
                    let outcome = scalarOnLeft
                        ? applyWithHistograms(op, other, mine, returnBool: returnBool, metric: metric, at: location)
                        : applyWithHistograms(op, mine, other, returnBool: returnBool, metric: metric, at: location)
                    // A comparison without `bool` keeps the vector's own sample.
                    if let outcome { result[i].set(step, op.isComparison && !returnBool ? mine : outcome) } else { result[i].clear(step) }
                }
                continue
            }
            for step in 0..<steps where result[i].present[step] {
                let v = result[i].values[step], s = scalar[step]
                let value = scalarOnLeft ? op.applyScalars(s, v)! : op.applyScalars(v, s)!
                if op.isComparison {
                    if returnBool {
                        result[i].values[step] = value
                    } else if value == 0 {
                        result[i].present[step] = false
                    }
                } else {
                    result[i].values[step] = value
                }
            }
        }
        return op.isComparison && !returnBool ? result.filter { !$0.isEmpty } : result
    }

    /// The labels two series must share to be paired.
    func matchSubset(_ matching: VectorMatching) -> LabelSubset {
        matching.on ? .on(matching.labels) : .ignoring(matching.labels)
    }

    func groups(_ series: [StepSeries], _ matching: VectorMatching) -> SubsetGroups {
        var groups = SubsetGroups(matchSubset(matching))
        for (i, s) in series.enumerated() { groups.add(s.labels, member: i) }
        return groups
    }

    func partners(_ labels: Labels, in groups: SubsetGroups) -> [Int] {
        groups.find(labels).map { groups.members[$0] } ?? []
    }

    func andUnless(_ lhs: [StepSeries], _ rhs: [StepSeries], _ matching: VectorMatching, keepMatched: Bool) -> [StepSeries] {
        let right = groups(rhs, matching)
        var result: [StepSeries] = []
        for var series in lhs {
            let partners = partners(series.labels, in: right)
            for step in 0..<steps where series.present[step] {
                let matched = partners.contains { rhs[$0].present[step] }
                if matched != keepMatched { series.present[step] = false }
            }
            if !series.isEmpty { result.append(series) }
        }
        return result
    }

    func or(_ lhs: [StepSeries], _ rhs: [StepSeries], _ matching: VectorMatching) throws(PromQLError) -> [StepSeries] {
        let left = groups(lhs, matching)
        var result = lhs
        for var series in rhs {
            let partners = partners(series.labels, in: left)
            if !partners.isEmpty {
                for step in 0..<steps where series.present[step] && partners.contains(where: { lhs[$0].present[step] }) {
                    series.present[step] = false
                }
            }
            if !series.isEmpty { result.append(series) }
        }
        return try mergeSameLabels(result)
    }

    func vectorVector(_ op: BinaryOperator, _ lhs: [StepSeries], _ rhs: [StepSeries], _ matching: VectorMatching,
                      returnBool: Bool, location: String) throws(PromQLError) -> [StepSeries] {
        // The "many" side is iterated; the "one" side is looked up by signature.
        let oneToMany = matching.cardinality == .oneToMany
        let many = oneToMany ? rhs : lhs
        let one = oneToMany ? lhs : rhs
        let oneSideName = oneToMany ? "left" : "right"
        let oneGroups = groups(one, matching)
        // A match group with two series on the "one" side at the same step is many-to-many.
        for g in 0..<oneGroups.count {
            let members = oneGroups.members[g]
            guard members.count > 1 else { continue }
            for step in 0..<steps {
                let present = members.filter { one[$0].present[step] }
                if present.count > 1 {
                    let names = present.prefix(2).map { one[$0].labels }.sorted().map(\.braced)
                    throw .execution("found duplicate series for the match group \(matchGroupDescription(one[present[0]].labels, matching)) on the \(oneSideName) hand-side of the operation: [\(names[0]), \(names[1])];many-to-many matching not allowed: matching labels must be unique on one side")
                }
            }
        }
        var dropsName = !op.isComparison || returnBool
        if op == .atan2, context.options.compatibility == .prometheus2 { dropsName = false }
        var output: [StepSeries] = []
        var outputIndex: [Labels: Int] = [:]
        var matchedSteps: [Int: [Bool]] = [:]   // one-to-one: steps at which a match group was used
        for m in many.indices {
            guard let sig = oneGroups.find(many[m].labels) else { continue }
            for r in oneGroups.members[sig] {
                let labels = resultLabels(many[m].labels, one[r].labels, matching)
                var slot = outputIndex[labels]
                let withHistograms = many[m].histograms != nil || one[r].histograms != nil
                for step in 0..<steps where many[m].present[step] && one[r].present[step] {
                    let left = oneToMany ? one[r].values[step] : many[m].values[step]
                    let right = oneToMany ? many[m].values[step] : one[r].values[step]
                    if matching.cardinality == .oneToOne {
                        if matchedSteps[sig]?[step] == true {
                            throw .execution("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)")
                        }
                        matchedSteps[sig, default: Array(repeating: false, count: steps)][step] = true
                    }
                    var outcome: Operand?
                    if withHistograms {
                        let l = oneToMany ? operand(one[r], step) : operand(many[m], step)
                        let rr = oneToMany ? operand(many[m], step) : operand(one[r], step)
                        outcome = applyWithHistograms(op, l, rr, returnBool: returnBool,
                                                      metric: many[m].labels.metricName ?? "", at: location)
                        if outcome == nil { continue }
                    }
                    var value = withHistograms ? 0 : op.applyScalars(left, right)!
                    if !withHistograms && op.isComparison && !returnBool {
                        if value == 0 { continue }
                        value = left
                    }
                    if slot == nil {
                        slot = output.count
                        outputIndex[labels] = output.count
                        output.append(StepSeries(labels: labels, steps: steps, dropName: dropsName ? true : many[m].dropName))
                    }
                    if output[slot!].present[step] {
                        throw .execution("multiple matches for labels: grouping labels must ensure unique matches")
                    }
                    if let outcome { output[slot!].set(step, outcome) } else { output[slot!].set(step, value) }
                }
            }
        }
        return try applyFill(op, lhs, rhs, matching, returnBool: returnBool, into: output)
    }

    /// Labels of a result series: the "many" side's, reduced to the matching labels for one-to-one
    /// `on`, without the ignored ones for one-to-one `ignoring`, plus `group_x(…)` labels from the
    /// "one" side.
    func resultLabels(_ many: Labels, _ one: Labels, _ matching: VectorMatching) -> Labels {
        var labels = many
        if matching.cardinality == .oneToOne {
            if matching.on {
                labels = Labels(sortedUnchecked: labels.pairs.filter { matching.labels.contains($0.name) })
            } else {
                labels = Labels(sortedUnchecked: labels.pairs.filter { !matching.labels.contains($0.name) })
            }
        }
        for name in matching.include {
            labels = labels.setting(name, to: one[name] ?? "")
        }
        return labels
    }

    func matchGroupDescription(_ labels: Labels, _ matching: VectorMatching) -> String {
        let kept = matching.on
            ? labels.pairs.filter { matching.labels.contains($0.name) }
            : labels.pairs.filter { $0.name != Labels.metricName && !matching.labels.contains($0.name) }
        return "{" + kept.map { "\($0.name)=\(JSONText.quote($0.value))" }.joined(separator: ", ") + "}"
    }

    /// `fill(v)`, `fill_left(v)`, `fill_right(v)`: series without a partner on the other side are
    /// combined with a stand-in of the given value.
    func applyFill(_ op: BinaryOperator, _ lhs: [StepSeries], _ rhs: [StepSeries], _ matching: VectorMatching,
                   returnBool: Bool, into output: [StepSeries]) throws(PromQLError) -> [StepSeries] {
        guard matching.fillLeft != nil || matching.fillRight != nil else { return output }
        var matching = matching
        if matching.cardinality == .oneToMany {
            // Prometheus swaps the sides for group_right before it applies the fill values.
            swap(&matching.fillLeft, &matching.fillRight)
        }
        var result = SeriesByLabels(steps: steps, starting: output, context: context)
        let dropsName = !op.isComparison || returnBool
        let leftGroups = groups(lhs, matching), rightGroups = groups(rhs, matching)
        func emit(_ labels: Labels, _ step: Int, _ left: Double, _ right: Double, dropName: Bool) throws(PromQLError) {
            var value = op.applyScalars(left, right)!
            if op.isComparison && !returnBool {
                if value == 0 { return }
                value = left
            }
            try result.set(labels, step, value, dropName: dropsName || dropName)
        }
        if let fillRight = matching.fillRight {
            for series in lhs {
                let partners = partners(series.labels, in: rightGroups)
                let labels = fillLabels(series.labels, matching, fromLeft: true)
                for step in 0..<steps where series.present[step] && !partners.contains(where: { rhs[$0].present[step] }) {
                    try emit(labels, step, series.values[step], fillRight, dropName: series.dropName)
                }
            }
        }
        if let fillLeft = matching.fillLeft {
            // A result whose left side is a stand-in takes the right series' labels without the name.
            for series in rhs {
                let partners = partners(series.labels, in: leftGroups)
                let labels = fillLabels(series.labels, matching, fromLeft: false)
                for step in 0..<steps where series.present[step] && !partners.contains(where: { lhs[$0].present[step] }) {
                    try emit(labels, step, fillLeft, series.values[step], dropName: true)
                }
            }
        }
        return result.series
    }

    /// Labels for a result made with a fill value: those of the series that is present, shaped the
    /// way its side's results are.
    func fillLabels(_ labels: Labels, _ matching: VectorMatching, fromLeft: Bool) -> Labels {
        let isManySide = (matching.cardinality == .oneToMany) != fromLeft
        if matching.cardinality == .oneToOne || isManySide {
            var shaped = resultLabels(labels, .empty, VectorMatching.with(matching, include: []))
            for name in matching.include { shaped = shaped.setting(name, to: "") }
            return shaped
        }
        return matchSubset(matching).extract(labels)
    }

    /// Joins series that share a label set into one; two values at the same step are an error.
    func mergeSameLabels(_ series: [StepSeries]) throws(PromQLError) -> [StepSeries] {
        try StepSeries.merging(series, steps: steps)
    }
}

extension VectorMatching {
    static func with(_ matching: VectorMatching, include: [String]) -> VectorMatching {
        var copy = matching
        copy.include = include
        return copy
    }
}
