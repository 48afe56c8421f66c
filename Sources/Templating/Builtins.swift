import ObsCore

/// Go's predefined template functions: `and`, `or`, `not`, `eq`…`ge`, `len`, `index`, `print`,
/// `printf`, `println`, `html`, `js`, `urlquery`, `slice`.
enum Builtins {
    static let names: Set<String> = [
        "and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index", "print", "printf", "println",
        "html", "js", "urlquery", "slice",
    ]

    static func call(_ name: String, _ args: [TemplateValue]) throws(TemplateError) -> TemplateValue {
        func need(_ count: Int) throws(TemplateError) {
            guard args.count == count else { throw TemplateError("wrong number of args for \(name): want \(count) got \(args.count)") }
        }
        // `and` and `or` are the renderer's: they evaluate their operands lazily.
        switch name {
        case "not": try need(1); return .bool(!args[0].isTrue)
        case "eq":
            guard args.count >= 2 else { throw TemplateError("missing argument for comparison") }
            for other in args.dropFirst() where try compare(args[0], other, ordered: false) == 0 { return .bool(true) }
            return .bool(false)
        case "ne": try need(2); return .bool(try compare(args[0], args[1], ordered: false) != 0)
        case "lt", "le", "gt", "ge":
            try need(2)
            let order = try compare(args[0], args[1], ordered: true)
            guard let order else { return .bool(false) }
            switch name {
            case "lt": return .bool(order < 0)
            case "le": return .bool(order <= 0)
            case "gt": return .bool(order > 0)
            default: return .bool(order >= 0)
            }
        case "len":
            try need(1)
            switch args[0] {
            case let .string(text): return .int(Int64(text.utf8.count))
            case let .map(entries): return .int(Int64(entries.count))
            case let .list(elements): return .int(Int64(elements.count))
            default: throw TemplateError("len of type \(args[0].typeName)")
            }
        case "index":
            guard var value = args.first else { throw TemplateError("wrong number of args for index: want at least 1 got 0") }
            for key in args.dropFirst() {
                switch (value, key) {
                case let (.map(entries), .string(name)): value = .string(entries[name] ?? "")
                case let (.list(elements), .int(position)):
                    guard position >= 0, position < elements.count else {
                        throw TemplateError("error calling index: index out of range: \(position)")
                    }
                    value = elements[Int(position)]
                default: throw TemplateError("can't index item of type \(value.typeName)")
                }
            }
            return value
        case "slice":
            guard let first = args.first else { throw TemplateError("wrong number of args for slice: want at least 1 got 0") }
            let bounds = args.dropFirst().map { TemplateConversions.int($0) }
            switch first {
            case let .string(text):
                let bytes = Array(text.utf8)
                let low = bounds.first ?? 0, high = bounds.count > 1 ? bounds[1] : Int64(bytes.count)
                guard bounds.count <= 2, low >= 0, low <= high, high <= bytes.count else { throw TemplateError("slice index out of range") }
                return .string(String(decoding: bytes[Int(low)..<Int(high)], as: UTF8.self))
            case let .list(elements):
                let low = bounds.first ?? 0, high = bounds.count > 1 ? bounds[1] : Int64(elements.count)
                guard bounds.count <= 2, low >= 0, low <= high, high <= elements.count else { throw TemplateError("slice index out of range") }
                return .list(Array(elements[Int(low)..<Int(high)]))
            default: throw TemplateError("can't slice item of type \(first.typeName)")
            }
        case "print": return .string(sprint(args))
        case "println": return .string(args.map(\.text).joined(separator: " ") + "\n")
        case "printf":
            guard let format = args.first else { throw TemplateError("wrong number of args for printf: want at least 1 got 0") }
            return .string(GoPrintf.format(format.text, Array(args.dropFirst())))
        case "html":
            return .string(sprint(args).replacingAll("&", with: "&amp;").replacingAll("<", with: "&lt;")
                .replacingAll(">", with: "&gt;").replacingAll("\"", with: "&#34;")
                .replacingAll("'", with: "&#39;"))
        case "js":
            var out = ""
            for scalar in sprint(args).unicodeScalars {
                switch scalar {
                case "\\": out += "\\\\"
                case "'": out += "\\'"
                case "\"": out += "\\\""
                case "<": out += "\\u003C"
                case ">": out += "\\u003E"
                case "&": out += "\\u0026"
                case "=": out += "\\u003D"
                default: out.unicodeScalars.append(scalar)
                }
            }
            return .string(out)
        case "urlquery":
            return .string(URLQuery.escape(sprint(args), spaceAsPlus: true))
        default:
            throw TemplateError("function \"\(name)\" not defined")
        }
    }

    /// Go's `fmt.Sprint`: spaces between operands when neither side is a string.
    static func sprint(_ args: [TemplateValue]) -> String {
        var out = ""
        for (index, arg) in args.enumerated() {
            if index > 0, !isString(arg), !isString(args[index - 1]) { out += " " }
            out += arg.text
        }
        return out
    }

    private static func isString(_ value: TemplateValue) -> Bool {
        if case .string = value { return true }
        return false
    }

    /// Go's comparison of basic kinds: values of different kinds are an error, as is ordering
    /// booleans; -1, 0 or 1, or nil for NaN, which is neither equal to nor ordered with anything.
    static func compare(_ a: TemplateValue, _ b: TemplateValue, ordered: Bool) throws(TemplateError) -> Int? {
        func order<T: Comparable>(_ x: T, _ y: T) -> Int { x == y ? 0 : (x < y ? -1 : 1) }
        switch (a, b) {
        case let (.string(x), .string(y)):
            if x == y { return 0 }
            return x.utf8.lexicographicallyPrecedes(y.utf8) ? -1 : 1
        case let (.int(x), .int(y)): return order(x, y)
        case let (.float(x), .float(y)): return x.isNaN || y.isNaN ? nil : order(x, y)
        case let (.bool(x), .bool(y)):
            guard !ordered else { throw TemplateError("invalid type for comparison") }
            return x == y ? 0 : 1
        case (.map, _), (.list, _), (.record, _), (_, .map), (_, .list), (_, .record):
            throw TemplateError(ordered ? "invalid type for comparison" : "non-comparable type \(a.typeName)")
        case (.none, _), (_, .none):
            throw TemplateError("invalid type for comparison")
        default:
            throw TemplateError("incompatible types for comparison")
        }
    }
}
