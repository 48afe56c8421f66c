import ObsCore

/// Function calls: range-vector functions over windows, per-sample math, label and date functions.
extension Evaluator {
    func call(_ function: Function, _ arguments: [Expr], position: Int) throws(PromQLError) -> EvalValue {
        let name = function.name
        if function.takesMatrix { return try callRange(function, arguments, position: position) }
        switch name {
        case "time":
            return .scalar((0..<steps).map { Double(time($0)) / 1000 })
        case "pi":
            return .scalar(Array(repeating: Double.pi, count: steps))
        case "start", "end":
            let t = name == "start" ? context.queryStart : context.queryEnd
            return .scalar(Array(repeating: Double(t) / 1000, count: steps))
        case "vector":
            let values = try scalar(arguments[0])
            return .vector([StepSeries(labels: .empty, values: values, present: Array(repeating: true, count: steps), dropName: false)])
        case "scalar":
            let series = try vector(arguments[0])
            return .scalar((0..<steps).map { step in
                var found: Double?
                var count = 0
                for s in series where s.hasFloat(step) {
                    count += 1
                    found = s.values[step]
                }
                return count == 1 ? found! : .nan
            })
        case "timestamp":
            if case let .vectorSelector(selector) = unwrapParens(arguments[0]) {
                var series = try selectInstant(selector, reportTimestamps: true)
                for i in series.indices { series[i].dropName = true }
                return .vector(series)
            }
            return .vector(try mapSamples(arguments[0], keepHistograms: true) { _, step in Double(time(step)) / 1000 })
        case "absent":
            let series = try vector(arguments[0])
            var out = StepSeries(labels: absentLabels(arguments[0]), steps: steps)
            for step in 0..<steps where !series.contains(where: { $0.present[step] }) { out.set(step, 1) }
            return .vector(out.isEmpty ? [] : [out])
        case "sort", "sort_desc", "sort_by_label", "sort_by_label_desc":
            return try sort(name, arguments, position: position)
        case "label_replace":
            return try labelReplace(arguments)
        case "info":
            return try info(arguments)
        case "label_join":
            return try labelJoin(arguments)
        case "clamp", "clamp_min", "clamp_max":
            let bounds = try arguments.dropFirst().map { (arg) throws(PromQLError) in try scalar(arg) }
            var series = try floatVector(arguments[0])
            for i in series.indices {
                series[i].dropName = true
                for step in 0..<steps where series[i].present[step] {
                    let v = series[i].values[step]
                    switch name {
                    case "clamp_min": series[i].values[step] = goMax(v, bounds[0][step])
                    case "clamp_max": series[i].values[step] = goMin(v, bounds[0][step])
                    default:
                        if bounds[1][step] < bounds[0][step] {
                            series[i].present[step] = false
                        } else {
                            series[i].values[step] = goMax(goMin(v, bounds[1][step]), bounds[0][step])
                        }
                    }
                }
            }
            return .vector(series.filter { !$0.isEmpty })
        case "round":
            let nearest = arguments.count > 1 ? try scalar(arguments[1]) : Array(repeating: 1, count: steps)
            return .vector(try mapSamples(arguments[0]) { v, step in
                let inverse = 1 / nearest[step]
                return (v * inverse + 0.5).rounded(.down) / inverse
            })
        case "day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute", "month", "year":
            if arguments.isEmpty {
                let values = (0..<steps).map { Self.datePart(name, seconds: Double(time($0)) / 1000) }
                return .vector([StepSeries(labels: .empty, values: values, present: Array(repeating: true, count: steps), dropName: false)])
            }
            return .vector(try mapSamples(arguments[0]) { v, _ in Self.datePart(name, seconds: v) })
        case "histogram_quantile":
            return try histogramQuantile(arguments)
        case "histogram_quantiles":
            return try histogramQuantiles(arguments)
        case "histogram_fraction":
            return try histogramFraction(arguments)
        case "histogram_count", "histogram_sum", "histogram_avg", "histogram_stddev", "histogram_stdvar":
            return try histogramProperty(name, arguments[0])
        default:
            guard let math = Self.mathFunctions[name] else {
                throw .execution("function \"\(name)\" is not supported")
            }
            return .vector(try mapSamples(arguments[0]) { v, _ in math(v) })
        }
    }

