import ObsCore

/// A node of a parsed YAML document together with where it came from: the file, its position and
/// the key path that led to it. Decoding helpers throw `ConfigError`s that carry all three.
///
/// Strictness is the point: mappings are read through `mapping(allowedKeys:)`, which rejects keys the
/// caller does not know, and scalars must have the type the caller asks for.
public struct YAMLValue {
    public let node: YAMLNode
    public let file: String
    public let path: String

    init(node: YAMLNode, file: String, path: String) {
        self.node = node
        self.file = file
        self.path = path
    }

    /// Parses `text` (the contents of `file`). An empty document yields `nil`.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> YAMLValue? {
        var reader = YAMLReader(text, file: file)
        guard let root = try reader.document() else { return nil }
        return YAMLValue(node: root, file: file, path: "")
    }

    public var line: Int? { node.line }
    public var column: Int? { node.column }

    /// An error located at this node.
    public func error(_ message: String) -> ConfigError {
        ConfigError(file: file, line: line, column: column, key: path, message: message)
    }

    /// True for an explicit `null`, `~` or an empty value, which Prometheus treats as "not set".
    public var isNull: Bool { node.isNull }

    /// The node as a mapping of any keys, for files whose schema belongs to another tool (a
    /// kubeconfig): unknown keys are ignored rather than refused.
    public func looseMapping() throws(ConfigError) -> [String: YAMLValue] {
        if isNull { return [:] }
        guard case let .mapping(pairs) = node.content else { throw error("expected a mapping, got \(kind)") }
        var entries: [String: YAMLValue] = [:]
        for pair in pairs {
            guard let key = pair.key.scalarText else { continue }
            entries[key] = YAMLValue(node: pair.value, file: file, path: childPath(key))
        }
        return entries
    }

    /// The node as a mapping whose keys must all be in `allowedKeys`; with `ignoringUnknown`, other
    /// keys are skipped instead (promtool's `--ignore-unknown-fields`).
    public func mapping(allowedKeys: [String], ignoringUnknown: Bool = false) throws(ConfigError) -> YAMLMapping {
        if isNull { return YAMLMapping(entries: [:], order: [], owner: self) }
        guard case let .mapping(pairs) = node.content else {
            throw error("expected a mapping, got \(kind)")
        }
        var entries: [String: YAMLValue] = [:]
        var order: [String] = []
        for pair in pairs {
            let keyNode = pair.key
            guard let key = keyNode.scalarText else {
                throw YAMLValue(node: keyNode, file: file, path: path).error("mapping keys must be strings")
            }
            let child = YAMLValue(node: pair.value, file: file, path: childPath(key))
            guard allowedKeys.contains(key) else {
                if ignoringUnknown { continue }
                let keyValue = YAMLValue(node: keyNode, file: file, path: childPath(key))
                throw keyValue.error("unknown key \"\(key)\"; valid keys here: \(allowedKeys.joined(separator: ", "))")
            }
            guard entries[key] == nil else {
                throw YAMLValue(node: keyNode, file: file, path: childPath(key)).error("key \"\(key)\" appears more than once")
            }
            entries[key] = child
            order.append(key)
        }
        return YAMLMapping(entries: entries, order: order, owner: self)
    }

    /// The node as a mapping from free-form string keys (label sets, URL params) to values.
    public func stringMap() throws(ConfigError) -> [(key: String, value: YAMLValue)] {
        try keyedEntries().map { ($0.key, $0.value) }
    }

    /// Like `stringMap()`, also returning each key's own node, for errors about the key itself.
    public func keyedEntries() throws(ConfigError) -> [(key: String, keyNode: YAMLValue, value: YAMLValue)] {
        if isNull { return [] }
        guard case let .mapping(pairs) = node.content else {
            throw error("expected a mapping, got \(kind)")
        }
        var seen: Set<String> = []
        var result: [(key: String, keyNode: YAMLValue, value: YAMLValue)] = []
        for pair in pairs {
            let keyNode = pair.key, valueNode = pair.value
            guard let key = keyNode.scalarText else {
                throw YAMLValue(node: keyNode, file: file, path: path).error("mapping keys must be strings")
            }
            guard seen.insert(key).inserted else {
                throw YAMLValue(node: keyNode, file: file, path: childPath(key)).error("key \"\(key)\" appears more than once")
            }
            result.append((key, YAMLValue(node: keyNode, file: file, path: childPath(key)),
                           YAMLValue(node: valueNode, file: file, path: childPath(key))))
        }
        return result
    }

    /// The node as a sequence; an empty value is an empty sequence.
    public func sequence() throws(ConfigError) -> [YAMLValue] {
        if isNull { return [] }
        guard case let .sequence(sequence) = node.content else {
            throw error("expected a list, got \(kind)")
        }
        return sequence.enumerated().map { index, element in
            YAMLValue(node: element, file: file, path: "\(path)[\(index)]")
        }
    }

    /// The text of a scalar node. Anything written as a scalar counts (numbers included), as YAML
    /// strings need no quotes.
    public func scalar() throws(ConfigError) -> String {
        guard let text = node.scalarText else {
            throw error("expected a single value, got \(kind)")
        }
        return text
    }

    /// Decodes with `T`'s rules.
    public func decode<T: YAMLDecodable>(_ type: T.Type = T.self) throws(ConfigError) -> T {
        try T(yaml: self)
    }

    var kind: String {
        switch node.content {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .scalar(let text, _): "the value \"\(text)\""
        }
    }

    func childPath(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }
}

