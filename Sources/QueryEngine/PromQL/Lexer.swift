import ObsCore

/// One PromQL token with the byte offset where it starts.
struct Token: Equatable {
    enum Kind: Equatable {
        case identifier      // names, keywords and functions; keywords are recognised by the parser
        case number          // 1, 1.5e3, 0x1f, Inf, NaN
        case duration        // 5m, 1h30m, 250ms
        case string
        case leftParen, rightParen, leftBrace, rightBrace, leftBracket, rightBracket
        case comma, colon, at
        case assign          // =
        case equal, notEqual, less, greater, lessEqual, greaterEqual  // == != < > <= >=
        case trimUpper, trimLower                                      // </ >/
        case regexMatch, regexNoMatch                                  // =~ !~
        case add, sub, mul, div, mod, pow
        case end
    }

    var kind: Kind
    var text: String
    var position: Int
    /// For `.number`: the value; for `.duration`: milliseconds.
    var number: Double = 0
}

/// Splits a PromQL expression into tokens. Comments (`# …` to end of line) and whitespace are dropped.
struct Lexer {
    private var scanner: Scanner

    init(_ text: String) { scanner = Scanner(Array(text.utf8)) }

    mutating func tokenize() throws(PromQLError) -> [Token] {
        var tokens: [Token] = []
        while true {
            let token = try next()
            tokens.append(token)
            if token.kind == .end { return tokens }
        }
    }

    private mutating func next() throws(PromQLError) -> Token {
        skipSpaceAndComments()
        let start = scanner.position
        guard let byte = scanner.peek else { return Token(kind: .end, text: "", position: start) }
        func single(_ kind: Token.Kind) -> Token {
            scanner.position += 1
            return Token(kind: kind, text: String(UnicodeScalar(byte)), position: start)
        }
        func pair(_ kind: Token.Kind, _ text: String) -> Token {
            scanner.position += 2
            return Token(kind: kind, text: text, position: start)
        }
        let following = scanner.position + 1 < scanner.bytes.count ? scanner.bytes[scanner.position + 1] : 0
        switch byte {
        case UInt8(ascii: "("): return single(.leftParen)
        case UInt8(ascii: ")"): return single(.rightParen)
        case UInt8(ascii: "{"): return single(.leftBrace)
        case UInt8(ascii: "}"): return single(.rightBrace)
        case UInt8(ascii: "["): return single(.leftBracket)
        case UInt8(ascii: "]"): return single(.rightBracket)
        case UInt8(ascii: ","): return single(.comma)
        case UInt8(ascii: ":"): return single(.colon)
        case UInt8(ascii: "@"): return single(.at)
        case UInt8(ascii: "+"): return single(.add)
        case UInt8(ascii: "-"): return single(.sub)
        case UInt8(ascii: "*"): return single(.mul)
        case UInt8(ascii: "/"): return single(.div)
        case UInt8(ascii: "%"): return single(.mod)
        case UInt8(ascii: "^"): return single(.pow)
        case UInt8(ascii: "="):
            if following == UInt8(ascii: "=") { return pair(.equal, "==") }
            if following == UInt8(ascii: "~") { return pair(.regexMatch, "=~") }
            return single(.assign)
        case UInt8(ascii: "!"):
            if following == UInt8(ascii: "=") { return pair(.notEqual, "!=") }
            if following == UInt8(ascii: "~") { return pair(.regexNoMatch, "!~") }
            throw PromQLError.parse(start, "unexpected character after '!': \(describe(following))")
        case UInt8(ascii: "<"):
            if following == UInt8(ascii: "=") { return pair(.lessEqual, "<=") }
            if following == UInt8(ascii: "/") { return pair(.trimUpper, "</") }
            return single(.less)
        case UInt8(ascii: ">"):
            if following == UInt8(ascii: "=") { return pair(.greaterEqual, ">=") }
            if following == UInt8(ascii: "/") { return pair(.trimLower, ">/") }
            return single(.greater)
        case 0x22, 0x27, 0x60:
            do {
                let value = try scanner.quotedString() ?? ""
                return Token(kind: .string, text: value, position: start)
            } catch {
                throw PromQLError.parse(error.position, error.message)
            }
        default:
            if isDigit(byte) || (byte == UInt8(ascii: ".") && isDigit(following)) {
                return try numberOrDuration(start)
            }
            if isIdentifierStart(byte) {
                while let b = scanner.peek, isIdentifierStart(b) || isDigit(b) || b == UInt8(ascii: ":") {
                    scanner.position += 1
                }
                let text = String(decoding: scanner.bytes[start..<scanner.position], as: UTF8.self)
                let lower = text.lowercased()
                if lower == "inf" || lower == "nan" {
                    return Token(kind: .number, text: text, position: start, number: lower == "inf" ? .infinity : .nan)
                }
                return Token(kind: .identifier, text: text, position: start)
            }
            throw PromQLError.parse(start, "unexpected character: \(describe(byte))")
        }
    }