    func unwrapParens(_ expr: Expr) -> Expr {
        if case let .paren(inner) = expr { return unwrapParens(inner) }
        return expr
    }

    func scalar(_ expr: Expr) throws(PromQLError) -> [Double] {
        guard case let .scalar(values) = try eval(expr) else { throw .execution("expected a scalar") }
        return values
    }

    func vector(_ expr: Expr) throws(PromQLError) -> [StepSeries] {
        guard case let .vector(series) = try eval(expr) else { throw .execution("expected an instant vector") }
        return series
    }

    func string(_ expr: Expr) throws(PromQLError) -> String {
        guard case let .string(text) = try eval(expr) else { throw .execution("expected a string") }
        return text
    }

    /// Applies `transform` to every sample of a vector argument; the result drops the metric name.
    /// Histogram samples are left out, except with `keepHistograms`, where they become floats too.
    func mapSamples(_ expr: Expr, keepHistograms: Bool = false, _ transform: (Double, Int) -> Double) throws(PromQLError) -> [StepSeries] {
        var series = keepHistograms ? try vector(expr) : try floatVector(expr)
        for i in series.indices {
            series[i].dropName = true
            series[i].histograms = nil
            for step in 0..<steps where series[i].present[step] {
                series[i].values[step] = transform(series[i].values[step], step)
            }
        }
        return series.filter { !$0.isEmpty }
    }

    /// An instant vector with histogram samples left out, for operators that read floats only.
    func floatVector(_ expr: Expr) throws(PromQLError) -> [StepSeries] {
        try vector(expr).compactMap { s in
            guard s.histograms != nil else { return s }
            let floats = s.floatsOnly
            return floats.isEmpty ? nil : floats
        }
    }

    static let mathFunctions: [String: @Sendable (Double) -> Double] = [
        "abs": { Swift.abs($0) }, "ceil": { $0.rounded(.up) }, "floor": { $0.rounded(.down) },
        "exp": { exp($0) }, "sqrt": { $0.squareRoot() }, "ln": { log($0) },
        "log2": { log2($0) }, "log10": { log10($0) },
        "sgn": { $0 > 0 ? 1 : $0 < 0 ? -1 : $0 },
        "deg": { $0 * 180 / Double.pi }, "rad": { $0 * Double.pi / 180 },
        "acos": { acos($0) }, "acosh": { acosh($0) }, "asin": { asin($0) },
        "asinh": { asinh($0) }, "atan": { atan($0) }, "atanh": { atanh($0) },
        "cos": { cos($0) }, "cosh": { cosh($0) }, "sin": { sin($0) },
        "sinh": { sinh($0) }, "tan": { tan($0) }, "tanh": { tanh($0) },
    ]

    static func datePart(_ name: String, seconds: Double) -> Double {
        guard seconds.isFinite, abs(seconds) < 1e15 else { return .nan }
        var raw = time_t(Int64(seconds.rounded(.down)))
        var parts = tm()
        gmtime_r(&raw, &parts)
        let year = Int(parts.tm_year) + 1900
        switch name {
        case "day_of_month": return Double(parts.tm_mday)
        case "day_of_week": return Double(parts.tm_wday)
        case "day_of_year": return Double(parts.tm_yday + 1)
        case "hour": return Double(parts.tm_hour)
        case "minute": return Double(parts.tm_min)
        case "month": return Double(parts.tm_mon + 1)
        case "year": return Double(year)
        default:
            let month = Int(parts.tm_mon) + 1
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
            let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            return Double(days[month - 1])
        }
    }

    /// Labels `absent` gives its series: the selector's equality matchers, except the metric name and
    /// names matched more than once.
    func absentLabels(_ expr: Expr) -> Labels {
        let matchers: [LabelMatcher]
        switch unwrapParens(expr) {
        case let .vectorSelector(selector): matchers = selector.matchers
        case let .matrixSelector(selector, _, _): matchers = selector.matchers
        default: matchers = []
        }
        var pairs: [String: String] = [:]
        var repeated: Set<String> = []
        for matcher in matchers where matcher.name != Labels.metricName {
            if pairs[matcher.name] != nil || repeated.contains(matcher.name) {
                repeated.insert(matcher.name)
                pairs[matcher.name] = nil
                continue
            }
            if matcher.kind == .equal { pairs[matcher.name] = matcher.value }
        }
        return Labels(pairs)
    }

