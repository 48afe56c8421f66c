/// Time parameters as the Prometheus and Loki HTTP APIs take them: Unix seconds with an optional
/// fraction (`1732905600`, `1732905623.123`) or RFC 3339 (`2024-11-29T18:40:00.5Z`, with an offset).
/// Results are Unix milliseconds.
public enum TimeParsing {
    public static func milliseconds(_ text: String) -> Int64? {
        if let seconds = Double(text), seconds.isFinite {
            let ms = (seconds * 1000).rounded()
            guard abs(ms) < 9.2e18 else { return nil }
            return Int64(ms)
        }
        return rfc3339(text)
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` as Unix milliseconds (the fraction truncated).
    public static func rfc3339(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { rfc3339Nanoseconds(UnsafeRawBufferPointer($0)) }.map { $0 >= 0 ? $0 / 1_000_000 : ($0 - 999_999) / 1_000_000 }
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` as Unix nanoseconds, read from bytes (container
    /// runtimes write one per log line). Digits past nanoseconds are ignored.
    public static func rfc3339Nanoseconds(_ b: UnsafeRawBufferPointer) -> Int64? {
        func number(_ from: Int, _ count: Int) -> Int64? {
            guard from + count <= b.count else { return nil }
            var value: Int64 = 0
            for i in from..<from + count {
                guard b[i] >= 0x30 && b[i] <= 0x39 else { return nil }
                value = value * 10 + Int64(b[i] - 0x30)
            }
            return value
        }
        guard b.count >= 20, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
              b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == UInt8(ascii: " "),
              b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        var fraction: Int64 = 0
        if index < b.count && b[index] == UInt8(ascii: ".") {
            index += 1
            var scale: Int64 = 100_000_000
            var digits = 0
            while index < b.count, b[index] >= 0x30 && b[index] <= 0x39 {
                fraction += Int64(b[index] - 0x30) * scale
                scale /= 10
                index += 1
                digits += 1
            }
            guard digits > 0 else { return nil }
        }
        guard index < b.count else { return nil }
        var offsetMinutes: Int64 = 0
        switch b[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard index + 6 == b.count, b[index + 3] == UInt8(ascii: ":"),
                  let hours = number(index + 1, 2), let minutes = number(index + 4, 2) else { return nil }
            offsetMinutes = (hours * 60 + minutes) * (b[index] == UInt8(ascii: "-") ? -1 : 1)
            index += 6
        default:
            return nil
        }
        guard index == b.count else { return nil }
        let days = CivilTime.days(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return nil }
        return scaled + fraction
    }

    /// Unix seconds as RFC 3339 in UTC with millisecond precision: `2026-11-29T18:40:00.5Z`.
    public static func rfc3339String(seconds: Double) -> String {
        rfc3339String(nanoseconds: Int64((seconds * 1000).rounded(.down)) * 1_000_000)
    }

    /// Unix nanoseconds as Go's RFC3339Nano in UTC (trailing zeros of the fraction dropped):
    /// `2026-11-29T18:40:00.123456789Z`.
    public static func rfc3339String(nanoseconds: Int64) -> String {
        let nanos = nanoseconds >= 0 ? nanoseconds % 1_000_000_000 : (nanoseconds % 1_000_000_000 + 1_000_000_000) % 1_000_000_000
        let millis = (nanoseconds - nanos) / 1_000_000
        let days = millis >= 0 ? millis / 86_400_000 : (millis - 86_399_999) / 86_400_000
        let dayMillis = millis - days * 86_400_000
        let (year, month, day) = CivilTime.civil(days: days)
        func two<N: BinaryInteger>(_ v: N) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let hours = dayMillis / 3_600_000, minutes = dayMillis / 60_000 % 60, secs = dayMillis / 1000 % 60
        var text = "\(year)-\(two(month))-\(two(day))T\(two(hours)):\(two(minutes)):\(two(secs))"
        let fraction = (dayMillis % 1000) * 1_000_000 + nanos
        if fraction != 0 {
            var digits = String(fraction + 1_000_000_000).dropFirst()
            while digits.hasSuffix("0") { digits = digits.dropLast() }
            text += "." + digits
        }
        return text + "Z"
    }
}