/// The entries of a YAML mapping after its keys were checked. Absent keys and explicit nulls both
/// read as "not set", so defaults apply.
public struct YAMLMapping {
    let entries: [String: YAMLValue]
    /// Keys in document order.
    public let order: [String]
    /// The mapping node itself, for errors about the mapping as a whole.
    public let owner: YAMLValue

    public subscript(key: String) -> YAMLValue? {
        guard let value = entries[key], !value.isNull else { return nil }
        return value
    }

    /// Decodes `key` if present.
    public func decode<T: YAMLDecodable>(_ key: String, as type: T.Type = T.self) throws(ConfigError) -> T? {
        guard let value = self[key] else { return nil }
        return try T(yaml: value)
    }

    /// Decodes `key`, or returns `fallback` if it is absent.
    public func decode<T: YAMLDecodable>(_ key: String, default fallback: T) throws(ConfigError) -> T {
        try decode(key) ?? fallback
    }

    /// Decodes `key`, which must be present.
    public func require<T: YAMLDecodable>(_ key: String, as type: T.Type = T.self) throws(ConfigError) -> T {
        guard let value = self[key] else {
            throw owner.error("missing required key \"\(key)\"")
        }
        return try T(yaml: value)
    }

    /// An error located at `key` (or at the mapping if the key is absent).
    public func error(at key: String, _ message: String) -> ConfigError {
        if let value = entries[key] { return value.error(message) }
        var error = owner.error(message)
        error.key = owner.childPath(key)
        return error
    }
}

extension YAMLValue {
    /// The node written back as YAML, with the values of `secretKeys` (at any depth) replaced by
    /// `<secret>`, as Prometheus and Alertmanager show configurations.
    public func serialized(maskingKeys secretKeys: Set<String>) -> String {
        func mask(_ node: YAMLNode) -> YAMLNode {
            var node = node
            switch node.content {
            case .mapping(let pairs):
                node.content = .mapping(pairs.map { pair in
                    var pair = pair
                    if let name = pair.key.scalarText, secretKeys.contains(name), case .scalar = pair.value.content {
                        pair.value.content = .scalar("<secret>", .plain)
                        pair.value.tag = nil
                    } else {
                        pair.value = mask(pair.value)
                    }
                    return pair
                })
            case .sequence(let items):
                node.content = .sequence(items.map(mask))
            case .scalar:
                break
            }
            return node
        }
        return YAMLWriter.write(mask(node))
    }
}
