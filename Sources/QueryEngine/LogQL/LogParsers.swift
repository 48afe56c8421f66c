import ObsCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Loki's `pattern` syntax: literal text with `<name>` captures and `<_>` placeholders, matched
/// left to right, each capture taking the shortest text before the next literal.
public struct LogPattern: Sendable {
    enum Part: Equatable {
        case literal(String)
        case capture(String?)
    }

    let parts: [Part]

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public init(_ source: String) throws {
        var parts: [Part] = []
        var literal = ""
        var rest = Substring(source)
        while let open = rest.firstIndex(of: "<") {
            if let close = rest[open...].firstIndex(of: ">"),
               rest[rest.index(after: open)..<close].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }),
               rest.index(after: open) < close {
                literal += rest[..<open]
                if !literal.isEmpty { parts.append(.literal(literal)) }
                literal = ""
                let name = String(rest[rest.index(after: open)..<close])
                if case .capture = parts.last {
                    throw Invalid(description: "invalid pattern \"\(source)\": two captures must be separated by literal text")
                }
                parts.append(.capture(name == "_" ? nil : name))
                rest = rest[rest.index(after: close)...]
            } else {
                literal += rest[...open]
                rest = rest[rest.index(after: open)...]
            }
        }
        literal += rest
        if !literal.isEmpty { parts.append(.literal(literal)) }
        guard parts.contains(where: { if case .capture = $0 { true } else { false } }) else {
            throw Invalid(description: "invalid pattern \"\(source)\": at least one capture is required")
        }
        self.parts = parts
    }

    /// The named captures when `line` matches, nil otherwise.
    public func match(_ line: String) -> [(String, String)]? {
        var captures: [(String, String)] = []
        var rest = Substring(line)
        var pending: String??
        for part in parts {
            switch part {
            case let .literal(text):
                if let name = pending {
                    guard let range = rest.firstRange(of: text) else { return nil }
                    if let name { captures.append((name, String(rest[..<range.lowerBound]))) }
                    rest = rest[range.upperBound...]
                    pending = nil
                } else {
                    guard rest.hasPrefix(text) else { return nil }
                    rest = rest.dropFirst(text.count)
                }
            case let .capture(name):
                pending = .some(name)
            }
        }
        if let name = pending {
            if let name { captures.append((name, String(rest))) }
        }
        return captures
    }
}

/// The line parsers of LogQL pipelines.
enum LogParsers {
    /// Sets an extracted label under its sanitised name; one that collides with a stream label
    /// (in `base`) becomes `<name>_extracted`, as Loki names it, so the stream label survives.
    static func set(_ name: String, _ value: String, base: [String: String], in labels: inout [String: String]) {
        let clean = sanitize(name)
        guard !clean.isEmpty else { return }
        put(clean, value, base: base, into: &labels)
    }

    @inline(__always)
    static func put(_ name: String, _ value: String, base: [String: String], into labels: inout [String: String]) {
        labels[base[name] == nil ? name : name + "_extracted"] = value
    }

    /// Label names keep `[a-zA-Z0-9_]` (no leading digit); anything else becomes `_`.
    static func sanitize(_ name: String) -> String {
        var first = true
        var valid = true
        for byte in name.utf8 {
            if !isNameByte(byte, first: first) {
                valid = false
                break
            }
            first = false
        }
        if valid { return name }
        var out = ""
        for (index, character) in name.enumerated() {
            if let ascii = character.asciiValue, isNameByte(ascii, first: index == 0) {
                out.append(character)
            } else {
                out.append("_")
            }
        }
        return out
    }

    /// The label a top-level key becomes: its bytes as they are when they form a valid name, else
    /// sanitised; with `hints`, only a hinted name (nil otherwise), compared without allocating.
    static func labelName(_ key: UnsafeRawBufferPointer, hints: [String]?) -> String? {
        var valid = true, first = true
        for byte in key {
            if !isNameByte(byte, first: first) {
                valid = false
                break
            }
            first = false
        }
        if let hints, valid {
            return hints.first { hint in hint.utf8.count == key.count && hint.utf8.elementsEqual(key) }
        }
        let text = String(decoding: key, as: UTF8.self)
        let name = valid ? text : sanitize(text)
        if let hints { return hints.contains(name) ? name : nil }
        return name
    }