    // MARK: Range-vector functions

    func callRange(_ function: Function, _ arguments: [Expr], position: Int) throws(PromQLError) -> EvalValue {
        let name = function.name
        guard let matrixIndex = function.argumentTypes.firstIndex(of: .matrix) else { throw .execution("no range argument") }
        var scalars: [[Double]] = []
        for (i, argument) in arguments.enumerated() where i != matrixIndex {
            scalars.append(try scalar(argument))
        }
        if name == "holt_winters" || name == "double_exponential_smoothing" {
            for step in 0..<steps {
                let sf = scalars[0][step], tf = scalars[1][step]
                // Prometheus prints these with Go's %f.
                if !(sf > 0 && sf < 1) { throw .execution("invalid smoothing factor. Expected: 0 < sf < 1, got: \(CFormat.double("%f", sf))") }
                if !(tf > 0 && tf < 1) { throw .execution("invalid trend factor. Expected: 0 < tf < 1, got: \(CFormat.double("%f", tf))") }
            }
        }
        if name == "quantile_over_time" {
            for q in scalars[0] where q.isNaN || q < 0 || q > 1 {
                context.annotations.warn("quantile value should be between 0 and 1, got \(goFloat(q))",
                                         at: context.location(startPosition(arguments[0])))
            }
        }
        let input = try rangeInput(arguments[matrixIndex])
        if name == "absent_over_time" {
            var out = StepSeries(labels: absentLabels(arguments[matrixIndex]), steps: steps)
            var windows = input.series.map { _ in WindowCursor() }
            for step in 0..<steps {
                var any = false
                for i in input.series.indices where windows[i].advance(input.series[i], input: input, step: step) > 0 { any = true }
                if !any { out.set(step, 1) }
            }
            return .vector(out.isEmpty ? [] : [out])
        }
        if input.mode != .normal {
            return .vector(extendedRange(name, input, at: context.location(startPosition(arguments[matrixIndex]))))
        }
        guard let kernel = RangeFunctions.kernel(name, scalars: scalars, legacy: context.options.compatibility == .prometheus2) else {
            throw .execution("function \"\(name)\" is not supported")
        }
        if name == "rate" || name == "increase" {
            for series in input.series where !series.hasHistogramSamples {
                if let metric = series.labels.metricName, !Self.looksLikeCounter(metric) {
                    context.annotations.info("metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"\(metric)\"",
                                             at: context.location(startPosition(arguments[matrixIndex])))
                }
            }
        }
        let keepsName = name == "last_over_time" || name == "first_over_time"
        let countsResets = name == "rate" || name == "increase"
        let location = context.location(startPosition(arguments[matrixIndex]))
        // Float series: every series on its own, so they are spread over the cores. Histogram
        // windows may add annotations to the query, which is one thread's: those stay on it.
        let floats = Parallel.map(input.series.count) { index -> StepSeries? in
            let series = input.series[index]
            guard series.histograms == nil else { return nil }
            return floatRange(series, input: input, kernel: kernel, countsResets: countsResets,
                              dropName: keepsName ? series.dropName : true)
        }
        var result: [StepSeries] = []
        result.reserveCapacity(input.series.count)
        for (index, series) in input.series.enumerated() {
            if let out = floats[index] {
                if !out.isEmpty { result.append(out) }
                continue
            }
            var out = StepSeries(labels: series.labels, steps: steps, dropName: keepsName ? series.dropName : true)
            var cursor = WindowCursor()
            for step in 0..<steps {
                _ = cursor.advance(series, input: input, step: step)
                switch histogramWindow(name, series, lower: cursor.lower, upper: cursor.upper, step: step,
                                       input: input, kernel: kernel, at: location) {
                case let .float(value)?: out.set(step, value)
                case let .histogram(h)?: out.set(step, histogram: h)
                case nil: break
                }
            }
            if !out.isEmpty { result.append(out) }
        }
        return .vector(result)
    }

