import ObsCore

/// Runs a log query's pipeline over entries: line filters, parsers, label filters, `drop`/`keep`,
/// `decolorize`, `unwrap`, as Loki evaluates them, with its `__error__` labels when parsing or a
/// conversion fails. `line_format` and `label_format` templates are refused at construction until
/// the template engine exists. Immutable once built; thread-safe.
public struct LogPipeline: @unchecked Sendable {
    // Compiled stages: regexes, patterns and templates are built once and only read after.
    enum Step {
        case lineFilter(LineFilter.Kind, [LineMatcher])
        case json([LabelExtraction])
        case logfmt(strict: Bool, keepEmpty: Bool, [LabelExtraction])
        case regexp(LinearRegex)
        case pattern(LogPattern)
        case unpack
        case labelFilter(LabelFilterExpr)
        case lineFormat(GoTemplate)
        case labelFormat([(destination: String, value: LabelFormatValue)])
        case drop([LabelSelection])
        case keep([LabelSelection])
        case decolorize
        case unwrap(String, UnwrapConversion?)
    }

    /// One value of a line filter, ready to match.
    enum LineMatcher {
        case substring(String)
        case regex(LinearRegex)
        case pattern(LogPattern)

        func matches(_ line: String) -> Bool {
            switch self {
            case let .substring(text): text.isEmpty || line.contains(text)
            case let .regex(regex): regex.occurs(in: line)
            case let .pattern(pattern): pattern.match(line) != nil
            }
        }
    }

    /// What `label_format` sets a label to.
    enum LabelFormatValue {
        case rename(String)
        case template(GoTemplate)
    }

    /// A stage that cannot be built: a template that does not parse.
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    let steps: [Step]
    /// Labels the query can observe, when known: parsers extract only these. Few, so an array.
    let hints: [String]?

    /// Builds the stages; with `needing`, parsers extract only the labels named in it or in
    /// any stage (a metric query grouped `by` those labels sees no others).
    public init(_ stages: [PipelineStage], needing needed: Set<String>? = nil) throws {
        hints = needed.flatMap { Self.hints(stages, needed: $0) }.map { Array($0).sorted() }
        var steps: [Step] = []
        for stage in stages {
            switch stage {
            case let .lineFilter(filter):
                let matchers: [LineMatcher] = try filter.values.map { value in
                    switch filter.kind {
                    case .contains, .notContains: return .substring(value)
                    case .regex, .notRegex: return .regex(try LinearRegex(value))
                    case .pattern, .notPattern: return .pattern(try LogPattern(value))
                    }
                }
                steps.append(.lineFilter(filter.kind, matchers))
            case let .json(extractions): steps.append(.json(extractions))
            case let .logfmt(strict, keepEmpty, extractions): steps.append(.logfmt(strict: strict, keepEmpty: keepEmpty, extractions))
            case let .regexp(source):
                steps.append(.regexp(try LinearRegex(source)))
            case let .pattern(source): steps.append(.pattern(try LogPattern(source)))
            case .unpack: steps.append(.unpack)
            case let .labelFilter(filter): steps.append(.labelFilter(filter))
            case let .lineFormat(source):
                steps.append(.lineFormat(try Self.template(source)))
            case let .labelFormat(items):
                steps.append(.labelFormat(try items.map { item in
                    switch item {
                    case let .rename(destination, source): (destination, .rename(source))
                    case let .template(destination, source): (destination, .template(try Self.template(source)))
                    }
                }))
            case let .drop(items): steps.append(.drop(items))
            case let .keep(items): steps.append(.keep(items))
            case .decolorize: steps.append(.decolorize)
            case let .unwrap(label, conversion): steps.append(.unwrap(label, conversion))
            }
        }
        self.steps = steps
    }

