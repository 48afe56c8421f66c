/// Minimal JSON string quoting, for the log handler and hand-built responses where a full encoder
/// would be overkill.
public enum JSONText {
    /// Label pairs as a JSON object, in the order given: `{"job":"node","instance":"a:1"}`.
    public static func object(_ labels: some Sequence<Label>) -> String {
        var out = "{"
        for label in labels {
            if out.utf8.count > 1 { out += "," }
            out += quote(label.name) + ":" + quote(label.value)
        }
        return out + "}"
    }

    public static func quote(_ value: String) -> String {
        var out = "\""
        out.reserveCapacity(value.utf8.count + 2)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