    /// One float series' range function at every step. Touches nothing shared, so series may be
    /// evaluated on several threads at once.
    private func floatRange(_ series: RangeSeries, input: RangeInput, kernel: RangeFunctions.Kernel, countsResets: Bool,
                            dropName: Bool) -> StepSeries {
        var out = StepSeries(labels: series.labels, steps: steps, dropName: dropName)
        // Running count of counter resets, so each window knows in O(1) whether it has any.
        var resetsBefore: [Int32] = []
        if countsResets {
            resetsBefore.reserveCapacity(series.values.count)
            var count: Int32 = 0
            for (i, v) in series.values.enumerated() {
                if i > 0, v < series.values[i - 1] { count += 1 }
                resetsBefore.append(count)
            }
        }
        var cursor = WindowCursor()
        series.timestamps.withUnsafeBufferPointer { timestamps in
            series.values.withUnsafeBufferPointer { values in
                for step in 0..<steps {
                    guard cursor.advance(series, input: input, step: step) > 0 else { continue }
                    let end = input.windowEnd(step)
                    var window = Window(timestamps: timestamps[cursor.lower..<cursor.upper],
                                        values: values[cursor.lower..<cursor.upper],
                                        start: end - input.range, end: end, range: input.range, stepTime: time(step))
                    if countsResets { window.mayHaveResets = resetsBefore[cursor.upper - 1] != resetsBefore[cursor.lower] }
                    if let value = kernel(window, step) { out.set(step, value) }
                }
            }
        }
        return out
    }

    /// `anchored` and `smoothed` windows: the value at the window's start comes from the sample
    /// before it (anchored) or from interpolating across it (smoothed), and `rate`, `increase` and
    /// `delta` take the plain difference, without extrapolation.
    func extendedRange(_ name: String, _ input: RangeInput, at location: String) -> [StepSeries] {
        input.series.map { extendedRangeSeries(name, $0, input, at: location) }.filter { !$0.isEmpty }
    }

    static func looksLikeCounter(_ name: String) -> Bool {
        name.hasSuffix("_total") || name.hasSuffix("_sum") || name.hasSuffix("_count") || name.hasSuffix("_bucket")
    }

    /// Where an expression starts in the query text, for annotations.
    func startPosition(_ expr: Expr) -> Int {
        switch expr {
        case let .vectorSelector(selector), let .matrixSelector(selector, _, _): return selector.position
        case let .call(_, _, position): return position
        case let .aggregate(aggregate): return aggregate.position
        case let .subquery(inner, _, _, _): return startPosition(inner)
        case let .binary(binary): return startPosition(binary.lhs)
        case let .paren(inner), let .negate(inner): return max(0, startPosition(inner) - 1)
        default: return 0
        }
    }

    // MARK: Sorting and labels

    func sort(_ name: String, _ arguments: [Expr], position: Int) throws(PromQLError) -> EvalValue {
        var series = name.hasPrefix("sort_by_label") ? try vector(arguments[0]) : try floatVector(arguments[0])
        if steps > 1 || context.queryStep > 0 {
            context.annotations.warn("sort is ineffective for range queries since results are always ordered by labels",
                                     at: context.location(position))
            return .vector(series)
        }
        switch name {
        case "sort", "sort_desc":
            let descending = name == "sort_desc"
            series.sort { a, b in
                let x = a.values[0], y = b.values[0]
                if x.isNaN { return false }
                if y.isNaN { return true }
                return descending ? x > y : x < y
            }
        default:
            let labels = try arguments.dropFirst().map { (arg) throws(PromQLError) in try string(arg) }
            let descending = name == "sort_by_label_desc"
            series.sort { a, b in
                for label in labels {
                    let x = a.labels[label] ?? "", y = b.labels[label] ?? ""
                    if x == y { continue }
                    return naturalLess(x, y) != descending
                }
                return descending ? b.labels < a.labels : a.labels < b.labels
            }
        }
        return .vector(series)
    }

