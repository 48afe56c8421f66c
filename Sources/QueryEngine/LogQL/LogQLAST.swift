import ObsCore

/// A LogQL log query: a stream selector and its pipeline, as Loki's grammar defines them. Syntax
/// only; evaluation lives elsewhere. Immutable; thread-safe.
public struct LogQuery: Sendable, Equatable {
    public var matchers: [LabelMatcher]
    public var stages: [PipelineStage]

    public init(matchers: [LabelMatcher], stages: [PipelineStage]) {
        self.matchers = matchers
        self.stages = stages
    }
}

/// One stage of a log pipeline.
public enum PipelineStage: Sendable, Equatable {
    case lineFilter(LineFilter)
    /// `| json` with optional `label="expression"` extractions.
    case json([LabelExtraction])
    /// `| logfmt` with `--strict`, `--keep-empty` and optional extractions.
    case logfmt(strict: Bool, keepEmpty: Bool, [LabelExtraction])
    case regexp(String)
    case pattern(String)
    case unpack
    case labelFilter(LabelFilterExpr)
    case lineFormat(String)
    case labelFormat([LabelFormatItem])
    case drop([LabelSelection])
    case keep([LabelSelection])
    case decolorize
    /// `| unwrap label`, `| unwrap duration(label)`, `| unwrap bytes(label)`.
    case unwrap(label: String, conversion: UnwrapConversion?)
}

/// `|= "a" or "b"`: the line must satisfy one of the values.
public struct LineFilter: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        case contains = "|=", notContains = "!=", regex = "|~", notRegex = "!~", pattern = "|>", notPattern = "!>"
    }

    public var kind: Kind
    public var values: [String]
}

/// `name="expression"` in `json` and `logfmt`.
public struct LabelExtraction: Sendable, Equatable {
    public var label: String
    public var expression: String
}

/// `dst=src` renames a label; `dst="template"` sets it from a template.
public enum LabelFormatItem: Sendable, Equatable {
    case rename(destination: String, source: String)
    case template(destination: String, template: String)
}

/// A label named in `drop`/`keep`, or a matcher (`level="debug"`) that applies only on a match.
public enum LabelSelection: Sendable, Equatable {
    case name(String)
    case matcher(LabelMatcher)
}

public enum UnwrapConversion: String, Sendable, Equatable {
    case duration, durationSeconds = "duration_seconds", bytes
}

/// Comparison operators of numeric label filters.
public enum ComparisonOperator: String, Sendable, Equatable {
    case equal = "==", notEqual = "!=", greater = ">", greaterEqual = ">=", less = "<", lessEqual = "<="
}

/// A label filter: string matchers, numeric, duration and byte comparisons, joined by `and`/`or`
/// (`,` and whitespace mean `and`).
public indirect enum LabelFilterExpr: Sendable, Equatable {
    case matcher(LabelMatcher)
    case number(label: String, ComparisonOperator, Double)
    /// Nanoseconds.
    case duration(label: String, ComparisonOperator, Int64)
    case bytes(label: String, ComparisonOperator, Double)
    case and(LabelFilterExpr, LabelFilterExpr)
    case or(LabelFilterExpr, LabelFilterExpr)
}
