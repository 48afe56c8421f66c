import ObsCore

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %f %F %e %E %g %G %x %X %q %t %%`, with
/// widths, precisions, `-` for left alignment and `0` for zero padding, and Go's `%!verb(type=value)`
/// for a verb that does not fit its operand.
public enum GoPrintf {
    public static func format(_ format: String, _ args: [TemplateValue]) -> String {
        var out = ""
        var next = 0
        var characters = format.makeIterator()
        while let character = characters.next() {
            guard character == "%" else {
                out.append(character)
                continue
            }
            var spec = ""
            var verb: Character?
            while let c = characters.next() {
                if c.isLetter || c == "%" {
                    verb = c
                    break
                }
                spec.append(c)
            }
            guard let verb else {
                out += "%!(NOVERB)"
                break
            }
            if verb == "%" {
                out += "%"
                continue
            }
            guard next < args.count else {
                out += "%!\(verb)(MISSING)"
                continue
            }
            let arg = args[next]
            next += 1
            var flags = Substring(spec)
            var left = false, zero = false, plus = false
            while let flag = flags.first, "-0+ #".contains(flag) {
                if flag == "-" { left = true }
                if flag == "0" { zero = true }
                if flag == "+" { plus = true }
                flags = flags.dropFirst()
            }
            let parts = flags.split(separator: ".", omittingEmptySubsequences: false)
            // Go refuses widths and precisions beyond a million.
            let width = Int(parts.first ?? "") ?? 0
            let precision = parts.count > 1 ? (Int(parts[1]) ?? 0) : nil
            if width > 1_000_000 || (parts.first ?? "").count > 7 {
                out += "%!(BADWIDTH)"
                continue
            }
            if let precision, precision > 1_000_000 || parts[1].count > 7 {
                out += "%!(BADPREC)"
                continue
            }
            var text = render(verb, arg, precision: precision, plus: plus)
            if text.count < width {
                let pad = String(repeating: zero && !left ? "0" : " ", count: width - text.count)
                if zero && !left, let sign = text.first, sign == "-" || sign == "+" {
                    text = String(sign) + pad + text.dropFirst()
                } else {
                    text = left ? text + pad : pad + text
                }
            }
            out += text
        }
        if next < args.count {
            out += "%!(EXTRA " + args[next...].map { "\(goType($0))=\($0.text)" }.joined(separator: ", ") + ")"
        }
        return out
    }

    private static func goType(_ value: TemplateValue) -> String {
        value.typeName
    }

    private static func bad(_ verb: Character, _ arg: TemplateValue) -> String {
        "%!\(verb)(\(arg.typeName)=\(arg.text))"
    }

    private static func render(_ verb: Character, _ arg: TemplateValue, precision: Int?, plus: Bool) -> String {
        switch verb {
        case "v":
            return arg.text
        case "d":
            guard case let .int(value) = arg else { return bad(verb, arg) }
            return (plus && value >= 0 ? "+" : "") + String(value)
        case "f", "F", "e", "E", "g", "G":
            let value: Double
            switch arg {
            case let .float(number): value = number
            default: return bad(verb, arg)
            }
            if value.isNaN { return "NaN" }
            if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
            let sign = plus && value >= 0 ? "+" : ""
            if (verb == "g" || verb == "G") && precision == nil { return sign + GoFloat.format(value) }
            let c = verb == "F" ? "f" : String(verb)
            return sign + CFormat.double("%.\(precision ?? 6)\(c)", value)
        case "x", "X":
            switch arg {
            case let .int(value):
                let digits = String(value.magnitude, radix: 16, uppercase: verb == "X")
                return (value < 0 ? "-" : "") + digits
            case let .string(text):
                return text.utf8.map { byte in let hex = String(byte, radix: 16, uppercase: verb == "X"); return byte < 16 ? "0" + hex : hex }.joined()
            default: return bad(verb, arg)
            }
        case "q":
            guard case let .string(text) = arg else { return bad(verb, arg) }
            return "\"" + text.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"")
                .replacingAll("\n", with: "\\n").replacingAll("\t", with: "\\t") + "\""
        case "t":
            guard case .bool = arg else { return bad(verb, arg) }
            return arg.text
        case "s":
            switch arg {
            case let .string(text):
                if let precision { return String(text.prefix(precision)) }
                return text
            case .map, .list, .record: return arg.text
            default: return bad(verb, arg)
            }
        default:
            return bad(verb, arg)
        }
    }
}
