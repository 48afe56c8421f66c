/// Times and durations read from requests, converted between units with checked arithmetic and kept
/// within bounds that leave room for the sums and differences the APIs then take (`end + 1`,
/// `end - lookback`, `(end - start) / step`): no number a client sends can overflow them.
public enum CheckedTime {
    /// The largest magnitude of a nanosecond time or duration from outside: just under 2^62 ns,
    /// about 146 years, so times fall between 1823 and 2116 and any two can be added or subtracted
    /// (the difference of the two extremes is 2^63 - 2, inside Int64).
    public static let maxNanoseconds: Int64 = (1 << 62) - 1
    /// The largest magnitude of a millisecond time from outside (the Prometheus family): 2^53 ms,
    /// about 285,000 years, where the PromQL engine's float arithmetic on times is still exact.
    public static let maxMilliseconds: Int64 = 1 << 53

    /// `value × scale`, rounded to the nearest integer, when `value` is finite and the result lies
    /// within ±`limit`; nil otherwise.
    public static func scaled(_ value: Double, by scale: Double, limit: Int64) -> Int64? {
        guard value.isFinite else { return nil }
        let product = (value * scale).rounded()
        guard product.isFinite, abs(product) <= Double(limit) else { return nil }
        return Int64(product)
    }

    /// `value × scale` when it lies within ±`limit`; nil on overflow or beyond the limit.
    public static func scaled(_ value: Int64, by scale: Int64, limit: Int64) -> Int64? {
        let (product, overflow) = value.multipliedReportingOverflow(by: scale)
        guard !overflow, product.magnitude <= limit.magnitude else { return nil }
        return product
    }

    /// `value` moved into `-limit...limit`.
    public static func clamped(_ value: Int64, limit: Int64) -> Int64 { min(max(value, -limit), limit) }

    /// A whole or fractional number of `unit`s in `text` (`1700000000`, `1700000000.5`, `-3`,
    /// `1e3`) as multiples of `scale`, within ±`limit`. Integers are read exactly (no float rounding
    /// of large nanosecond values).
    public static func number(_ text: some StringProtocol, scale: Int64, limit: Int64) -> Int64? {
        if let integer = Int64(text) { return scaled(integer, by: scale, limit: limit) }
        guard let value = Double(text) else { return nil }
        return scaled(value, by: Double(scale), limit: limit)
    }
}
