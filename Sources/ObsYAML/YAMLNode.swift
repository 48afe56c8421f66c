/// One node of a YAML document: a scalar's text, a list or a mapping, with the 1-based line and
/// column where it starts. Aliases are already resolved and merge keys (`<<`) already applied, so
/// decoders see plain trees.
public struct YAMLNode: Sendable {
    /// How a scalar was written. Only plain scalars can mean null (`~`, `null`, nothing at all);
    /// `"null"` in quotes is a string.
    public enum Style: Sendable, Equatable {
        case plain, singleQuoted, doubleQuoted, literal, folded
    }

    public enum Content: Sendable {
        case scalar(String, Style)
        case sequence([YAMLNode])
        case mapping([YAMLPair])
    }

    public var content: Content
    /// An explicit tag on a scalar (`!!str`), if the document gave one.
    public var tag: String?
    public var line: Int
    public var column: Int

    public init(_ content: Content, tag: String? = nil, line: Int, column: Int) {
        self.content = content
        self.tag = tag
        self.line = line
        self.column = column
    }

    /// The text of a scalar node, `nil` for collections.
    public var scalarText: String? {
        if case let .scalar(text, _) = content { return text }
        return nil
    }

    /// True for an untagged plain scalar that YAML reads as null.
    public var isNull: Bool {
        guard case let .scalar(text, style) = content, style == .plain, tag == nil || tag == "!!null" else { return false }
        return text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
    }
}

extension YAMLNode: CustomStringConvertible {
    /// The tree in one line, JSON-like: scalars quoted, nulls as `null`, tags in front. Positions
    /// and scalar styles are left out, so two documents that mean the same read the same.
    public var description: String {
        let tag = tag.map { $0 + " " } ?? ""
        switch content {
        case .scalar(let text, _):
            return isNull ? tag + "null" : tag + text.debugDescription
        case .sequence(let items):
            return tag + "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .mapping(let pairs):
            return tag + "{" + pairs.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        }
    }
}

/// One entry of a mapping, key and value in document order.
public struct YAMLPair: Sendable {
    public var key: YAMLNode
    public var value: YAMLNode

    public init(key: YAMLNode, value: YAMLNode) {
        self.key = key
        self.value = value
    }
}
