import ObsCore

/// Aggregation operators. Groups are formed once from the input series' labels; values are then
/// combined step by step over the members present at that step.
extension Evaluator {
    func aggregate(_ aggregate: Aggregate) throws(PromQLError) -> EvalValue {
        var parameter: [Double] = []
        var label = ""
        if let expr = aggregate.parameter {
            if aggregate.op == .countValues {
                label = try string(expr)
                guard isValidLabelName(label, legacy: context.options.compatibility == .prometheus2) else { throw .execution("invalid label name \(JSONText.quote(label))") }
            } else {
                parameter = try scalar(expr)
            }
        }
        var input = try vector(aggregate.expr)
        switch aggregate.op {
        case .min, .max, .stddev, .stdvar, .quantile, .topk, .bottomk:
            // These read floats only; histogram samples are dropped with an info.
            if input.contains(where: \.hasHistograms) {
                context.annotations.info("ignored histogram in \(aggregate.op.rawValue) aggregation", at: context.location(aggregate.position))
                input = input.map(\.floatsOnly)
            }
        default:
            break
        }
        let groups = group(input, aggregate)
        switch aggregate.op {
        case .topk, .bottomk, .limitk, .limitRatio:
            return .vector(try selectK(aggregate, input, groups, parameter))
        case .countValues:
            return .vector(try countValues(label, input, aggregate))
        default:
            break
        }
        if aggregate.op == .quantile {
            for q in parameter where q.isNaN || q < 0 || q > 1 {
                context.annotations.warn("quantile value should be between 0 and 1, got \(goFloat(q))",
                                         at: context.location(aggregate.parameterPosition))
            }
        }
        var result: [StepSeries] = []
        result.reserveCapacity(groups.count)
        var buffer: [Double] = []
        for group in groups {
            var out = StepSeries(labels: group.labels, steps: steps, dropName: group.dropName)
            let hasHistograms = group.members.contains { input[$0].histograms != nil }
            for step in 0..<steps {
                if hasHistograms, aggregate.op == .sum || aggregate.op == .avg,
                   group.members.contains(where: { input[$0].histogram(step) != nil }) {
                    if let h = aggregateHistograms(group, input, step: step, average: aggregate.op == .avg, position: aggregate.position) {
                        out.set(step, histogram: h)
                    }
                    continue
                }
                switch aggregate.op {
                case .sum:
                    var sum = KahanSum(), any = false
                    for m in group.members where input[m].present[step] {
                        sum.add(input[m].values[step])
                        any = true
                    }
                    if any { out.set(step, sum.value) }
                case .avg:
                    var mean = RunningMean()
                    for m in group.members where input[m].present[step] { mean.add(input[m].values[step]) }
                    if mean.count > 0 { out.set(step, mean.value) }
                case .count, .group:
                    var count = 0.0
                    for m in group.members where input[m].present[step] { count += 1 }
                    if count > 0 { out.set(step, aggregate.op == .group ? 1 : count) }
                case .min, .max:
                    var best = 0.0, any = false
                    let isMax = aggregate.op == .max
                    for m in group.members where input[m].present[step] {
                        let v = input[m].values[step]
                        if !any || best.isNaN || (isMax ? v > best : v < best) { best = v }
                        any = true
                    }
                    if any { out.set(step, best) }
                case .stddev, .stdvar:
                    buffer.removeAll(keepingCapacity: true)
                    for m in group.members where input[m].present[step] { buffer.append(input[m].values[step]) }
                    if !buffer.isEmpty {
                        let variance = RangeFunctions.variance(buffer[...])
                        out.set(step, aggregate.op == .stddev ? variance.squareRoot() : variance)
                    }
                case .quantile:
                    buffer.removeAll(keepingCapacity: true)
                    for m in group.members where input[m].present[step] { buffer.append(input[m].values[step]) }
                    if !buffer.isEmpty { out.set(step, RangeFunctions.quantile(parameter[step], buffer)) }
                case .topk, .bottomk, .limitk, .limitRatio, .countValues:
                    break
                }
            }
            if !out.isEmpty { result.append(out) }
        }
        return .vector(result)
    }

    /// `sum` or `avg` of a group at a step where it has histograms: nothing (with a warning) when
    /// floats are mixed in or the histograms cannot be added.
    func aggregateHistograms(_ group: Group, _ input: [StepSeries], step: Int, average: Bool, position: Int) -> FloatHistogram? {
        let location = context.location(position)
        var points: [FloatHistogram] = []
        for m in group.members where input[m].present[step] {
            guard let h = input[m].histogram(step) else {
                context.annotations.warn("encountered a mix of histograms and floats for aggregation", at: location)
                return nil
            }
            points.append(h)
        }
        let metric = group.labels.metricName ?? input[group.members[0]].labels.metricName ?? ""
        return sumHistograms(points, metric: metric, at: location, operation: "aggregation", average: average, reportsConflicts: true)
    }

    struct Group {
        var labels: Labels
        var members: [Int]
        var dropName: Bool
    }

    /// Partitions series by their grouping labels, in order of first appearance.
    func group(_ input: [StepSeries], _ aggregate: Aggregate) -> [Group] {
        let subset: LabelSubset = aggregate.without ? .ignoring(aggregate.grouping) : .on(aggregate.grouping)
        var groups = SubsetGroups(subset)
        for (i, series) in input.enumerated() { groups.add(series.labels, member: i) }
        return (0..<groups.count).map { g in
            let labels = subset.extract(groups.representatives[g])
            // Delayed name removal: the group drops the name if any member would have.
            let dropName = labels.metricName != nil && groups.members[g].contains { input[$0].dropName }
            return Group(labels: labels, members: groups.members[g], dropName: dropName)
        }
    }