    /// `needed` plus every label a stage reads; nil when a stage may read any label (templates).
    static func hints(_ stages: [PipelineStage], needed: Set<String>) -> Set<String>? {
        var names = needed.union(["__error__", "__error_details__"])
        func add(_ filter: LabelFilterExpr) {
            switch filter {
            case let .matcher(matcher): names.insert(matcher.name)
            case let .number(label, _, _), let .duration(label, _, _), let .bytes(label, _, _): names.insert(label)
            case let .and(left, right), let .or(left, right):
                add(left)
                add(right)
            }
        }
        for stage in stages {
            switch stage {
            case .lineFilter, .json, .logfmt, .regexp, .pattern, .unpack, .decolorize: break
            case let .labelFilter(filter): add(filter)
            case .lineFormat: return nil
            case let .labelFormat(items):
                for item in items {
                    guard case let .rename(destination, source) = item else { return nil }
                    names.insert(destination)
                    names.insert(source)
                }
            case let .drop(items), let .keep(items):
                for item in items {
                    switch item {
                    case let .name(name): names.insert(name)
                    case let .matcher(matcher): names.insert(matcher.name)
                    }
                }
            case let .unwrap(label, _): names.insert(label)
            }
        }
        return names
    }

    static func template(_ source: String) throws -> GoTemplate {
        do {
            return try GoTemplate(source)
        } catch {
            throw Invalid(description: "invalid template \(JSONText.quote(source)): \(error)")
        }
    }

    /// The result of running the pipeline on one entry.
    public struct Output: Equatable {
        public var line: String
        public var labels: Labels
        /// The unwrapped value, when the pipeline ends in `unwrap`.
        public var value: Double?
    }

    /// Runs the pipeline on one line with its stream labels (structured metadata included); nil when
    /// a filter drops it.
    public func process(line input: String, labels stream: Labels, timestamp: Int64 = 0) -> Output? {
        var labels: [String: String] = [:]
        for label in stream { labels[label.name] = label.value }
        guard let (line, value) = run(line: input, timestamp: timestamp, labels: &labels) else { return nil }
        return Output(line: line, labels: Labels(labels.map { Label($0.key, $0.value) }), value: value)
    }

