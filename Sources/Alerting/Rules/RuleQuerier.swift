import ObsCore
import QueryEngine
import Synchronization

/// How rules and their templates run queries: an instant query whose result is a vector (a scalar
/// becomes one sample without labels). Rule evaluation never sees a concrete store.
public protocol RuleQuerier: Sendable {
    func vector(_ expr: String, at time: Int64) throws(RuleError) -> [Sample]
}

/// PromQL over any metrics store. Rules run the same expressions every interval, so each is
/// parsed once and kept.
public struct PromQLRuleQuerier: RuleQuerier {
    public var engine: PromQLEngine
    public var store: any MetricsQueryable
    private let parsed = ParsedExpressions()

    public init(engine: PromQLEngine, store: any MetricsQueryable) {
        self.engine = engine
        self.store = store
    }

    public func vector(_ expr: String, at time: Int64) throws(RuleError) -> [Sample] {
        let result: QueryResult
        do {
            result = try engine.instantQuery(try parsed.expression(expr), text: expr, at: time, on: store)
        } catch {
            throw RuleError.evaluation(error.description)
        }
        return try Self.vector(result.value)
    }

    /// The vector of an instant query's value; strings and matrices are not rule results.
    public static func vector(_ value: QueryValue) throws(RuleError) -> [Sample] {
        switch value {
        case let .vector(samples): return samples
        case let .scalar(point): return [Sample(labels: .empty, point: point)]
        default: throw RuleError.evaluation("rule result is not a vector or scalar")
        }
    }
}

/// Expressions parsed so far, by their text. Bounded: rule files hold a few thousand at most, and
/// template `query` calls are cleared out when the cache grows past that.
final class ParsedExpressions: Sendable {
    private let cache = Mutex<[String: Expr]>([:])
    static let limit = 20_000

    func expression(_ text: String) throws(PromQLError) -> Expr {
        if let expr = cache.withLock({ $0[text] }) { return expr }
        let expr = try PromQLParser.parse(text)
        cache.withLock { cache in
            if cache.count >= Self.limit { cache.removeAll() }
            cache[text] = expr
        }
        return expr
    }
}