    /// `topk`, `bottomk`, `limitk`, `limit_ratio`: keep some of each group's series, labels intact.
    func selectK(_ aggregate: Aggregate, _ input: [StepSeries], _ groups: [Group], _ parameter: [Double]) throws(PromQLError) -> [StepSeries] {
        var output = input.map { StepSeries(labels: $0.labels, steps: steps, dropName: $0.dropName) }
        // For instant queries the order of the result is the order of selection.
        var order: [Int] = []
        for step in 0..<steps {
            let p = parameter[step]
            if aggregate.op == .limitRatio {
                if p.isNaN { throw .execution("Ratio value is NaN") }
            } else {
                if p.isNaN { throw .execution("Parameter value is NaN") }
                if p >= 9.223372036854775807e18 || p <= -9.223372036854775807e18 {
                    throw .execution("Scalar value \(goFloat(p)) overflows int64")
                }
            }
        }
        for step in 0..<steps {
            var p = parameter[step]
            if aggregate.op == .limitRatio, p < -1 || p > 1 {
                let capped = p < -1 ? -1.0 : 1.0
                context.annotations.warn("ratio value should be between -1 and 1, got \(goFloat(p)), capping to \(goFloat(capped))",
                                         at: context.location(aggregate.parameterPosition))
                p = capped
            }
            let k = aggregate.op == .limitRatio ? 0 : Int(p)
            if aggregate.op != .limitRatio && k < 1 { continue }
            for group in groups {
                let present = group.members.filter { input[$0].present[step] }
                var chosen: [Int]
                switch aggregate.op {
                case .topk, .bottomk:
                    let top = aggregate.op == .topk
                    // NaN ranks below every number for both.
                    chosen = present.sorted { a, b in
                        let x = input[a].values[step], y = input[b].values[step]
                        if x.isNaN != y.isNaN { return y.isNaN }
                        if x == y || (x.isNaN && y.isNaN) { return a < b }
                        return top ? x > y : x < y
                    }
                    chosen = Array(chosen.prefix(k))
                case .limitk:
                    chosen = Array(present.prefix(k))
                default:
                    chosen = present.filter { m in
                        let offset = Double(input[m].labels.prometheusHash) / Double(UInt64.max)
                        return (p >= 0 && offset < p) || (p < 0 && offset >= 1 + p)
                    }
                }
                for m in chosen {
                    if let h = input[m].histogram(step) { output[m].set(step, histogram: h) } else { output[m].set(step, input[m].values[step]) }
                    if steps == 1 { order.append(m) }
                }
            }
        }
        if steps == 1 { return order.map { output[$0] } }
        return output.filter { !$0.isEmpty }
    }

    /// `count_values`: the value becomes a label, set before grouping, so that a grouping label of
    /// the same name is replaced by it.
    func countValues(_ label: String, _ input: [StepSeries], _ aggregate: Aggregate) throws(PromQLError) -> [StepSeries] {
        var output = SeriesByLabels(steps: steps, context: context)
        let names = Set(aggregate.grouping)
        for series in input {
            for step in 0..<steps where series.present[step] {
                let text = series.histogram(step).map(PromQLPrinter.histogramText) ?? formatValue(series.values[step])
                let labels = series.labels.setting(label, to: text)
                let key: Labels
                if aggregate.without {
                    key = Labels(sortedUnchecked: labels.pairs.filter {
                        $0.name == label || (!names.contains($0.name) && $0.name != Labels.metricName)
                    })
                } else {
                    key = Labels(sortedUnchecked: labels.pairs.filter { $0.name == label || names.contains($0.name) })
                }
                let slot = try output.slot(key, dropName: false)
                output.series[slot].set(step, output.series[slot].values[step] + 1)
            }
        }
        return output.series
    }
}

/// A float as Prometheus writes it in JSON and labels (Go's `FormatFloat(v, 'f', -1, 64)`): the
/// shortest digits that round-trip, never in exponent form; `+Inf`, `-Inf`, `NaN`.
public func formatValue(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
    if value == 0 { return value.sign == .minus ? "-0" : "0" }
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    let text = value.description
    // Swift's shortest form is Go's unless it uses an exponent.
    if !text.utf8.contains(UInt8(ascii: "e")) { return text }
    let negative = text.hasPrefix("-")
    let unsigned = negative ? String(text.dropFirst()) : text
    var mantissa = unsigned
    var exponent = 0
    if let e = unsigned.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        mantissa = String(unsigned[..<e])
        exponent = Int(unsigned[unsigned.index(after: e)...]) ?? 0
    }
    var integerPart = mantissa
    var fraction = ""
    if let dot = mantissa.firstIndex(of: ".") {
        integerPart = String(mantissa[..<dot])
        fraction = String(mantissa[mantissa.index(after: dot)...])
    }
    var digits = Array(integerPart + fraction)
    var pointPosition = integerPart.count + exponent
    while digits.count > 1, digits.first == "0", pointPosition > 1 {
        digits.removeFirst()
        pointPosition -= 1
    }
    if pointPosition <= 0 {
        digits = Array(repeating: "0", count: -pointPosition + 1) + digits
        pointPosition = 1
    }
    if pointPosition >= digits.count {
        digits += Array(repeating: "0", count: pointPosition - digits.count)
    }
    var whole = String(digits[..<pointPosition])
    var decimals = String(digits[pointPosition...])
    while decimals.hasSuffix("0") { decimals.removeLast() }
    while whole.count > 1, whole.hasPrefix("0") { whole.removeFirst() }
    let body = decimals.isEmpty ? whole : whole + "." + decimals
    return negative ? "-" + body : body
}
