import ObsCore
import QueryEngine

/// Runs promtool's rule unit tests on the project's own PromQL engine and rule evaluation: loads
/// each group's input series, evaluates every rule group at every evaluation interval from time 0
/// to the last `eval_time`, and compares the firing alerts and the expression results with what
/// the test expects.
public struct RuleTestRunner {
    public struct Options {
        /// Only test groups whose names match one of these (unanchored) patterns.
        public var run: [String] = []
        public var ignoreUnknownFields = false

        public init() {}
    }

    public var options: Options

    public init(options: Options = Options()) {
        self.options = options
    }

    /// Tests one file; the report goes to `output`. True when every test group passed.
    public func test(file path: String, output: (String) -> Void) async -> Bool {
        output("Unit Testing:  \(path)\n")
        let errors = await errors(in: path)
        if errors.isEmpty {
            output("  SUCCESS\n\n")
            return true
        }
        output("  FAILED:\n")
        for error in errors { output(error + "\n") }
        output("\n")
        return false
    }

    func errors(in path: String) async -> [String] {
        let file: RuleTestFile
        do {
            file = try RuleTestFile.load(path)
        } catch {
            return [error.description]
        }
        let directory = FileIO.directoryPart(of: path)
        var ruleFiles: [String] = []
        for pattern in file.ruleFiles {
            let absolute = pattern.hasPrefix("/") ? pattern : (directory.isEmpty ? pattern : directory + "/" + pattern)
            let matches = RuleFileGlob.expand(absolute)
            if matches.isEmpty { return ["    \(pattern): no rule file matches"] }
            ruleFiles += matches
        }
        var patterns: [LinearRegex] = []
        for pattern in options.run {
            do { patterns.append(try LinearRegex(pattern)) } catch { return ["    --run \(pattern): \(error)"] }
        }
        var errors: [String] = []
        for group in file.tests {
            if !patterns.isEmpty && !patterns.contains(where: { $0.occurs(in: group.name) }) { continue }
            var groupErrors = await test(group, file: file, ruleFiles: ruleFiles)
            if !groupErrors.isEmpty && !group.name.isEmpty {
                groupErrors.insert("    name: \(group.name),", at: 0)
            }
            errors += groupErrors
        }
        return errors
    }

