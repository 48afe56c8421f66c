/// Reads a label set written as a selector of equalities, `{name="value", other="x"}`: how Loki
/// push names streams in protobuf bodies. Values are double-quoted with Go escapes or
/// backtick-quoted raw strings. Names must be valid label names; a name may appear once.
public enum LabelSetParser {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public var message: String
        public var description: String { message }
    }

    public static func parse(_ text: String) throws(Failure) -> Labels {
        let bytes = Array(text.utf8)
        var i = 0
        func fail(_ message: String) -> Failure { Failure(message: "\(message) at position \(i)") }
        func skipSpace() { while i < bytes.count && (bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D) { i += 1 } }
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { throw fail("expected \"{\"") }
        i += 1
        var pairs: [Label] = []
        var names = Set<String>()
        skipSpace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "}") {
            i += 1
        } else {
            while true {
                skipSpace()
                let start = i
                while i < bytes.count, isNameByte(bytes[i], first: i == start) { i += 1 }
                guard i > start else { throw fail("expected a label name") }
                let name = String(decoding: bytes[start..<i], as: UTF8.self)
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "=") else { throw fail("expected \"=\" after \(name)") }
                i += 1
                guard i == bytes.count || bytes[i] != UInt8(ascii: "~") else { throw fail("only = matchers name a stream") }
                skipSpace()
                let value = try quoted(bytes, &i)
                guard names.insert(name).inserted else { throw fail("duplicate label name \(name)") }
                pairs.append(Label(name, value))
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated label set") }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                guard bytes[i] == UInt8(ascii: "}") else { throw fail("expected \",\" or \"}\"") }
                i += 1
                break
            }
        }
        skipSpace()
        guard i == bytes.count else { throw fail("unexpected text after the label set") }
        return Labels(pairs)
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`, the legacy Prometheus label-name rule that every format accepts.
    public static func isLabelName(_ name: String) -> Bool {
        guard !name.isEmpty else { return false }
        return name.utf8.enumerated().allSatisfy { isNameByte($0.element, first: $0.offset == 0) }
    }

    private static func isNameByte(_ byte: UInt8, first: Bool) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || byte == 0x5F || (!first && byte >= 0x30 && byte <= 0x39)
    }

    private static func quoted(_ bytes: [UInt8], _ i: inout Int) throws(Failure) -> String {
        guard i < bytes.count else { throw Failure(message: "expected a quoted value at position \(i)") }
        let quote = bytes[i]
        guard quote == 0x22 || quote == 0x60 else { throw Failure(message: "expected a quoted value at position \(i)") }
        i += 1
        var out: [UInt8] = []
        while i < bytes.count {
            let byte = bytes[i]
            i += 1
            if byte == quote { return String(decoding: out, as: UTF8.self) }
            guard quote == 0x22 && byte == UInt8(ascii: "\\") else {
                out.append(byte)
                continue
            }
            guard i < bytes.count else { break }
            let escape = bytes[i]
            i += 1
            switch escape {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "'"): out.append(escape)
            case UInt8(ascii: "u"), UInt8(ascii: "U"):
                let digits = escape == UInt8(ascii: "u") ? 4 : 8
                guard i + digits <= bytes.count, let code = UInt32(String(decoding: bytes[i..<i + digits], as: UTF8.self), radix: 16),
                      let scalar = Unicode.Scalar(code) else { throw Failure(message: "invalid unicode escape at position \(i)") }
                out.append(contentsOf: String(Character(scalar)).utf8)
                i += digits
            default:
                throw Failure(message: "invalid escape \\\(Character(Unicode.Scalar(escape))) at position \(i)")
            }
        }
        throw Failure(message: "unterminated quoted value")
    }
}
