import NIOCore
import ObsCore

/// The agent's JSON answers as plain Swift values (`JSONReader.anyValue`), and written back
/// indented with sorted keys for `--output json`.
enum JSONDocument {
    static func parse(_ body: ByteBuffer) -> Any? {
        try? body.withUnsafeReadableBytes { try JSONReader.anyDocument($0) }
    }

    /// A JSON number as a `Double`, whether it was written with a fraction or not.
    static func number(_ value: Any?) -> Double? {
        (value as? Double) ?? (value as? Int).map(Double.init)
    }

    /// Two-space indentation, keys sorted, as `jq -S` prints.
    static func pretty(_ value: Any) -> String {
        var out = ""
        write(value, indent: "", into: &out)
        return out
    }

    private static func write(_ value: Any, indent: String, into out: inout String) {
        let inner = indent + "  "
        switch value {
        case let object as [String: Any]:
            guard !object.isEmpty else { return out += "{}" }
            out += "{\n"
            for (index, key) in object.keys.sorted().enumerated() {
                out += inner + JSONText.quote(key) + ": "
                write(object[key]!, indent: inner, into: &out)
                out += index == object.count - 1 ? "\n" : ",\n"
            }
            out += indent + "}"
        case let array as [Any]:
            guard !array.isEmpty else { return out += "[]" }
            out += "[\n"
            for (index, element) in array.enumerated() {
                out += inner
                write(element, indent: inner, into: &out)
                out += index == array.count - 1 ? "\n" : ",\n"
            }
            out += indent + "]"
        case let text as String: out += JSONText.quote(text)
        case let flag as Bool: out += flag ? "true" : "false"
        case let integer as Int: out += String(integer)
        case let number as Double: out += number.isFinite ? "\(number)" : "null"
        default: out += "null"
        }
    }
}
