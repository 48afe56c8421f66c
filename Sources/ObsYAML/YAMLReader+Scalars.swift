import ObsCore

/// Scalars: plain, single- and double-quoted, literal (`|`) and folded (`>`), with YAML's line
/// folding and chomping.
extension YAMLReader {
    /// Whether a plain scalar may start here: not at an indicator, and `-`, `?`, `:` only when
    /// something other than a blank follows.
    func canStartPlain(flow: Bool) -> Bool {
        guard let byte = peek() else { return false }
        switch byte {
        case .hyphen, .question, .colon:
            let next = peek(1)
            return !(isBlank(next) || (flow && isFlowIndicator(next)))
        case .newline, .space, .tab:
            return false
        default:
            return !Self.startsNoPlainScalar(byte)
        }
    }

    /// The indicators no plain scalar may start with (`-`, `?` and `:` only when a blank follows).
    static func startsNoPlainScalar(_ byte: UInt8) -> Bool {
        switch byte {
        case .comma, .openBracket, .closeBracket, .openBrace, .closeBrace, .hash, .ampersand, .asterisk, .exclamation,
             .pipe, .greaterThan, .apostrophe, .quote, .percent, UInt8(ascii: "@"), UInt8(ascii: "`"):
            true
        default:
            false
        }
    }

