/// A whole LogQL expression: a log query, or a metric query built from range aggregations over
/// log queries. Syntax only. Immutable; thread-safe.
public indirect enum LogQLExpr: Sendable, Equatable {
    case logs(LogQuery)
    case rangeAggregation(RangeAggregation)
    case vectorAggregation(VectorAggregation)
    case binary(BinaryOperation)
    case number(Double)
    /// `vector(1)`.
    case vector(Double)
    case labelReplace(LogQLExpr, destination: String, replacement: String, source: String, regex: String)
}

/// `count_over_time({…} |= "x" [5m] offset 1h)`, `quantile_over_time(0.99, {…} | unwrap d [1m]) by (x)`.
public struct RangeAggregation: Sendable, Equatable {
    public enum Operation: String, Sendable, CaseIterable {
        case countOverTime = "count_over_time", rate, bytesOverTime = "bytes_over_time", bytesRate = "bytes_rate"
        case absentOverTime = "absent_over_time", sumOverTime = "sum_over_time", avgOverTime = "avg_over_time"
        case maxOverTime = "max_over_time", minOverTime = "min_over_time", stdvarOverTime = "stdvar_over_time"
        case stddevOverTime = "stddev_over_time", quantileOverTime = "quantile_over_time"
        case firstOverTime = "first_over_time", lastOverTime = "last_over_time", rateCounter = "rate_counter"

        /// Whether the operation reads unwrapped values rather than counting lines or bytes.
        public var needsUnwrap: Bool {
            ![.countOverTime, .bytesOverTime, .bytesRate, .absentOverTime].contains(self) && self != .rate
        }
    }

    public var operation: Operation
    public var query: LogQuery
    /// Nanoseconds.
    public var range: Int64
    public var offset: Int64 = 0
    /// The quantile of `quantile_over_time`.
    public var parameter: Double?
    public var grouping: Grouping?

    public init(operation: Operation, query: LogQuery, range: Int64, offset: Int64 = 0, parameter: Double? = nil,
                grouping: Grouping? = nil) {
        self.operation = operation
        self.query = query
        self.range = range
        self.offset = offset
        self.parameter = parameter
        self.grouping = grouping
    }
}

/// `by (a, b)` or `without (a)`.
public struct Grouping: Sendable, Equatable {
    public var without: Bool
    public var labels: [String]

    public init(without: Bool, labels: [String]) {
        self.without = without
        self.labels = labels
    }
}

/// `sum by (app) (…)`, `topk(5, …)`, `sort_desc(…)`.
public struct VectorAggregation: Sendable, Equatable {
    public enum Operation: String, Sendable, CaseIterable {
        case sum, avg, min, max, count, stddev, stdvar, topk, bottomk, sort
        case sortDesc = "sort_desc"

        public var takesParameter: Bool { self == .topk || self == .bottomk }
    }

    public var operation: Operation
    public var parameter: Double?
    public var grouping: Grouping?
    public var expr: LogQLExpr

    public init(operation: Operation, parameter: Double? = nil, grouping: Grouping? = nil, expr: LogQLExpr) {
        self.operation = operation
        self.parameter = parameter
        self.grouping = grouping
        self.expr = expr
    }
}

/// `a + b`, `a > bool 1`, `a / on (x) group_left (y) b`.
public struct BinaryOperation: Sendable, Equatable {
    public enum Operator: String, Sendable, CaseIterable {
        case or, and, unless
        case equal = "==", notEqual = "!=", greater = ">", greaterEqual = ">=", less = "<", lessEqual = "<="
        case add = "+", sub = "-", mul = "*", div = "/", mod = "%", pow = "^"

        var precedence: Int {
            switch self {
            case .or: 1
            case .and, .unless: 2
            case .equal, .notEqual, .greater, .greaterEqual, .less, .lessEqual: 3
            case .add, .sub: 4
            case .mul, .div, .mod: 5
            case .pow: 6
            }
        }

        public var isComparison: Bool { precedence == 3 }
    }

    public enum Matching: Sendable, Equatable {
        case on([String]), ignoring([String])
    }

    public enum Group: Sendable, Equatable {
        case left([String]), right([String])
    }

    public var op: Operator
    public var lhs: LogQLExpr
    public var rhs: LogQLExpr
    public var returnBool = false
    public var matching: Matching?
    public var group: Group?
}
