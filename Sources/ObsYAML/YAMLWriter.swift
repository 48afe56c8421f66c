import ObsCore

/// Writes a node tree back as block-style YAML that reads back to the same tree: mappings and lists
/// in block form (lists at their key's indentation, as Go's YAML library writes them), scalars
/// plain where that reads back as the same text and the same kind, double-quoted otherwise.
enum YAMLWriter {
    static func write(_ node: YAMLNode) -> String {
        var out = ""
        switch node.content {
        case .scalar: out = scalar(node) + "\n"
        default: block(node, indent: 0, into: &out)
        }
        return out
    }

    private static func block(_ node: YAMLNode, indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        switch node.content {
        case .scalar:
            out += pad + scalar(node) + "\n"
        case .mapping(let pairs) where pairs.isEmpty:
            out += pad + "{}\n"
        case .sequence(let items) where items.isEmpty:
            out += pad + "[]\n"
        case .mapping(let pairs):
            for pair in pairs {
                out += pad + scalar(pair.key) + ":"
                switch pair.value.content {
                case .mapping(let entries) where !entries.isEmpty:
                    out += "\n"
                    block(pair.value, indent: indent + 2, into: &out)
                case .sequence(let items) where !items.isEmpty:
                    out += "\n"
                    block(pair.value, indent: indent, into: &out)
                default:
                    out += " "
                    block(pair.value, indent: 0, into: &out)
                }
            }
        case .sequence(let items):
            for item in items {
                // The item is written two columns in, then its first line's indentation becomes "- ".
                var nested = ""
                block(item, indent: indent + 2, into: &nested)
                // Bytes, not characters: a combining mark at the item's start would join the space before it.
                out += pad + "- " + String(decoding: nested.utf8.dropFirst(indent + 2), as: UTF8.self)
            }
        }
    }

    /// A scalar as it must be written to read back as the same text (and, for plain scalars,
    /// the same null, boolean or number).
    static func scalar(_ node: YAMLNode) -> String {
        guard case let .scalar(text, style) = node.content else { return "" }
        let tag = node.tag.map { $0 + " " } ?? ""
        if style == .plain && node.isNull { return tag + "null" }
        if style == .plain && isPlainSafe(text) { return tag + text }
        // YAML's double-quoted style reads JSON's string escapes.
        return tag + JSONText.quote(text)
    }

    private static func isPlainSafe(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, let last = bytes.last, first != .space, last != .space, last != .colon else { return false }
        if bytes.starts(with: [.hyphen, .hyphen, .hyphen]) || bytes.starts(with: [.period, .period, .period]) { return false }
        if YAMLReader.startsNoPlainScalar(first) { return false }
        if first == .hyphen || first == .question || first == .colon, bytes.count == 1 || bytes[1] == .space { return false }
        for (index, byte) in bytes.enumerated() {
            if byte < 0x20 || byte == 0x7F { return false }
            if byte == .colon && index + 1 < bytes.count && bytes[index + 1] == .space { return false }
            if byte == .hash && index > 0 && bytes[index - 1] == .space { return false }
        }
        return true
    }
}
