#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// A pull reader over JSON bytes, for the few JSON shapes read on hot paths (Loki push bodies,
/// Docker json-file log lines): no intermediate objects, strings decoded only when asked for.
/// Errors carry the byte offset. One owner; `bytes` must outlive the reader.
public struct JSONReader {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public var offset: Int
        public var message: String
        public var description: String { "invalid JSON at byte \(offset): \(message)" }

        public init(offset: Int, message: String) {
            self.offset = offset
            self.message = message
        }
    }

    public enum Token: Equatable { case object, array, string, number, bool, null }

    private let bytes: UnsafeRawBufferPointer
    public private(set) var offset = 0
    /// Objects and arrays open around the current position. Readers of nested values recurse, so
    /// nesting past `maxDepth` is refused rather than left to exhaust the stack.
    private var depth = 0
    public static let maxDepth = 128

    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    private func fail(_ message: String) -> Failure { Failure(offset: offset, message: message) }

    private mutating func skipSpace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x09, 0x0A, 0x0D: offset += 1
            default: return
            }
        }
    }

    /// The kind of the next value, without consuming it.
    public mutating func peek() throws(Failure) -> Token {
        skipSpace()
        guard offset < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[offset] {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        default: throw fail("unexpected character \"\(Character(Unicode.Scalar(bytes[offset])))\"")
        }
    }

    private mutating func expect(_ byte: UInt8) throws(Failure) {
        skipSpace()
        guard offset < bytes.count, bytes[offset] == byte else {
            throw fail("expected \"\(Character(Unicode.Scalar(byte)))\"")
        }
        offset += 1
    }

    private mutating func enter() throws(Failure) {
        guard depth < Self.maxDepth else { throw fail("nested deeper than \(Self.maxDepth) levels") }
        depth += 1
    }

    /// Reads the members of an object, handing each key to `member`, which must consume the value.
    public mutating func object(_ member: (inout JSONReader, String) throws -> Void) throws {
        try objectKeyBytes { reader, key in try member(&reader, String(decoding: key, as: UTF8.self)) }
    }

    /// Reads the members of an object, handing each key's unescaped bytes (valid only during the
    /// call) to `member`, which must consume the value. Skipping keys costs no allocation.
    public mutating func objectKeyBytes(_ member: (inout JSONReader, UnsafeRawBufferPointer) throws -> Void) throws {
        try expect(UInt8(ascii: "{"))
        try enter()
        defer { depth -= 1 }
        skipSpace()
        if offset < bytes.count && bytes[offset] == UInt8(ascii: "}") {
            offset += 1
            return
        }
        let input = bytes
        var scratch: [UInt8] = []
        while true {
            // Where the key's bytes are in the input, or a copy when it had escapes.
            let (range, copy) = try withString(into: &scratch) { key -> (Range<Int>?, [UInt8]) in
                if let base = key.baseAddress, let inputBase = input.baseAddress, base >= inputBase, base + key.count <= inputBase + input.count {
                    let start = inputBase.distance(to: base)
                    return (start..<start + key.count, [])
                }
                return (nil, Array(key))
            }
            try expect(UInt8(ascii: ":"))
            if let range {
                try member(&self, UnsafeRawBufferPointer(rebasing: input[range]))
            } else {
                try copy.withUnsafeBytes { try member(&self, $0) }
            }
            skipSpace()
            guard offset < bytes.count else { throw fail("unterminated object") }
            if bytes[offset] == UInt8(ascii: ",") {
                offset += 1
                continue
            }
            try expect(UInt8(ascii: "}"))
            return
        }
    }

    /// Reads the elements of an array, calling `element` for each; it must consume the value.
    public mutating func array(_ element: (inout JSONReader) throws -> Void) throws {
        try expect(UInt8(ascii: "["))
        try enter()
        defer { depth -= 1 }
        skipSpace()
        if offset < bytes.count && bytes[offset] == UInt8(ascii: "]") {
            offset += 1
            return
        }
        while true {
            try element(&self)
            skipSpace()
            guard offset < bytes.count else { throw fail("unterminated array") }
            if bytes[offset] == UInt8(ascii: ",") {
                offset += 1
                continue
            }
            try expect(UInt8(ascii: "]"))
            return
        }
    }

    /// A string value, unescaped. Invalid UTF-8 inside is replaced with U+FFFD.
    public mutating func string() throws(Failure) -> String {
        var scratch: [UInt8] = []
        return try withString(into: &scratch) { String(decoding: $0, as: UTF8.self) }
    }

    /// Hands a string value's unescaped bytes to `body`: the input bytes themselves when the string
    /// has no escapes, else `scratch` after decoding into it.
    public mutating func withString<R>(into scratch: inout [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) throws(Failure) -> R {
        try expect(UInt8(ascii: "\""))
        let start = offset
        // Fast path: up to the closing quote with no backslash.
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                offset += 1
                do {
                    return try body(UnsafeRawBufferPointer(rebasing: bytes[start..<offset - 1]))
                } catch {
                    throw fail("\(error)")
                }
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw fail("control character in a string") }
            offset += 1
        }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: bytes[start..<offset])
        while offset < bytes.count {
            let byte = bytes[offset]
            offset += 1
            switch byte {
            case UInt8(ascii: "\""):
                do {
                    return try scratch.withUnsafeBytes { try body($0) }
                } catch {
                    throw fail("\(error)")
                }
            case UInt8(ascii: "\\"):
                guard offset < bytes.count else { throw fail("unterminated escape") }
                let escape = bytes[offset]
                offset += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(escape)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        // A surrogate pair; a lone half becomes U+FFFD, as Go's decoder does.
                        if offset + 6 <= bytes.count && bytes[offset] == UInt8(ascii: "\\") && bytes[offset + 1] == UInt8(ascii: "u") {
                            offset += 2
                            let low = try hex4()
                            scalar = (0xDC00..<0xE000).contains(low) ? 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00) : 0xFFFD
                        } else {
                            scalar = 0xFFFD
                        }
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        scalar = 0xFFFD
                    }
                    scratch.append(contentsOf: String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8)
                default:
                    throw fail("invalid escape \"\\\(Character(Unicode.Scalar(escape)))\"")
                }
            default:
                if byte < 0x20 { throw fail("control character in a string") }
                scratch.append(byte)
            }
        }
        throw fail("unterminated string")
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw fail("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - 0x30
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - 0x57
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - 0x37
            default: throw fail("invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            offset += 1
        }
        return value
    }

    /// A number value as written (for exact integer parsing by the caller).
    public mutating func numberText() throws(Failure) -> String {
        let range = try numberBytes()
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// Moves past a number's characters; where they were.
    private mutating func numberBytes() throws(Failure) -> Range<Int> {
        skipSpace()
        let start = offset
        scan: while offset < bytes.count {
            switch bytes[offset] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
                 UInt8(ascii: "e"), UInt8(ascii: "E"):
                offset += 1
            default:
                break scan
            }
        }
        guard offset > start else { throw fail("expected a number") }
        return start..<offset
    }

    /// A `true` or `false` literal.
    public mutating func bool() throws(Failure) -> Bool {
        guard try peek() == .bool else { throw fail("expected true or false") }
        let value = bytes[offset] == UInt8(ascii: "t")
        let word: StaticString = value ? "true" : "false"
        let length = word.utf8CodeUnitCount
        guard offset + length <= bytes.count, memcmp(bytes.baseAddress! + offset, word.utf8Start, length) == 0 else {
            throw fail("invalid literal")
        }
        offset += length
        return value
    }

    /// Skips any value, checking its syntax, without building it.
    public mutating func skip() throws {
        switch try peek() {
        case .object: try object { reader, _ in try reader.skip() }
        case .array: try array { try $0.skip() }
        case .string:
            try skipString()
        case .number:
            _ = try numberBytes()
        case .bool, .null:
            let word: StaticString = bytes[offset] == UInt8(ascii: "t") ? "true" : bytes[offset] == UInt8(ascii: "f") ? "false" : "null"
            let length = word.utf8CodeUnitCount
            guard offset + length <= bytes.count,
                  memcmp(bytes.baseAddress! + offset, word.utf8Start, length) == 0 else { throw fail("invalid literal") }
            offset += length
        }
    }

    /// Moves past a string, finding its closing quote with `memchr`: the quickest way over the
    /// fields a reader does not want. Escapes are honoured; contents are not otherwise checked.
    private mutating func skipString() throws(Failure) {
        try expect(UInt8(ascii: "\""))
        let base = bytes.baseAddress!
        var from = offset
        while from < bytes.count {
            guard let hit = memchr(base + from, Int32(UInt8(ascii: "\"")), bytes.count - from) else { break }
            let quote = base.distance(to: UnsafeRawPointer(hit))
            // Escaped when preceded by an odd run of backslashes.
            var backslashes = 0
            while quote - backslashes - 1 >= offset && bytes[quote - backslashes - 1] == UInt8(ascii: "\\") { backslashes += 1 }
            if backslashes % 2 == 0 {
                offset = quote + 1
                return
            }
            from = quote + 1
        }
        offset = bytes.count
        throw fail("unterminated string")
    }

    /// Whether only whitespace is left.
    public mutating func isAtEnd() -> Bool {
        skipSpace()
        return offset == bytes.count
    }
}

extension JSONReader {
    /// The next value as plain Swift values, for documents read loosely (Kubernetes objects): objects
    /// as `[String: Any]`, arrays as `[Any]`, `String`, `Bool`, numbers as `Int` when integral and in
    /// range and `Double` otherwise. Nulls are left out of objects and arrays.
    public mutating func anyValue() throws -> Any? {
        switch try peek() {
        case .object:
            var members: [String: Any] = [:]
            try object { reader, key in members[key] = try reader.anyValue() }
            return members
        case .array:
            var elements: [Any] = []
            try array { reader in if let value = try reader.anyValue() { elements.append(value) } }
            return elements
        case .string:
            return try string()
        case .number:
            let text = try numberText()
            return Int(text) ?? Double(text)
        case .bool:
            return try bool()
        case .null:
            try skip()
            return nil
        }
    }

    /// A whole document as `anyValue()` reads it; nothing may follow the value.
    public static func anyDocument(_ bytes: UnsafeRawBufferPointer) throws -> Any? {
        var reader = JSONReader(bytes)
        let value = try reader.anyValue()
        guard reader.isAtEnd() else { throw Failure(offset: reader.offset, message: "unexpected data after the value") }
        return value
    }
}
