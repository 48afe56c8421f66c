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
                    guard let range = rest.range(of: text) else { return nil }
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
    /// Sets an extracted label under its sanitised name. (Loki renames one that collides with a
    /// stream label to `<name>_extracted`; here the extracted value replaces it.)
    static func set(_ name: String, _ value: String, in labels: inout [String: String]) {
        let clean = sanitize(name)
        guard !clean.isEmpty else { return }
        labels[clean] = value
    }

    /// Label names keep `[a-zA-Z0-9_]`; anything else becomes `_`.
    static func sanitize(_ name: String) -> String {
        var out = ""
        for (index, character) in name.enumerated() {
            if character.isASCII && (character.isLetter || character == "_" || (character.isNumber && index > 0)) {
                out.append(character)
            } else {
                out.append("_")
            }
        }
        return out
    }

    static func error(_ kind: String, _ details: String, in labels: inout [String: String]) {
        labels["__error__"] = kind
        labels["__error_details__"] = details
    }

    // MARK: json

    /// Without extractions: every scalar field, nested names joined by `_`. With them: each
    /// expression (`a.b`, `a[0]`, `a["b c"]`) read from the document.
    static func json(_ line: String, extractions: [LabelExtraction], into labels: inout [String: String]) {
        let document: JSONValue
        do {
            document = try JSONValue.parse(line)
        } catch {
            Self.error("JSONParserErr", "\(error)", in: &labels)
            return
        }
        if extractions.isEmpty {
            flatten(document, prefix: "", into: &labels)
            return
        }
        for extraction in extractions {
            guard let path = JSONPath(extraction.expression), let found = document.at(path) else { continue }
            labels[sanitize(extraction.label)] = found.text
        }
    }

    static func flatten(_ value: JSONValue, prefix: String, into labels: inout [String: String]) {
        switch value {
        case let .object(members):
            for (key, member) in members {
                flatten(member, prefix: prefix.isEmpty ? sanitize(key) : prefix + "_" + sanitize(key), into: &labels)
            }
        case .array:
            return
        default:
            if !prefix.isEmpty { labels[prefix] = value.text }
        }
    }

    /// `| unpack`: a JSON object's fields become labels and its `_entry` field the line.
    static func unpack(_ line: String, into labels: inout [String: String]) -> String? {
        guard case let .object(members)? = try? JSONValue.parse(line) else {
            Self.error("JSONParserErr", "unpack needs a JSON object", in: &labels)
            return nil
        }
        var entry: String?
        for (key, value) in members {
            if key == "_entry" { entry = value.text } else if case .string = value { labels[sanitize(key)] = value.text }
        }
        return entry
    }

    // MARK: logfmt

    static func logfmt(_ line: String, strict: Bool, keepEmpty: Bool, extractions: [LabelExtraction], into labels: inout [String: String]) {
        var found: [(String, String)] = []
        var chars = Substring(line)
        while true {
            chars = chars.drop { $0 == " " || $0 == "\t" }
            guard !chars.isEmpty else { break }
            let key = chars.prefix { $0 != "=" && $0 != " " && $0 != "\t" }
            chars = chars.dropFirst(key.count)
            guard !key.isEmpty, !key.contains("\"") else {
                if strict {
                    Self.error("LogfmtParserErr", "logfmt syntax error: unexpected character in key", in: &labels)
                    return
                }
                chars = chars.drop { $0 != " " }
                continue
            }
            guard chars.first == "=" else {
                if keepEmpty { found.append((String(key), "")) }
                continue
            }
            chars = chars.dropFirst()
            var value = ""
            if chars.first == "\"" {
                chars = chars.dropFirst()
                var closed = false
                while let character = chars.first {
                    chars = chars.dropFirst()
                    if character == "\\", let next = chars.first {
                        chars = chars.dropFirst()
                        switch next {
                        case "n": value.append("\n")
                        case "t": value.append("\t")
                        default: value.append(next)
                        }
                    } else if character == "\"" {
                        closed = true
                        break
                    } else {
                        value.append(character)
                    }
                }
                if !closed && strict {
                    Self.error("LogfmtParserErr", "logfmt syntax error: unterminated quoted value", in: &labels)
                    return
                }
            } else {
                let raw = chars.prefix { $0 != " " && $0 != "\t" }
                chars = chars.dropFirst(raw.count)
                value = String(raw)
            }
            if !value.isEmpty || keepEmpty { found.append((String(key), value)) }
        }
        if extractions.isEmpty {
            for (key, value) in found { labels[sanitize(key)] = value }
        } else {
            for extraction in extractions {
                if let value = found.last(where: { $0.0 == extraction.expression })?.1 { labels[sanitize(extraction.label)] = value }
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