    /// Runs the pipeline on one line whose labels (stream labels and structured metadata) are in
    /// `labels`, which it updates; returns the line and unwrapped value, nil when a filter drops it.
    /// For callers that build their own label sets from the dictionary.
    public func run(line input: String, timestamp: Int64, labels: inout [String: String]) -> (line: String, value: Double?)? {
        var line = input
        // The stream's own labels, which extracted labels must not overwrite. Shares storage with
        // `labels` until the first change, so keeping it costs nothing.
        let base = labels
        var value: Double?
        for step in steps {
            switch step {
            case let .lineFilter(kind, matchers):
                let matched = matchers.contains { $0.matches(line) }
                let positive = kind == .contains || kind == .regex || kind == .pattern
                // `!= "a" or "b"` drops lines containing either.
                if positive ? !matched : matched { return nil }
            case let .json(extractions):
                LogParsers.json(line, extractions: extractions, hints: hints, base: base, into: &labels)
            case let .logfmt(strict, keepEmpty, extractions):
                LogParsers.logfmt(line, strict: strict, keepEmpty: keepEmpty, extractions: extractions, hints: hints, base: base,
                                  into: &labels)
            case let .regexp(regex):
                if let match = regex.firstMatch(line) {
                    for (name, captured) in match.groups {
                        guard let name, let captured else { continue }
                        LogParsers.set(name, captured, base: base, in: &labels)
                    }
                }
            case let .pattern(pattern):
                if let captures = pattern.match(line) {
                    for (name, captured) in captures { LogParsers.set(name, captured, base: base, in: &labels) }
                }
            case .unpack:
                if let packed = LogParsers.unpack(line, base: base, into: &labels) { line = packed }
            case let .labelFilter(filter):
                if !LabelFilterEvaluation.keep(filter, &labels) { return nil }
            case let .lineFormat(template):
                do {
                    line = try template.render(GoTemplate.Context(labels: labels, line: line, timestamp: timestamp))
                } catch {
                    LogParsers.error("TemplateFormatErr", "\(error)", in: &labels)
                }
            case let .labelFormat(items):
                // As Loki: templates see the labels as they were at the first template of the stage.
                var snapshot: [String: String]?
                for (destination, value) in items {
                    switch value {
                    case let .rename(source):
                        if let moved = labels.removeValue(forKey: source) { labels[destination] = moved }
                    case let .template(template):
                        if snapshot == nil { snapshot = labels }
                        do {
                            labels[destination] = try template.render(GoTemplate.Context(labels: snapshot!, line: line, timestamp: timestamp))
                        } catch {
                            LogParsers.error("TemplateFormatErr", "\(error)", in: &labels)
                        }
                    }
                }
            case let .drop(items):
                for item in items {
                    switch item {
                    case let .name(name): labels[name] = nil
                    case let .matcher(matcher):
                        if let current = labels[matcher.name], matcher.matches(current) { labels[matcher.name] = nil }
                    }
                }
            case let .keep(items):
                var kept: [String: String] = [:]
                for item in items {
                    switch item {
                    case let .name(name): kept[name] = labels[name]
                    case let .matcher(matcher):
                        if let current = labels[matcher.name], matcher.matches(current) { kept[matcher.name] = current }
                    }
                }
                labels = kept
            case .decolorize:
                line = LogParsers.decolorize(line)
            case let .unwrap(name, conversion):
                guard let text = labels[name] else {
                    labels["__error__"] = "SampleExtractionErr"
                    labels["__error_details__"] = "label \(name) not found"
                    continue
                }
                switch conversion {
                case nil: value = Double(text)
                case .bytes?: value = LogQLValues.bytes(text) ?? Double(text)
                case .duration?, .durationSeconds?:
                    value = LogQLValues.durationNanoseconds(text).map { Double($0) / 1e9 }
                }
                if value == nil {
                    labels["__error__"] = "SampleExtractionErr"
                    labels["__error_details__"] = "strconv.ParseFloat: parsing \(JSONText.quote(text)): invalid syntax"
                } else {
                    // The unwrapped label becomes the value, not a label of the series.
                    labels[name] = nil
                }
            }
        }
        return (line, value)
    }

    /// Whether every stage is a line filter: entries keep their stream's labels and line.
    public var onlyFiltersLines: Bool {
        steps.allSatisfy { if case .lineFilter = $0 { true } else { false } }
    }

    /// Whether `pushdownFilter` decides alone which lines pass: every stage is a substring filter.
    public var pushdownIsExact: Bool {
        steps.allSatisfy { step in
            guard case let .lineFilter(kind, matchers) = step, kind == .contains || kind == .notContains else { return false }
            return matchers.allSatisfy { if case .substring = $0 { true } else { false } }
        }
    }

    /// The line filters before any stage that changes the line, as a byte-level test a store can
    /// apply before it decodes lines (substring filters only; the rest run in `process`).
    public var pushdownFilter: (@Sendable (UnsafeRawBufferPointer) -> Bool)? {
        var needles: [(positive: Bool, values: [[UInt8]])] = []
        for step in steps {
            guard case let .lineFilter(kind, matchers) = step else { break }
            guard kind == .contains || kind == .notContains else { continue }
            var values: [[UInt8]] = []
            for matcher in matchers {
                guard case let .substring(text) = matcher else { continue }
                values.append(Array(text.utf8))
            }
            needles.append((kind == .contains, values))
        }
        guard !needles.isEmpty else { return nil }
        let frozen = needles
        return { line in
            for needle in frozen {
                let found = needle.values.contains { value in value.isEmpty || LogParsers.contains(line, value) }
                if needle.positive != found { return false }
            }
            return true
        }
    }
}
