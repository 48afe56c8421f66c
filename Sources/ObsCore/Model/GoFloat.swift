/// Go's `%v` (strconv's `'g'` with the shortest precision) for a float64: the fewest digits that
/// read back as the same value, in exponent form when the exponent is below -4 or at least 6
/// (`1e+06`, `1.234567e+06`, `100000`, `1e-05`, `0.0001`), `NaN`, `+Inf`, `-Inf`. Prometheus's error
/// messages and templates print numbers this way.
public enum GoFloat {
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == 0 { return value.sign == .minus ? "-0" : "0" }
        let (digits, decimalPoint) = shortestDigits(abs(value))
        let sign = value < 0 ? "-" : ""
        let exponent = decimalPoint - 1
        if exponent < -4 || exponent >= 6 {
            var mantissa = String(digits.first!)
            if digits.count > 1 { mantissa += "." + digits.dropFirst() }
            let magnitude = abs(exponent)
            return sign + mantissa + (exponent < 0 ? "e-" : "e+") + (magnitude < 10 ? "0" : "") + String(magnitude)
        }
        if decimalPoint <= 0 {
            return sign + "0." + String(repeating: "0", count: -decimalPoint) + digits
        }
        if decimalPoint >= digits.count {
            return sign + digits + String(repeating: "0", count: decimalPoint - digits.count)
        }
        let split = digits.index(digits.startIndex, offsetBy: decimalPoint)
        return sign + digits[..<split] + "." + digits[split...]
    }

    /// Go's `strconv.FormatFloat(value, 'e', -1, 64)`: the shortest digits, always in exponent form
    /// (`1e+00`, `1.234567e+06`), as Prometheus's rules and alerts APIs print alert values.
    public static func exponent(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == 0 { return value.sign == .minus ? "-0e+00" : "0e+00" }
        let (digits, decimalPoint) = shortestDigits(abs(value))
        let exponent = decimalPoint - 1
        var mantissa = String(digits.first!)
        if digits.count > 1 { mantissa += "." + digits.dropFirst() }
        let magnitude = abs(exponent)
        return (value < 0 ? "-" : "") + mantissa + (exponent < 0 ? "e-" : "e+") + (magnitude < 10 ? "0" : "") + String(magnitude)
    }

    /// The shortest round-tripping decimal digits of a positive finite value (no leading or
    /// trailing zeros) and where the decimal point goes: value = 0.digits × 10^decimalPoint.
    /// Swift's own description is also shortest; it is read apart rather than redone.
    static func shortestDigits(_ value: Double) -> (String, Int) {
        let text = "\(value)"
        var mantissa = Substring(text)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exponent = Int(text[text.index(after: e)...].filter { $0 != "+" }) ?? 0
        }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let whole = parts[0], fraction = parts.count > 1 ? parts[1] : ""
        var digits = whole + fraction
        var decimalPoint = whole.count + exponent
        while digits.first == "0" {
            digits.removeFirst()
            decimalPoint -= 1
        }
        while digits.last == "0" { digits.removeLast() }
        return (String(digits), decimalPoint)
    }
}
