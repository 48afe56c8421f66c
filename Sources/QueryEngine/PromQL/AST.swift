import ObsCore

/// What a PromQL expression evaluates to.
public enum ValueType: String, Sendable {
    case scalar, vector, matrix, string

    /// The names Prometheus uses in type errors.
    var documentedName: String {
        switch self {
        case .scalar: "scalar"
        case .vector: "instant vector"
        case .matrix: "range vector"
        case .string: "string"
        }
    }
}

/// A parsed PromQL expression. Immutable; produced by `PromQLParser`, consumed by the evaluator and
/// the printer.
public indirect enum Expr: Sendable {
    case number(Double, text: String?)
    case string(String)
    case vectorSelector(VectorSelector)
    case matrixSelector(VectorSelector, range: DurationExpr, mode: RangeMode)
    case subquery(Expr, range: DurationExpr, step: DurationExpr?, modifiers: TimeModifiers)
    case call(Function, [Expr], position: Int)
    case aggregate(Aggregate)
    case binary(Binary)
    case negate(Expr)
    case paren(Expr)
    /// `step()` and `range()` used as values (Prometheus's duration expressions at top level), and
    /// `min_of`/`max_of` outside durations.
    case duration(DurationExpr)

    public var type: ValueType {
        switch self {
        case .number, .duration: .scalar
        case .string: .string
        case .vectorSelector: .vector
        case .matrixSelector, .subquery: .matrix
        case let .call(function, _, _): function.returnType
        case .aggregate: .vector
        case let .binary(binary): binary.lhs.type == .scalar && binary.rhs.type == .scalar ? .scalar : .vector
        case let .negate(inner), let .paren(inner): inner.type
        }
    }
}

/// How a range selector picks samples: Prometheus's default window, or the `anchored` and `smoothed`
/// variants that extend the window to its boundaries.
public enum RangeMode: String, Sendable {
    case normal, anchored, smoothed
}

/// `offset` and `@` of a selector or subquery.
public struct TimeModifiers: Sendable {
    public enum At: Sendable {
        case timestamp(Int64)
        case start
        case end
    }

    public var offset: DurationExpr?
    public var at: At?

    public init(offset: DurationExpr? = nil, at: At? = nil) {
        self.offset = offset
        self.at = at
    }
}

public struct VectorSelector: Sendable {
    public var name: String?
    public var matchers: [LabelMatcher]
    public var modifiers: TimeModifiers
    /// Byte offset in the query, for annotations.
    public var position: Int
    /// `metric smoothed`: values interpolated between the samples around each step.
    public var smoothed = false

    public init(name: String?, matchers: [LabelMatcher], modifiers: TimeModifiers = TimeModifiers(), position: Int = 0) {
        self.name = name
        self.matchers = matchers
        self.modifiers = modifiers
        self.position = position
    }
}

/// A duration written in a range, subquery step or offset: a literal or arithmetic over literals,
/// numbers (seconds), `step()`, `range()`, `min_of` and `max_of`, resolved when the query runs.
public indirect enum DurationExpr: Sendable, Equatable {
    case literal(milliseconds: Double, text: String)
    case number(Double, text: String)
    case step
    case range
    case negate(DurationExpr)
    case paren(DurationExpr)
    case binary(BinaryOperator, DurationExpr, DurationExpr)
    case minOf(DurationExpr, DurationExpr)
    case maxOf(DurationExpr, DurationExpr)

    /// The duration in milliseconds for a query with the given step and range (both milliseconds).
    public func milliseconds(step: Int64, range: Int64) -> Double {
        seconds(step: step, range: range) * 1000
    }

    private func seconds(step: Int64, range: Int64) -> Double {
        switch self {
        case let .literal(ms, _): return ms / 1000
        case let .number(value, _): return value
        case .step: return Double(step) / 1000
        case .range: return Double(range) / 1000
        case let .negate(inner): return -inner.seconds(step: step, range: range)
        case let .paren(inner): return inner.seconds(step: step, range: range)
        case let .minOf(a, b): return goMin(a.seconds(step: step, range: range), b.seconds(step: step, range: range))
        case let .maxOf(a, b): return goMax(a.seconds(step: step, range: range), b.seconds(step: step, range: range))
        case let .binary(op, a, b):
            return op.applyScalars(a.seconds(step: step, range: range), b.seconds(step: step, range: range)) ?? .nan
        }
    }

    /// A literal that needs no query context.
    var isConstant: Bool {
        switch self {
        case .literal, .number: true
        case .step, .range: false
        case let .negate(inner), let .paren(inner): inner.isConstant
        case let .binary(_, a, b), let .minOf(a, b), let .maxOf(a, b): a.isConstant && b.isConstant
        }
    }
}