    /// One test group: load, evaluate, compare.
    func test(_ group: RuleTestFile.TestGroup, file: RuleTestFile, ruleFiles: [String]) async -> [String] {
        let store = MemoryMetrics()
        var appender = store.appender()
        for input in group.inputSeries {
            do {
                let labels = try SeriesNotation.metric(input.series)
                for (index, value) in try SeriesNotation.values(input.values).enumerated() {
                    let time = group.start + Int64(index) * group.interval
                    switch value {
                    case .missing: continue
                    case let .float(number): _ = try? appender.append(labels, ref: nil, timestamp: time, value: number)
                    case let .histogram(histogram): _ = try? appender.appendHistogram(labels, ref: nil, timestamp: time, histogram: histogram)
                    }
                }
            } catch {
                return ["    input series \(JSONText.quote(input.series)): \(error.description)"]
            }
        }
        try? await appender.commit()

        // Rule groups, in `group_eval_order` when given.
        var groups: [RuleGroup] = []
        do {
            for path in ruleFiles {
                let ruleFile = try RuleFile.load(path, ignoreUnknownFields: options.ignoreUnknownFields)
                for spec in ruleFile.groups { groups.append(try RuleGroup(spec: spec, defaultInterval: group.interval)) }
            }
        } catch {
            return ["    \(error.description)"]
        }
        if !file.groupEvalOrder.isEmpty {
            var ordered: [RuleGroup] = []
            for name in file.groupEvalOrder {
                guard let match = groups.first(where: { $0.name == name }) else {
                    return ["    group \"\(name)\" in group_eval_order not found in the rule files"]
                }
                ordered.append(match)
            }
            groups = ordered + groups.filter { g in !file.groupEvalOrder.contains(g.name) }
        }
        for group in groups {
            for rule in group.alertingRules { rule.setRestored() }
        }

        var engine = PromQLEngine()
        engine.options.lookbackDelta = 5 * 60_000
        let querier = PromQLRuleQuerier(engine: engine, store: store)
        for test in group.alertTests where test.alertname.isEmpty {
            let suffix = group.name.isEmpty ? "" : " (in TestGroup \(group.name))"
            return ["an item under alert_rule_test misses required attribute alertname at eval_time \(PrometheusDuration(milliseconds: test.evalTime))\(suffix)"]
        }
        let alertTimes = Array(Set(group.alertTests.map(\.evalTime))).sorted()
        let maxTime = max(alertTimes.last ?? 0, group.exprTests.map(\.evalTime).max() ?? 0)
        var errors: [String] = []
        var next = 0
        var time: Int64 = 0
        while time <= maxTime {
            store.horizon = group.start + time
            var evalErrors: [String] = []
            for ruleGroup in groups {
                let outcome = await ruleGroup.evaluate(at: group.start + time, querier: querier, appendable: store,
                                                       externalLabels: group.externalLabels, externalURL: group.externalURL,
                                                       now: { 0 })
                for failure in outcome.failures {
                    evalErrors.append("    rule: \(failure.rule), time: \(PrometheusDuration(milliseconds: time)), err: \(failure.error)")
                }
            }
            if !evalErrors.isEmpty { return errors + evalErrors }
            // Alerts checked at an `eval_time` in [time, time + interval) compare with this evaluation.
            while next < alertTimes.count && alertTimes[next] >= time && alertTimes[next] < time + file.evaluationInterval {
                let at = alertTimes[next]
                for test in group.alertTests where test.evalTime == at {
                    errors += compareAlerts(test, groups: groups)
                }
                next += 1
            }
            time += file.evaluationInterval
        }

        for test in group.exprTests {
            errors += compareExpression(test, group: group, querier: querier, fuzzy: file.fuzzyCompare)
        }
        return errors
    }

    private func compareAlerts(_ test: RuleTestFile.AlertTest, groups: [RuleGroup]) -> [String] {
        var got: [(labels: Labels, annotations: Labels)] = []
        for group in groups {
            for rule in group.alertingRules where rule.name == test.alertname {
                for alert in rule.alerts where alert.state == .firing {
                    got.append((alert.labels, Labels(sortedUnchecked: alert.annotations)))
                }
            }
        }
        var expected: [(labels: Labels, annotations: Labels)] = []
        for alert in test.expected {
            var labels = alert.labels
            labels["alertname"] = test.alertname
            let annotations = alert.annotations.map { Label($0.key, $0.value) }.sorted { $0.name < $1.name }
            expected.append((Labels(labels.map { Label($0.key, $0.value) }), Labels(sortedUnchecked: annotations)))
        }
        let order: ((labels: Labels, annotations: Labels), (labels: Labels, annotations: Labels)) -> Bool = {
            $0.labels == $1.labels ? $0.annotations.pairs.lexicographicallyPrecedes($1.annotations.pairs) : $0.labels < $1.labels
        }
        got.sort(by: order)
        expected.sort(by: order)
        let same = got.count == expected.count && zip(got, expected).allSatisfy {
            $0.labels == $1.labels && $0.annotations.pairs == $1.annotations.pairs
        }
        guard !same else { return [] }
        func show(_ list: [(labels: Labels, annotations: Labels)]) -> String {
            "[" + list.enumerated().map { "\n            \($0.offset):\n              Labels:\($0.element.labels)\n              Annotations:\(Self.show($0.element.annotations))" }.joined() + "\n        ]"
        }
        return ["    alertname: \(test.alertname), time: \(PrometheusDuration(milliseconds: test.evalTime)), \n        exp:\(show(expected)), \n        got:\(show(got))"]
    }

    static func show(_ annotations: Labels) -> String {
        "{" + annotations.pairs.map { "\($0.name)=\(JSONText.quote($0.value))" }.joined(separator: ", ") + "}"
    }

