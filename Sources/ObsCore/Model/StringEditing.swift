extension StringProtocol {
    /// The text without the leading and trailing characters that match `predicate`.
    public func trimming(while predicate: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !predicate($0) }) else { return "" }
        let last = lastIndex(where: { !predicate($0) })!
        return String(self[first...last])
    }

    /// Without leading and trailing whitespace, line breaks included (Unicode's definition, as
    /// Go's `strings.TrimSpace`).
    public func trimmingWhitespace() -> String {
        trimming(while: \.isWhitespace)
    }

    /// Without leading and trailing spaces and tabs; line breaks stay.
    public func trimmingSpaces() -> String {
        trimming { $0.isWhitespace && !$0.isNewline }
    }
}

extension String {
    /// Every occurrence of `target` replaced, left to right, as Go's `strings.ReplaceAll`: an empty
    /// `target` matches before each character and at the end.
    public func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else {
            var out = replacement
            for character in self {
                out.append(character)
                out += replacement
            }
            return out
        }
        return replacing(target, with: replacement)
    }
}