public enum BinaryOperator: String, Sendable {
    case add = "+", sub = "-", mul = "*", div = "/", mod = "%", pow = "^", atan2
    case equal = "==", notEqual = "!=", greater = ">", less = "<", greaterEqual = ">=", lessEqual = "<="
    case and, or, unless
    /// Native histogram trims: keep the observations below (`</`) or above (`>/`) a value.
    case trimUpper = "</", trimLower = ">/"

    var isTrim: Bool { self == .trimUpper || self == .trimLower }

    var isComparison: Bool {
        switch self {
        case .equal, .notEqual, .greater, .less, .greaterEqual, .lessEqual: true
        default: false
        }
    }

    var isSetOperator: Bool { self == .and || self == .or || self == .unless }

    /// Higher binds tighter.
    var precedence: Int {
        switch self {
        case .or: 1
        case .and, .unless: 2
        case .equal, .notEqual, .greater, .less, .greaterEqual, .lessEqual: 3
        case .add, .sub: 4
        case .mul, .div, .mod, .atan2, .trimUpper, .trimLower: 5
        case .pow: 6
        }
    }

    var isRightAssociative: Bool { self == .pow }

    /// Arithmetic on two floats; for comparisons 1 or 0 (the `bool` form). nil for set operators.
    func applyScalars(_ a: Double, _ b: Double) -> Double? {
        switch self {
        case .add: a + b
        case .sub: a - b
        case .mul: a * b
        case .div: a / b
        case .mod: a.truncatingRemainder(dividingBy: b)
        case .pow: power(a, b)
        case .atan2: arcTangent(a, b)
        case .equal: a == b ? 1 : 0
        case .notEqual: a != b ? 1 : 0
        case .greater: a > b ? 1 : 0
        case .less: a < b ? 1 : 0
        case .greaterEqual: a >= b ? 1 : 0
        case .lessEqual: a <= b ? 1 : 0
        case .and, .or, .unless, .trimUpper, .trimLower: nil
        }
    }
}

/// How two vectors' series are paired: `on(…)`/`ignoring(…)`, `group_left`/`group_right`, and the
/// `fill` values for series without a partner.
public struct VectorMatching: Sendable {
    public enum Cardinality: Sendable { case oneToOne, manyToOne, oneToMany }

    public var cardinality: Cardinality = .oneToOne
    /// `on` when true, `ignoring` when false.
    public var on = false
    public var labels: [String] = []
    /// Labels to copy from the "one" side (`group_left(a, b)`).
    public var include: [String] = []
    public var fillLeft: Double?
    public var fillRight: Double?
    /// Whether `on`/`ignoring` was written (for printing).
    public var explicit = false

    public init() {}
}

public struct Binary: Sendable {
    public var op: BinaryOperator
    public var lhs: Expr
    public var rhs: Expr
    public var returnBool: Bool
    public var matching: VectorMatching?
}

public enum AggregateOperator: String, Sendable, CaseIterable {
    case sum, avg, count, min, max, group, stddev, stdvar, topk, bottomk, quantile
    case countValues = "count_values", limitk, limitRatio = "limit_ratio"

    var parameterType: ValueType? {
        switch self {
        case .topk, .bottomk, .quantile, .limitk, .limitRatio: .scalar
        case .countValues: .string
        default: nil
        }
    }
}

public struct Aggregate: Sendable {
    public var op: AggregateOperator
    public var expr: Expr
    public var parameter: Expr?
    public var grouping: [String]
    public var without: Bool
    /// Whether `by`/`without` was written (for printing `sum by () (x)`).
    public var explicitGrouping: Bool
    public var position: Int
    public var parameterPosition: Int
}

// The C library's functions under names that the operators' cases do not shadow.
private func power(_ a: Double, _ b: Double) -> Double { pow(a, b) }
private func arcTangent(_ y: Double, _ x: Double) -> Double { atan2(y, x) }