    private func compareExpression(_ test: RuleTestFile.ExprTest, group: RuleTestFile.TestGroup,
                                   querier: PromQLRuleQuerier, fuzzy: Bool) -> [String] {
        let prefix = "    expr: \(JSONText.quote(test.expr)), time: \(test.evalTimeText)"
        let got: [Sample]
        do {
            got = try querier.vector(test.expr, at: group.start + test.evalTime)
        } catch {
            return ["\(prefix), err: \(error.description)"]
        }
        var expected: [Sample] = []
        for sample in test.expected {
            do {
                let labels = sample.labels.trimmingSpaces().isEmpty || sample.labels.trimmingSpaces() == "{}"
                    ? Labels.empty : try SeriesNotation.metric(sample.labels)
                var histogram: FloatHistogram?
                if let text = sample.histogram {
                    guard case let .histogram(h)? = try SeriesNotation.values(text).first else {
                        throw SeriesNotation.Invalid(description: "invalid histogram \(JSONText.quote(text))")
                    }
                    histogram = h
                }
                expected.append(Sample(labels: labels, point: Point(t: 0, f: sample.value), histogram: histogram))
            } catch {
                return ["\(prefix), err: labels \(JSONText.quote(sample.labels)): \(error)"]
            }
        }
        let sortedGot = got.sorted { $0.labels < $1.labels }
        let sortedExpected = expected.sorted { $0.labels < $1.labels }
        let same = sortedGot.count == sortedExpected.count && zip(sortedGot, sortedExpected).allSatisfy { g, e in
            guard g.labels == e.labels else { return false }
            switch (g.histogram, e.histogram) {
            case (nil, nil): return Self.equal(g.point.f, e.point.f, fuzzy: fuzzy)
            case let (gh?, eh?): return Self.equal(gh, eh)
            default: return false
            }
        }
        guard !same else { return [] }
        func show(_ samples: [Sample]) -> String {
            "[" + samples.map { s in "\(s.labels) \(s.histogram.map { Self.show($0) } ?? GoFloat.format(s.point.f))" }.joined(separator: " ") + "]"
        }
        return ["\(prefix),\n        exp: \(show(sortedExpected))\n        got: \(show(sortedGot))"]
    }

    /// Exact, or within two units in the last place when the test file asks for fuzzy comparison.
    static func equal(_ a: Double, _ b: Double, fuzzy: Bool) -> Bool {
        if a == b || (StaleMarker.isStale(a) && StaleMarker.isStale(b)) { return true }
        guard fuzzy, a.isFinite, b.isFinite else { return false }
        return abs(a - b) <= 2 * max(a.ulp, b.ulp)
    }

    /// Histograms compare by their counts, sum, schema, zero bucket and non-empty buckets.
    static func equal(_ a: FloatHistogram, _ b: FloatHistogram) -> Bool {
        func buckets(_ list: [FloatHistogram.Bucket]) -> [FloatHistogram.Bucket] { list.filter { $0.count != 0 } }
        return a.schema == b.schema && a.count == b.count && a.sum == b.sum && a.zeroCount == b.zeroCount
            && a.zeroThreshold == b.zeroThreshold && buckets(a.positive) == buckets(b.positive)
            && buckets(a.negative) == buckets(b.negative) && a.customValues == b.customValues
    }

    static func show(_ h: FloatHistogram) -> String {
        var parts = ["schema:\(h.schema)", "count:\(GoFloat.format(h.count))", "sum:\(GoFloat.format(h.sum))"]
        if h.zeroCount != 0 { parts.append("z_bucket:\(GoFloat.format(h.zeroCount))") }
        parts.append("buckets:" + h.positive.map { "\($0.index):\(GoFloat.format($0.count))" }.joined(separator: ","))
        if !h.negative.isEmpty { parts.append("n_buckets:" + h.negative.map { "\($0.index):\(GoFloat.format($0.count))" }.joined(separator: ",")) }
        return "{{" + parts.joined(separator: " ") + "}}"
    }
}

/// Shell-style globbing of rule file patterns (`rules/*.yml`), sorted as Go's `filepath.Glob`.
public enum RuleFileGlob {
    public static func expand(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }
}