    func labelReplace(_ arguments: [Expr]) throws(PromQLError) -> EvalValue {
        let destination = try string(arguments[1])
        let replacement = try string(arguments[2])
        let source = try string(arguments[3])
        let pattern = try string(arguments[4])
        let regex: LinearRegex
        do {
            regex = try LinearRegex(pattern, dotMatchesNewline: true)
        } catch {
            throw .execution("invalid regular expression in label_replace(): \(pattern)")
        }
        guard isValidLabelName(destination, legacy: context.options.compatibility == .prometheus2) else {
            throw .execution("invalid destination label name in label_replace(): \(destination)")
        }
        var series = try vector(arguments[0])
        // Many series share a source value (one instance, many devices): match each value once.
        var replacements: [String: String?] = [:]
        for i in series.indices {
            let value = series[i].labels[source] ?? ""
            let replaced: String?
            if let known = replacements[value] {
                replaced = known
            } else {
                replaced = regex.wholeMatch(value).map { $0.expand(replacement) }
                replacements[value] = replaced
            }
            guard let expanded = replaced else { continue }
            series[i].labels = series[i].labels.setting(destination, to: expanded)
            if destination == Labels.metricName { series[i].dropName = false }
        }
        return .vector(try mergeSameLabels(series))
    }

    func labelJoin(_ arguments: [Expr]) throws(PromQLError) -> EvalValue {
        let destination = try string(arguments[1])
        let separator = try string(arguments[2])
        let sources = try arguments.dropFirst(3).map { (arg) throws(PromQLError) in try string(arg) }
        guard isValidLabelName(destination, legacy: context.options.compatibility == .prometheus2) else {
            throw .execution("invalid destination label name in label_join(): \(destination)")
        }
        var series = try vector(arguments[0])
        for i in series.indices {
            let joined = sources.map { series[i].labels[$0] ?? "" }.joined(separator: separator)
            series[i].labels = series[i].labels.setting(destination, to: joined)
            if destination == Labels.metricName { series[i].dropName = false }
        }
        return .vector(try mergeSameLabels(series))
    }

}

/// Go's `math.Max`/`math.Min`: NaN wins.
@inline(__always) func goMax(_ a: Double, _ b: Double) -> Double { a.isNaN || b.isNaN ? .nan : Swift.max(a, b) }
@inline(__always) func goMin(_ a: Double, _ b: Double) -> Double { a.isNaN || b.isNaN ? .nan : Swift.min(a, b) }

/// Formats a float like Go's `%g`/`strconv.FormatFloat(f, 'f', -1, 64)` in messages.
func goFloat(_ value: Double) -> String { GoFloat.format(value) }

/// Prometheus 3 accepts any non-empty UTF-8 label name; Prometheus 2 only `[a-zA-Z_][a-zA-Z0-9_]*`.
func isValidLabelName(_ name: String, legacy: Bool) -> Bool {
    guard let first = name.utf8.first else { return false }
    if legacy {
        return isIdentifierStart(first) && name.utf8.allSatisfy { isIdentifierStart($0) || isDigit($0) }
    }
    return String(validatingCString: name) != nil && !name.unicodeScalars.contains("\u{FFFD}")
}

/// Natural ordering: digit runs compare as numbers.
func naturalLess(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    var i = 0, j = 0
    while i < x.count && j < y.count {
        if isDigit(x[i]) && isDigit(y[j]) {
            var ie = i, je = j
            while ie < x.count && isDigit(x[ie]) { ie += 1 }
            while je < y.count && isDigit(y[je]) { je += 1 }
            let nx = x[i..<ie].drop { $0 == 0x30 }, ny = y[j..<je].drop { $0 == 0x30 }
            if nx.count != ny.count { return nx.count < ny.count }
            if !nx.elementsEqual(ny) { return nx.lexicographicallyPrecedes(ny) }
            i = ie
            j = je
        } else {
            if x[i] != y[j] { return x[i] < y[j] }
            i += 1
            j += 1
        }
    }
    return x.count - i < y.count - j
}

/// Moves a window `(end - range, end]` forward over a series' samples, step by step.
struct WindowCursor {
    var lower = 0
    var upper = 0

    /// Number of samples in step `step`'s window.
    mutating func advance(_ series: RangeSeries, input: Evaluator.RangeInput, step: Int) -> Int {
        let end = input.windowEnd(step)
        let start = end - input.range
        let timestamps = series.timestamps
        if step > 0, end < input.windowEnd(step - 1) { lower = 0; upper = 0 }
        while upper < timestamps.count, timestamps[upper] <= end { upper += 1 }
        while lower < upper, timestamps[lower] < start + input.windowStartOffset { lower += 1 }
        if lower > upper { lower = upper }
        return upper - lower
    }
}