    @inline(__always)
    static func isNameByte(_ byte: UInt8, first: Bool) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"): true
        case UInt8(ascii: "0")...UInt8(ascii: "9"): !first
        default: false
        }
    }

    static func error(_ kind: String, _ details: String, in labels: inout [String: String]) {
        labels["__error__"] = kind
        labels["__error_details__"] = details
    }

    // MARK: json

    /// Without extractions: every scalar field, nested names joined by `_`, read straight from
    /// the bytes; with `hints`, only fields whose label is among them are decoded. With
    /// extractions: each expression (`a.b`, `a[0]`, `a["b c"]`) read from the document.
    static func json(_ line: String, extractions: [LabelExtraction], hints: [String]?, base: [String: String],
                     into labels: inout [String: String]) {
        if extractions.isEmpty {
            var text = line
            let failure: String? = text.withUTF8 { utf8 in
                var reader = JSONReader(UnsafeRawBufferPointer(utf8))
                do {
                    guard try reader.peek() == .object else {
                        return "invalid JSON at byte \(reader.offset): expected an object"
                    }
                    var found: [(String, String)] = []
                    try flatten(&reader, prefix: "", hints: hints, depth: 0, into: &found)
                    guard reader.isAtEnd() else { return "invalid JSON at byte \(reader.offset): unexpected data after the value" }
                    for (name, value) in found { put(name, value, base: base, into: &labels) }
                    return nil
                } catch {
                    return "\(error)"
                }
            }
            if let failure { Self.error("JSONParserErr", failure, in: &labels) }
            return
        }
        let document: JSONValue
        do {
            document = try JSONValue.parse(line)
        } catch {
            Self.error("JSONParserErr", "\(error)", in: &labels)
            return
        }
        for extraction in extractions {
            guard let path = JSONPath(extraction.expression), let found = document.at(path) else { continue }
            put(sanitize(extraction.label), found.text, base: base, into: &labels)
        }
    }

    /// Scalar members of the object at the reader, nested objects flattened with `_`; arrays are
    /// skipped, as Loki does. With hints, a top-level key is compared as bytes and no string is
    /// made for a field nobody asked for.
    static func flatten(_ reader: inout JSONReader, prefix: String, hints: [String]?, depth: Int,
                        into found: inout [(String, String)]) throws {
        guard depth < 64 else { throw JSONReader.Failure(offset: reader.offset, message: "nested too deeply") }
        try reader.objectKeyBytes { reader, key in
            // Nested names join the prefix; a digit may start the key there.
            func fullName() -> String {
                let raw = prefix + "_" + String(decoding: key, as: UTF8.self)
                return raw.utf8.allSatisfy { isNameByte($0, first: false) } ? raw : sanitize(raw)
            }
            var name: String?
            if prefix.isEmpty {
                name = labelName(key, hints: hints)
            } else {
                let candidate = fullName()
                if hints?.contains(candidate) ?? true { name = candidate }
            }
            switch try reader.peek() {
            case .object:
                let nestedName = name ?? (prefix.isEmpty ? sanitize(String(decoding: key, as: UTF8.self)) : fullName())
                let nested = nestedName + "_"
                if hints?.contains(where: { $0.hasPrefix(nested) }) ?? true {
                    try flatten(&reader, prefix: nestedName, hints: hints, depth: depth + 1, into: &found)
                } else {
                    try reader.skip()
                }
            case .array:
                try reader.skip()
            case .string:
                if let name { found.append((name, try reader.string())) } else { try reader.skip() }
            case .number:
                if let name { found.append((name, try reader.numberText())) } else { try reader.skip() }
            case .bool:
                let start = reader.offset
                try reader.skip()
                if let name { found.append((name, reader.offset - start == 4 ? "true" : "false")) }
            case .null:
                try reader.skip()
                if let name { found.append((name, "")) }
            }
        }
    }

    /// `| unpack`: a JSON object's fields become labels and its `_entry` field the line.
    static func unpack(_ line: String, base: [String: String], into labels: inout [String: String]) -> String? {
        guard case let .object(members)? = try? JSONValue.parse(line) else {
            Self.error("JSONParserErr", "unpack needs a JSON object", in: &labels)
            return nil
        }
        var entry: String?
        for (key, value) in members {
            if key == "_entry" { entry = value.text } else if case .string = value { put(sanitize(key), value.text, base: base, into: &labels) }
        }
        return entry
    }

    // MARK: logfmt

    /// `key=value key="quoted value" flag` pairs, read byte by byte. With `hints` (and no
    /// extractions), only keys whose label is among them are kept.
    static func logfmt(_ line: String, strict: Bool, keepEmpty: Bool, extractions: [LabelExtraction], hints: [String]?,
                       base: [String: String], into labels: inout [String: String]) {
        let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), equals = UInt8(ascii: "="), quote = UInt8(ascii: "\"")
        var found: [(String, String)] = []
        var failure: String?
        var text = line
        text.withUTF8 { bytes in
            var index = 0
            // The label a key becomes, nil when nobody asked for it. With extractions, the key itself.
            func wanted(_ key: UnsafeBufferPointer<UInt8>) -> String? {
                guard extractions.isEmpty else {
                    let text = String(decoding: key, as: UTF8.self)
                    return extractions.contains { $0.expression == text } ? text : nil
                }
                return labelName(UnsafeRawBufferPointer(key), hints: hints)
            }
            while true {
                while index < bytes.count && (bytes[index] == space || bytes[index] == tab) { index += 1 }
                guard index < bytes.count else { break }
                let keyStart = index
                var quoted = false
                while index < bytes.count && bytes[index] != equals && bytes[index] != space && bytes[index] != tab {
                    if bytes[index] == quote { quoted = true }
                    index += 1
                }
                guard index > keyStart, !quoted else {
                    if strict {
                        failure = "logfmt syntax error: unexpected character in key"
                        return
                    }
                    while index < bytes.count && bytes[index] != space { index += 1 }
                    continue
                }
                let keyBytes = UnsafeBufferPointer(rebasing: bytes[keyStart..<index])
                guard index < bytes.count && bytes[index] == equals else {
                    if keepEmpty, let name = wanted(keyBytes) { found.append((name, "")) }
                    continue
                }
                index += 1
                let name = wanted(keyBytes)
                let keep = name != nil
                var value: [UInt8] = []
                var valueText = ""
                if index < bytes.count && bytes[index] == quote {
                    index += 1
                    var closed = false
                    while index < bytes.count {
                        let byte = bytes[index]
                        index += 1
                        if byte == UInt8(ascii: "\\"), index < bytes.count {
                            let next = bytes[index]
                            index += 1
                            if keep {
                                switch next {
                                case UInt8(ascii: "n"): value.append(0x0A)
                                case UInt8(ascii: "t"): value.append(0x09)
                                default: value.append(next)
                                }
                            }
                        } else if byte == quote {
                            closed = true
                            break
                        } else if keep {
                            value.append(byte)
                        }
                    }
                    if !closed && strict {
                        failure = "logfmt syntax error: unterminated quoted value"
                        return
                    }
                    if keep { valueText = String(decoding: value, as: UTF8.self) }
                } else {
                    let valueStart = index
                    while index < bytes.count && bytes[index] != space && bytes[index] != tab { index += 1 }
                    if keep { valueText = String(decoding: UnsafeBufferPointer(rebasing: bytes[valueStart..<index]), as: UTF8.self) }
                }
                if let name, !valueText.isEmpty || keepEmpty { found.append((name, valueText)) }
            }
        }
        if let failure {
            Self.error("LogfmtParserErr", failure, in: &labels)
            return
        }
        if extractions.isEmpty {
            for (name, value) in found { put(name, value, base: base, into: &labels) }
        } else {
            for extraction in extractions {
                if let value = found.last(where: { $0.0 == extraction.expression })?.1 { put(sanitize(extraction.label), value, base: base, into: &labels) }
            }
        }
    }

    // MARK: decolorize and bytes

    /// Removes ANSI escape sequences (`ESC [ … letter`).
    static func decolorize(_ line: String) -> String {
        guard line.contains("\u{1B}") else { return line }
        var out = ""
        var iterator = line.unicodeScalars.makeIterator()
        while let scalar = iterator.next() {
            guard scalar == "\u{1B}" else {
                out.unicodeScalars.append(scalar)
                continue
            }
            guard let next = iterator.next() else { break }
            if next == "[" {
                while let inner = iterator.next(), !(("A"..."Z").contains(inner) || ("a"..."z").contains(inner)) {}
            }
        }
        return out
    }

    /// Whether `needle` occurs in `haystack`.
    static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count, let first = needle.first else { return needle.isEmpty }
        return needle.withUnsafeBytes { pattern in
            var start = 0
            while start + needle.count <= haystack.count {
                guard let hit = memchr(haystack.baseAddress! + start, Int32(first), haystack.count - start - needle.count + 1) else { return false }
                let offset = haystack.baseAddress!.distance(to: UnsafeRawPointer(hit))
                if memcmp(haystack.baseAddress! + offset, pattern.baseAddress!, needle.count) == 0 { return true }
                start = offset + 1
            }
            return false
        }
    }
}
