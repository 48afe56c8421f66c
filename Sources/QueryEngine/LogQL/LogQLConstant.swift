import Foundation

/// Metric expressions made only of numbers and `vector()`: their value is the same at every
/// time, so they need no store (Grafana's health check sends `vector(1)+vector(1)`).
public enum LogQLConstant {
    public enum Value: Equatable, Sendable {
        case scalar(Double)
        /// One sample without labels; nil when a comparison filtered it out.
        case vector(Double?)
    }

    /// The value of `expr`, or nil when it reads logs.
    public static func evaluate(_ expr: LogQLExpr) -> Value? {
        switch expr {
        case let .number(value): return .scalar(value)
        case let .vector(value): return .vector(value)
        case let .binary(operation):
            guard let lhs = evaluate(operation.lhs), let rhs = evaluate(operation.rhs) else { return nil }
            return combine(operation, lhs, rhs)
        case .logs, .rangeAggregation, .vectorAggregation, .labelReplace:
            return nil
        }
    }

    private static func combine(_ operation: BinaryOperation, _ lhs: Value, _ rhs: Value) -> Value {
        func number(_ value: Value) -> Double? {
            switch value {
            case let .scalar(x): x
            case let .vector(x): x
            }
        }
        let isVector: Bool
        switch (lhs, rhs) {
        case (.scalar, .scalar): isVector = false
        default: isVector = true
        }
        guard let a = number(lhs), let b = number(rhs) else { return .vector(nil) }
        let result: Double?
        switch operation.op {
        case .add: result = a + b
        case .sub: result = a - b
        case .mul: result = a * b
        case .div: result = a / b
        case .mod: result = a.truncatingRemainder(dividingBy: b)
        case .pow: result = Foundation.pow(a, b)
        case .equal, .notEqual, .greater, .greaterEqual, .less, .lessEqual:
            let holds: Bool
            switch operation.op {
            case .equal: holds = a == b
            case .notEqual: holds = a != b
            case .greater: holds = a > b
            case .greaterEqual: holds = a >= b
            case .less: holds = a < b
            default: holds = a <= b
            }
            // Between scalars, or with `bool`, a comparison gives 0 or 1; otherwise it filters.
            if operation.returnBool || !isVector { result = holds ? 1 : 0 } else { result = holds ? (lhs == .scalar(a) ? b : a) : nil }
        case .and: result = a
        case .or: result = a
        case .unless: result = nil
        }
        return isVector ? .vector(result) : .scalar(result ?? .nan)
    }
}
