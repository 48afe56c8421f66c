import CRE2

/// A regular expression from outside (a query, a rule, a relabel config, a template), compiled with
/// RE2: Go's syntax, which Prometheus and Loki document, and matching in time linear in the input, so
/// no pattern can pin a core. Compilation memory is bounded too: a pattern whose program would need
/// more than `maxProgramBytes` is refused. Immutable; matching is thread-safe.
public final class LinearRegex: @unchecked Sendable, Hashable, CustomStringConvertible {
    // `handle` is written once in `init`; RE2 matching is const and thread-safe.
    private let handle: OpaquePointer
    public let source: String
    public let dotMatchesNewline: Bool
    /// The number of capturing groups, not counting the whole match.
    public let groupCount: Int
    /// Group names by number (index 0 is the whole match and has none).
    public let groupNames: [String?]

    /// What one compiled program may take; RE2's own default, which Go's limits resemble.
    public static let maxProgramBytes: Int64 = 8 << 20

    /// `dotMatchesNewline`: `.` matches `\n` too, as in Prometheus's anchored label matchers.
    /// A pattern that does not compile, with RE2's reason, worded as Go words it.
    public struct SyntaxError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// Throws `SyntaxError` for a pattern that does not compile or needs too much memory.
    public init(_ source: String, dotMatchesNewline: Bool = false) throws {
        self.source = source
        self.dotMatchesNewline = dotMatchesNewline
        let repetitions = Self.countedRepetitions(source)
        guard repetitions <= Self.maxCountedRepetitions else {
            throw SyntaxError(description: "error parsing regexp: counted repetitions add up to \(repetitions), more than \(Self.maxCountedRepetitions)")
        }
        var error = [CChar](repeating: 0, count: 256)
        var pattern = Self.perlNamedGroups(source)
        let compiled = pattern.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                obs_regex_compile(chars.baseAddress, chars.count, dotMatchesNewline ? 1 : 0, Self.maxProgramBytes,
                                  &error, error.count)
            }
        }
        guard let compiled else {
            let reason = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw SyntaxError(description: "error parsing regexp: \(reason)")
        }
        handle = compiled
        groupCount = Int(obs_regex_group_count(compiled))
        groupNames = (0...groupCount).map { group in
            group == 0 ? nil : obs_regex_group_name(compiled, Int32(group)).map { String(cString: $0) }
        }
    }

    deinit { obs_regex_free(handle) }

    public var description: String { source }

    public static func == (lhs: LinearRegex, rhs: LinearRegex) -> Bool {
        lhs.source == rhs.source && lhs.dotMatchesNewline == rhs.dotMatchesNewline
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(source) }

    /// Whether the whole of `text` matches.
    public func wholeMatches(_ text: some StringProtocol) -> Bool { test(text, anchor: OBS_REGEX_ANCHOR_BOTH) }

    /// Whether the pattern matches anywhere in `text`.
    public func occurs(in text: some StringProtocol) -> Bool { test(text, anchor: OBS_REGEX_UNANCHORED) }

    /// The same search over raw bytes (log lines before they become strings).
    public func occurs(in bytes: UnsafeRawBufferPointer) -> Bool {
        let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self)
        return obs_regex_match(handle, base, bytes.count, 0, Int32(OBS_REGEX_UNANCHORED), nil, 0) == 1
    }

    /// The match of the whole of `text`, with its groups.
    public func wholeMatch(_ text: String) -> Match? { match(text, from: 0, anchor: OBS_REGEX_ANCHOR_BOTH) }

    /// The leftmost match in `text`, with its groups.
    public func firstMatch(_ text: String) -> Match? { match(text, from: 0, anchor: OBS_REGEX_UNANCHORED) }

    /// Go's `ReplaceAllString` (`literal` false: `$1`, `${name}` expanded) and `ReplaceAllLiteralString`.
    public func replaceAll(in text: String, with replacement: String, literal: Bool) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        let replacementBytes = Array(replacement.utf8)
        var lastMatchEnd = 0
        var searchPosition = 0
        while searchPosition <= bytes.count {
            guard let found = match(bytes: bytes, from: searchPosition, anchor: OBS_REGEX_UNANCHORED) else { break }
            let range = found.range(0)!
            out.append(contentsOf: bytes[lastMatchEnd..<range.lowerBound])
            // No replacement for an empty match right after the previous match, as Go does.
            if range.upperBound > lastMatchEnd || range.lowerBound == 0 {
                if literal {
                    out.append(contentsOf: replacementBytes)
                } else {
                    found.expand(replacementBytes, into: &out)
                }
            }
            lastMatchEnd = range.upperBound
            // Advance past the match, by at least one whole character.
            let width = Self.characterWidth(bytes, at: searchPosition)
            if searchPosition + width > range.upperBound {
                searchPosition += width
            } else if searchPosition + 1 > range.upperBound {
                searchPosition += 1
            } else {
                searchPosition = range.upperBound
            }
        }
        out.append(contentsOf: bytes[lastMatchEnd...])
        return String(decoding: out, as: UTF8.self)
    }

    /// A match: byte ranges of the whole match and each group within the matched text.
    public struct Match {
        let text: [UInt8]
        let offsets: [Int64]
        let names: [String?]

        /// The byte range of group `index` (0: the whole match); nil when it did not take part.
        public func range(_ index: Int) -> Range<Int>? {
            guard index >= 0, index < offsets.count / 2, offsets[2 * index] >= 0 else { return nil }
            return Int(offsets[2 * index])..<Int(offsets[2 * index + 1])
        }

        /// Group `index`'s text; nil when it did not take part.
        public func group(_ index: Int) -> String? {
            range(index).map { String(decoding: text[$0], as: UTF8.self) }
        }

        /// The named group's text; nil when there is no such group or it did not take part.
        public func group(named name: String) -> String? {
            names.firstIndex(of: name).flatMap { group($0) }
        }

        /// Every group after the whole match: its name (if any) and text (nil when it did not take part).
        public var groups: [(name: String?, text: String?)] {
            names.indices.dropFirst().map { (names[$0], group($0)) }
        }

        /// Appends `template` with `$1`, `${1}`, `$name`, `${name}` and `$$` expanded, as Go's
        /// `Regexp.Expand` does: a reference to a group that does not exist expands to nothing.
        public func expand(_ template: [UInt8], into out: inout [UInt8]) {
            var i = 0
            while i < template.count {
                guard template[i] == UInt8(ascii: "$"), i + 1 < template.count else {
                    out.append(template[i])
                    i += 1
                    continue
                }
                if template[i + 1] == UInt8(ascii: "$") {
                    out.append(UInt8(ascii: "$"))
                    i += 2
                    continue
                }
                var nameRange: Range<Int>?
                var next = i + 1
                if template[next] == UInt8(ascii: "{") {
                    if let close = template[(next + 1)...].firstIndex(of: UInt8(ascii: "}")) {
                        nameRange = (next + 1)..<close
                        next = close + 1
                    }
                } else {
                    var end = next
                    while end < template.count, Self.isNameByte(template[end]) { end += 1 }
                    if end > next {
                        nameRange = next..<end
                        next = end
                    }
                }
                guard let nameRange, !nameRange.isEmpty else {
                    out.append(template[i])
                    i += 1
                    continue
                }
                let name = template[nameRange]
                if let index = Self.number(name) {
                    if let range = range(index) { out.append(contentsOf: text[range]) }
                } else if let index = names.firstIndex(of: String(decoding: name, as: UTF8.self)), let range = range(index) {
                    out.append(contentsOf: text[range])
                }
                i = next
            }
        }

        /// `template` expanded as a string.
        public func expand(_ template: String) -> String {
            var out: [UInt8] = []
            expand(Array(template.utf8), into: &out)
            return String(decoding: out, as: UTF8.self)
        }

        private static func isNameByte(_ byte: UInt8) -> Bool {
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || byte == 0x5F || (byte >= 0x30 && byte <= 0x39)
        }

        /// A group number: all digits and small enough to be one (a huge number names no group).
        private static func number(_ bytes: ArraySlice<UInt8>) -> Int? {
            guard bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            guard bytes.count <= 9 else { return Int.max }
            return bytes.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        }
    }

    private func test(_ text: some StringProtocol, anchor: Int) -> Bool {
        var copy = String(text)
        return copy.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) {
                obs_regex_match(handle, $0.baseAddress, $0.count, 0, Int32(anchor), nil, 0) == 1
            }
        }
    }

    private func match(_ text: String, from start: Int, anchor: Int) -> Match? {
        match(bytes: Array(text.utf8), from: start, anchor: anchor)
    }

    private func match(bytes: [UInt8], from start: Int, anchor: Int) -> Match? {
        var offsets = [Int64](repeating: -1, count: 2 * (groupCount + 1))
        let found = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                obs_regex_match(handle, $0.baseAddress, $0.count, start, Int32(anchor), &offsets, Int32(groupCount + 1))
            }
        }
        return found == 1 ? Match(text: bytes, offsets: offsets, names: groupNames) : nil
    }

    /// The most that the bounds of counted repetitions (`x{2,100}` counts 100) may add up to in one
    /// pattern. RE2 limits each to 1000, but compiling many in sequence takes time that grows with
    /// the square of their sum (seconds past a few thousand); patterns people write stay far below.
    public static let maxCountedRepetitions = 1000

    /// The sum of the upper bounds of the counted repetitions in `source`, outside classes.
    public static func countedRepetitions(_ source: String) -> Int {
        let bytes = Array(source.utf8)
        var total = 0
        forEachOperator(bytes) { index in
            guard bytes[index] == UInt8(ascii: "{") else { return 1 }
            // `{n}`, `{n,}`, `{n,m}`: the largest number written counts (a bare `{` is a literal).
            var cursor = index + 1
            var largest = 0, current = 0, digits = 0
            while cursor < bytes.count, (bytes[cursor] >= 0x30 && bytes[cursor] <= 0x39) || bytes[cursor] == UInt8(ascii: ",") {
                if bytes[cursor] == UInt8(ascii: ",") {
                    current = 0
                } else {
                    current = min(current * 10 + Int(bytes[cursor] - 0x30), 1_000_000)
                    largest = max(largest, current)
                    digits += 1
                }
                cursor += 1
            }
            guard digits > 0, cursor < bytes.count, bytes[cursor] == UInt8(ascii: "}") else { return 1 }
            total = min(total + largest, Int.max / 2)
            return cursor + 1 - index
        }
        return total
    }

    /// `(?<name>…)`, which Go reads since 1.22, as `(?P<name>…)`, the form this RE2 reads.
    static func perlNamedGroups(_ source: String) -> String {
        guard source.contains("(?<") else { return source }
        let bytes = Array(source.utf8)
        var insertions: [Int] = []
        forEachOperator(bytes) { index in
            if bytes[index] == UInt8(ascii: "("), index + 3 < bytes.count, bytes[index + 1] == UInt8(ascii: "?"),
               bytes[index + 2] == UInt8(ascii: "<"), bytes[index + 3] != UInt8(ascii: "="), bytes[index + 3] != UInt8(ascii: "!") {
                insertions.append(index + 2)
            }
            return 1
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + insertions.count)
        var from = 0
        for at in insertions {
            out.append(contentsOf: bytes[from..<at])
            out.append(UInt8(ascii: "P"))
            from = at
        }
        out.append(contentsOf: bytes[from...])
        return String(decoding: out, as: UTF8.self)
    }

    /// Calls `visit` at each byte of `bytes` that is regex syntax: outside character classes and not
    /// escaped. `visit` returns how many bytes it read (at least one).
    private static func forEachOperator(_ bytes: [UInt8], _ visit: (Int) -> Int) {
        var index = 0
        var inClass = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\\") {
                index += 2
            } else if inClass {
                if byte == UInt8(ascii: "]") { inClass = false }
                index += 1
            } else if byte == UInt8(ascii: "[") {
                inClass = true
                index += 1
                // A `]` right after `[` or `[^` is a member, not the end.
                if index < bytes.count, bytes[index] == UInt8(ascii: "^") { index += 1 }
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1 }
            } else {
                index += max(1, visit(index))
            }
        }
    }

    /// Bytes in the UTF-8 character at `index` (1 past the end or for a stray byte).
    private static func characterWidth(_ bytes: [UInt8], at index: Int) -> Int {
        guard index < bytes.count else { return 1 }
        let lead = bytes[index]
        let width = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        return min(width, bytes.count - index)
    }
}
