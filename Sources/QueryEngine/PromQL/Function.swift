/// A PromQL function's signature: argument types, how many arguments may be left out or repeated,
/// and the result type. The implementations live with the evaluator.
public struct Function: Sendable {
    public let name: String
    public let argumentTypes: [ValueType]
    /// 0: exactly `argumentTypes`; n > 0: the last type may repeat n-1 more times (or be omitted, see
    /// `minimumArguments`); -1: the last type repeats without bound.
    public let variadic: Int
    public let returnType: ValueType

    init(_ name: String, _ argumentTypes: [ValueType], _ returnType: ValueType, variadic: Int = 0) {
        self.name = name
        self.argumentTypes = argumentTypes
        self.variadic = variadic
        self.returnType = returnType
    }

    /// Range functions take a matrix as their only range argument.
    var takesMatrix: Bool { argumentTypes.contains(.matrix) }

    public static func named(_ name: String) -> Function? { table[name] }

    private static let table: [String: Function] = {
        var all: [Function] = []
        let vectorToVector = ["abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "sgn", "deg", "rad",
                              "acos", "acosh", "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh",
                              "tan", "tanh", "absent", "sort", "sort_desc", "timestamp",
                              "histogram_count", "histogram_sum", "histogram_avg", "histogram_stddev", "histogram_stdvar"]
        all += vectorToVector.map { Function($0, [.vector], .vector) }
        let matrixToVector = ["rate", "irate", "increase", "delta", "idelta", "deriv", "changes", "resets",
                              "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
                              "stddev_over_time", "stdvar_over_time", "last_over_time", "first_over_time",
                              "present_over_time", "absent_over_time", "mad_over_time",
                              "ts_of_max_over_time", "ts_of_min_over_time", "ts_of_last_over_time", "ts_of_first_over_time"]
        all += matrixToVector.map { Function($0, [.matrix], .vector) }
        let dateFunctions = ["day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute", "month", "year"]
        all += dateFunctions.map { Function($0, [.vector], .vector, variadic: 1) }
        all += [
            Function("clamp", [.vector, .scalar, .scalar], .vector),
            Function("clamp_max", [.vector, .scalar], .vector),
            Function("clamp_min", [.vector, .scalar], .vector),
            Function("round", [.vector, .scalar], .vector, variadic: 1),
            Function("predict_linear", [.matrix, .scalar], .vector),
            Function("quantile_over_time", [.scalar, .matrix], .vector),
            Function("double_exponential_smoothing", [.matrix, .scalar, .scalar], .vector),
            Function("holt_winters", [.matrix, .scalar, .scalar], .vector),
            Function("histogram_quantile", [.scalar, .vector], .vector),
            Function("histogram_fraction", [.scalar, .scalar, .vector], .vector),
            Function("histogram_quantiles", [.vector, .string, .scalar], .vector, variadic: -1),
            Function("label_replace", [.vector, .string, .string, .string, .string], .vector),
            Function("label_join", [.vector, .string, .string, .string], .vector, variadic: -1),
            Function("sort_by_label", [.vector, .string], .vector, variadic: -1),
            Function("sort_by_label_desc", [.vector, .string], .vector, variadic: -1),
            Function("info", [.vector, .vector], .vector, variadic: 1),
            Function("scalar", [.vector], .scalar),
            Function("vector", [.scalar], .vector),
            Function("time", [], .scalar),
            Function("pi", [], .scalar),
            Function("start", [], .scalar),
            Function("end", [], .scalar),
        ]
        return Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
    }()
}
