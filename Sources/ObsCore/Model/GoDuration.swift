/// Go's `time.ParseDuration` syntax, with the `d`, `w` and `y` units LogQL adds: LogQL durations,
/// trace search parameters and TraceQL values.
public enum GoDuration {
    /// `1h30m`, `250ms`, `1.5s`, `10us`: nanoseconds. Read byte by byte: LogQL's `unwrap duration()`
    /// calls this for every line.
    public static func nanoseconds(_ text: String) -> Int64? {
        var copy = text
        return copy.withUTF8 { bytes -> Int64? in
            var index = 0
            var negative = false
            if index < bytes.count && (bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+")) {
                negative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            guard index < bytes.count else { return nil }
            var total = 0.0
            while index < bytes.count {
                // The number: digits with at most one point.
                var whole = 0.0, fraction = 0.0, scale = 1.0, digits = 0, point = false
                while index < bytes.count {
                    let byte = bytes[index]
                    if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                        if point {
                            scale /= 10
                            fraction += Double(byte - UInt8(ascii: "0")) * scale
                        } else {
                            whole = whole * 10 + Double(byte - UInt8(ascii: "0"))
                        }
                        digits += 1
                    } else if byte == UInt8(ascii: ".") && !point {
                        point = true
                    } else {
                        break
                    }
                    index += 1
                }
                guard digits > 0 else { return nil }
                let unitStart = index
                while index < bytes.count && !(bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9")) && bytes[index] != UInt8(ascii: ".") {
                    index += 1
                }
                guard let unit = unit(UnsafeBufferPointer(rebasing: bytes[unitStart..<index])) else { return nil }
                total += (whole + fraction) * unit
            }
            guard abs(total) < 9.2e18 else { return nil }
            return Int64(negative ? -total : total)
        }
    }

    /// Nanoseconds in one duration unit.
    private static func unit(_ bytes: UnsafeBufferPointer<UInt8>) -> Double? {
        switch bytes.count {
        case 1:
            switch bytes[0] {
            case UInt8(ascii: "s"): 1e9
            case UInt8(ascii: "m"): 60e9
            case UInt8(ascii: "h"): 3600e9
            case UInt8(ascii: "d"): 86_400e9
            case UInt8(ascii: "w"): 604_800e9
            case UInt8(ascii: "y"): 31_536_000e9
            default: nil
            }
        case 2:
            switch (bytes[0], bytes[1]) {
            case (UInt8(ascii: "n"), UInt8(ascii: "s")): 1
            case (UInt8(ascii: "u"), UInt8(ascii: "s")): 1e3
            case (UInt8(ascii: "m"), UInt8(ascii: "s")): 1e6
            default: nil
            }
        // µs with U+00B5 or U+03BC, as Go accepts both.
        case 3 where ((bytes[0] == 0xC2 && bytes[1] == 0xB5) || (bytes[0] == 0xCE && bytes[1] == 0xBC)) && bytes[2] == UInt8(ascii: "s"): 1e3
        default: nil
        }
    }
}