    /// The plain scalar's text on this line, without trailing blanks. Stops before `: `, ` #`, the
    /// line break, and in flow context before `,[]{}` and a `:` that precedes one.
    mutating func plainSegment(flow: Bool) -> String {
        let start = pos
        var end = pos
        while let byte = peek() {
            if byte == .newline { break }
            if byte == .colon {
                let next = peek(1)
                if isBlank(next) || (flow && isFlowIndicator(next)) { break }
            }
            if byte == .hash, pos > start, bytes[pos - 1] == .space || bytes[pos - 1] == .tab { break }
            if flow && isFlowIndicator(byte) { break }
            advance()
            if byte != .space && byte != .tab { end = pos }
        }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// Continues a plain scalar onto the following lines that are indented more than `parent`
    /// (any line, in flow context): one line break folds into a space, each empty line is a `\n`.
    /// A comment, a less indented line or a document marker ends it.
    mutating func plainContinuation(_ first: String, parent: Int, flow: Bool) throws(ConfigError) -> String {
        var text = first
        while peek() == .newline {
            let beforeBreak = position
            var breaks = 0
            while peek() == .newline {
                advance()
                breaks += 1
                skipInlineSpace()
            }
            let ended = atEnd || atAnyDocumentMarker || peek() == .hash
                || (flow ? (isFlowIndicator(peek()) || peek() == .colon) : column - 1 <= parent)
            if ended {
                restore(beforeBreak)
                break
            }
            text += breaks == 1 ? " " : String(repeating: "\n", count: breaks - 1)
            text += plainSegment(flow: flow)
            if !flow && atValueIndicator {
                throw fail("a value that continues on this line cannot contain ': '; quote the value, or indent the key as its own entry")
            }
        }
        return text
    }

    /// A single- or double-quoted scalar, with its text, style, and whether it spanned lines.
    mutating func quotedScalar() throws(ConfigError) -> (String, YAMLNode.Style, Bool) {
        let quote = bytes[pos]
        let startLine = line, startColumn = column
        advance()
        var out: [UInt8] = []
        /// Trailing blanks before this count came from escapes, and line folding keeps them.
        var kept = 0
        var multiline = false
        while true {
            guard let byte = peek() else {
                throw fail("unterminated quoted string", line: startLine, column: startColumn)
            }
            if byte == quote {
                if quote == .apostrophe && peek(1) == .apostrophe {
                    advance(count: 2)
                    out.append(.apostrophe)
                    continue
                }
                advance()
                break
            }
            if byte == .newline {
                multiline = true
                while out.count > kept, out.last == .space || out.last == .tab { out.removeLast() }
                var breaks = 0
                while peek() == .newline {
                    advance()
                    breaks += 1
                    skipInlineSpace()
                }
                if atAnyDocumentMarker { throw fail("unterminated quoted string", line: startLine, column: startColumn) }
                if breaks == 1 { out.append(.space) } else { out += Array(repeating: .newline, count: breaks - 1) }
                kept = out.count
                continue
            }
            if quote == .quote && byte == .backslash {
                advance()
                guard let escape = peek() else { throw fail("unterminated quoted string", line: startLine, column: startColumn) }
                if escape == .newline {
                    // An escaped line break joins the lines without a space.
                    multiline = true
                    advance()
                    skipInlineSpace()
                    kept = out.count
                    continue
                }
                out += try escaped(escape)
                kept = out.count
                continue
            }
            out.append(byte)
            advance()
        }
        return (String(decoding: out, as: UTF8.self), quote == .quote ? .doubleQuoted : .singleQuoted, multiline)
    }

    /// The UTF-8 of one escape sequence of a double-quoted scalar; the cursor is at its letter.
    mutating func escaped(_ letter: UInt8) throws(ConfigError) -> [UInt8] {
        let escapeLine = line, escapeColumn = column - 1
        advance()
        let scalar: UInt32
        switch letter {
        case UInt8(ascii: "0"): scalar = 0
        case UInt8(ascii: "a"): scalar = 7
        case UInt8(ascii: "b"): scalar = 8
        case UInt8(ascii: "t"), .tab: scalar = 9
        case UInt8(ascii: "n"): scalar = 10
        case UInt8(ascii: "v"): scalar = 11
        case UInt8(ascii: "f"): scalar = 12
        case UInt8(ascii: "r"): scalar = 13
        case UInt8(ascii: "e"): scalar = 27
        case .space, .quote, UInt8(ascii: "/"), .backslash: scalar = UInt32(letter)
        case UInt8(ascii: "N"): scalar = 0x85
        case UInt8(ascii: "_"): scalar = 0xA0
        case UInt8(ascii: "L"): scalar = 0x2028
        case UInt8(ascii: "P"): scalar = 0x2029
        case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
            let digits = letter == UInt8(ascii: "x") ? 2 : letter == UInt8(ascii: "u") ? 4 : 8
            var value: UInt32 = 0
            for _ in 0..<digits {
                guard let digit = peek().flatMap(HexDigits.value) else {
                    throw fail("\\\(Character(Unicode.Scalar(letter))) needs \(digits) hexadecimal digits", line: escapeLine, column: escapeColumn)
                }
                value = value << 4 | UInt32(digit)
                advance()
            }
            scalar = value
        default:
            let shown = letter < 0x80 ? String(Character(Unicode.Scalar(letter))) : "?"
            throw fail("unknown escape sequence \\\(shown)", line: escapeLine, column: escapeColumn)
        }
        guard let unicode = Unicode.Scalar(scalar) else {
            throw fail("escape sequence names no Unicode character (U+\(String(scalar, radix: 16, uppercase: true)))",
                       line: escapeLine, column: escapeColumn)
        }
        return Array(String(Character(unicode)).utf8)
    }

    /// A literal (`|`) or folded (`>`) block scalar; the cursor is at the indicator. Its lines are
    /// those indented at least the content indentation, which is given (`|2`) or taken from the first
    /// non-empty line, and must exceed `parent`.
    mutating func blockScalar(parent: Int) throws(ConfigError) -> YAMLNode {
        let startLine = line, startColumn = column
        let folded = peek() == .greaterThan
        advance()
        var chomping: UInt8?
        var explicitIndent: Int?
        for _ in 0..<2 {
            if let byte = peek(), byte == .hyphen || byte == UInt8(ascii: "+"), chomping == nil {
                chomping = byte
                advance()
            } else if let byte = peek(), byte >= UInt8(ascii: "1") && byte <= UInt8(ascii: "9"), explicitIndent == nil {
                explicitIndent = Int(byte - UInt8(ascii: "0"))
                advance()
            } else if peek() == UInt8(ascii: "0") {
                throw fail("a block scalar's indentation indicator must be 1 to 9")
            }
        }
        skipInlineSpace()
        if peek() == .hash { while let byte = peek(), byte != .newline { advance() } }
        guard atEnd || peek() == .newline else { throw fail("unexpected \(describeNext()) after a block scalar indicator") }
        if !atEnd { advance() }

        let minimum = max(parent + 1, 1)
        let indent = explicitIndent.map { max(parent, 0) + $0 } ?? max(firstContentIndent() ?? minimum, minimum)
        var lines: [String?] = []  // nil for an empty line
        var lastLineBroke = false  // whether the last line read ended with a line break
        while !atEnd {
            let lineBegin = position
            var spaces = 0
            while spaces < indent && peek() == .space {
                advance()
                spaces += 1
            }
            if spaces < indent {
                var end = pos
                while end < bytes.count && (bytes[end] == .space || bytes[end] == .tab) { end += 1 }
                guard end == bytes.count || bytes[end] == .newline else {
                    restore(lineBegin)
                    break
                }
                while pos < end { advance() }
                lastLineBroke = !atEnd
                if !atEnd { advance() }
                lines.append(nil)
                continue
            }
            let contentStart = pos
            while let byte = peek(), byte != .newline { advance() }
            lines.append(String(decoding: bytes[contentStart..<pos], as: UTF8.self))
            lastLineBroke = !atEnd
            if !atEnd { advance() }
        }

        let trailingEmpty = lines.reversed().prefix { $0 == nil }.count
        let content = lines.dropLast(trailingEmpty)
        var text = folded ? Self.fold(content) : content.map { $0 ?? "" }.joined(separator: "\n")
        // The last content line's own break, which an unterminated last line lacks.
        let contentBreak = !content.isEmpty && (trailingEmpty > 0 || lastLineBroke) ? 1 : 0
        switch chomping {
        case .hyphen?: break
        case UInt8(ascii: "+")?: text += String(repeating: "\n", count: contentBreak + trailingEmpty - (lastLineBroke || trailingEmpty == 0 ? 0 : 1))
        default: text += String(repeating: "\n", count: contentBreak)
        }
        return try make(.scalar(text, folded ? .folded : .literal), line: startLine, column: startColumn)
    }

    /// The indentation of the first line after the cursor that holds more than spaces.
    func firstContentIndent() -> Int? {
        var index = pos
        while index < bytes.count {
            var spaces = 0
            while index < bytes.count && bytes[index] == .space {
                spaces += 1
                index += 1
            }
            guard index < bytes.count else { return nil }
            if bytes[index] == .newline {
                index += 1
                continue
            }
            return spaces
        }
        return nil
    }

    /// Folded block scalar lines: a line break between two lines that start with no blank becomes
    /// a space; each empty line is a `\n`; breaks around more-indented lines stay.
    static func fold(_ lines: ArraySlice<String?>) -> String {
        var out = ""
        var previousWasNormal: Bool?
        var empties = 0
        for line in lines {
            guard let line else {
                empties += 1
                continue
            }
            let normal = !(line.first == " " || line.first == "\t")
            switch previousWasNormal {
            case nil: out += String(repeating: "\n", count: empties)
            case true? where normal: out += empties == 0 ? " " : String(repeating: "\n", count: empties)
            default: out += String(repeating: "\n", count: empties + 1)
            }
            out += line
            previousWasNormal = normal
            empties = 0
        }
        return out
    }
}