    private func describe(_ byte: UInt8) -> String {
        byte == 0 ? "end of input" : "'\(Character(UnicodeScalar(byte)))'"
    }

    private mutating func skipSpaceAndComments() {
        while let byte = scanner.peek {
            if byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
                scanner.position += 1
            } else if byte == UInt8(ascii: "#") {
                while let b = scanner.peek, b != 0x0A { scanner.position += 1 }
            } else {
                return
            }
        }
    }

    /// A number (`12`, `1.5e-3`, `0x1F`, `1_000`) or, when unit letters follow digits, a duration
    /// (`5m`, `1h30m`, `250ms`).
    private mutating func numberOrDuration(_ start: Int) throws(PromQLError) -> Token {
        let bytes = scanner.bytes
        var i = start
        if bytes[i] == UInt8(ascii: "0"), i + 1 < bytes.count, bytes[i + 1] | 0x20 == UInt8(ascii: "x") {
            i += 2
            while i < bytes.count, isHexDigit(bytes[i]) || bytes[i] == UInt8(ascii: "_") { i += 1 }
            scanner.position = i
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            guard let value = UInt64(String(text.dropFirst(2)).replacingAll("_", with: ""), radix: 16) else {
                throw PromQLError.parse(start, "bad number or duration syntax: \"\(text)\"")
            }
            return Token(kind: .number, text: text, position: start, number: Double(value))
        }
        // Try a duration first: digit runs each followed by a unit.
        if let (end, millis) = try durationEnd(from: start) {
            scanner.position = end
            return Token(kind: .duration, text: String(decoding: bytes[start..<end], as: UTF8.self), position: start, number: millis)
        }
        while i < bytes.count, isDigit(bytes[i]) || bytes[i] == UInt8(ascii: "_") { i += 1 }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            while i < bytes.count, isDigit(bytes[i]) || bytes[i] == UInt8(ascii: "_") { i += 1 }
        }
        if i < bytes.count, bytes[i] | 0x20 == UInt8(ascii: "e") {
            var j = i + 1
            if j < bytes.count, bytes[j] == UInt8(ascii: "+") || bytes[j] == UInt8(ascii: "-") { j += 1 }
            if j < bytes.count, isDigit(bytes[j]) {
                while j < bytes.count, isDigit(bytes[j]) { j += 1 }
                i = j
            }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        scanner.position = i
        if i < bytes.count, isIdentifierStart(bytes[i]) || isDigit(bytes[i]) {
            var j = i
            while j < bytes.count, isIdentifierStart(bytes[j]) || isDigit(bytes[j]) { j += 1 }
            throw PromQLError.parse(start, "bad number or duration syntax: \"\(String(decoding: bytes[start..<j], as: UTF8.self))\"")
        }
        let cleaned = text.contains("_") ? text.replacingAll("_", with: "") : text
        guard !text.hasSuffix("_"), !text.contains("__"), let value = Double(cleaned) else {
            throw PromQLError.parse(start, "bad number or duration syntax: \"\(text)\"")
        }
        return Token(kind: .number, text: text, position: start, number: value)
    }

    /// Where a duration starting at `start` ends and its length in milliseconds, or nil if the
    /// characters there are not a duration. Units must come in decreasing order, each at most once.
    private func durationEnd(from start: Int) throws(PromQLError) -> (Int, Double)? {
        let bytes = scanner.bytes
        let units: [(String, Double)] = [("y", 365 * 86_400_000), ("w", 7 * 86_400_000), ("d", 86_400_000),
                                         ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)]
        var i = start
        var total = 0.0
        var lastUnit = -1
        while i < bytes.count, isDigit(bytes[i]) {
            var digits = 0.0
            while i < bytes.count, isDigit(bytes[i]) {
                digits = digits * 10 + Double(bytes[i] - 48)
                i += 1
            }
            var j = i
            while j < bytes.count, isLetter(bytes[j]) { j += 1 }
            let unit = String(decoding: bytes[i..<j], as: UTF8.self)
            guard let index = units.firstIndex(where: { $0.0 == unit }), index > lastUnit else { return nil }
            lastUnit = index
            total += digits * units[index].1
            i = j
        }
        guard lastUnit >= 0 else { return nil }
        if i < bytes.count, isIdentifierStart(bytes[i]) || bytes[i] == UInt8(ascii: ".") { return nil }
        // As Prometheus: a duration must fit int64 milliseconds.
        guard total < 9.223372036854775807e18 else { throw PromQLError.parse(start, "duration out of range") }
        return (i, total)
    }
}

@inline(__always) func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
@inline(__always) func isLetter(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A }
@inline(__always) func isHexDigit(_ b: UInt8) -> Bool { isDigit(b) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x66) }
@inline(__always) func isIdentifierStart(_ b: UInt8) -> Bool { isLetter(b) || b == UInt8(ascii: "_") }
