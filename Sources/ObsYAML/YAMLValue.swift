import ObsCore
import Yams

/// A node of a parsed YAML document together with where it came from: the file, its position and
/// the key path that led to it. Decoding helpers throw `ConfigError`s that carry all three.
///
/// Strictness is the point: mappings are read through `mapping(allowedKeys:)`, which rejects keys the
/// caller does not know, and scalars must have the type the caller asks for.
public struct YAMLValue {
    public let node: Node
    public let file: String
    public let path: String

    init(node: Node, file: String, path: String) {
        self.node = node
        self.file = file
        self.path = path
    }

    /// Parses `text` (the contents of `file`). An empty document yields `nil`.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> YAMLValue? {
        do {
            guard let root = try Yams.compose(yaml: text) else { return nil }
            return YAMLValue(node: root, file: file, path: "")
        } catch let error as YamlError {
            throw Self.syntaxError(error, file: file)
        } catch {
            throw ConfigError(file: file, line: nil, column: nil, key: "", message: "\(error)")
        }
    }

    public var line: Int? { node.mark?.line }
    public var column: Int? { node.mark?.column }

    /// An error located at this node.
    public func error(_ message: String) -> ConfigError {
        ConfigError(file: file, line: line, column: column, key: path, message: message)
    }

    /// True for an explicit `null`, `~` or an empty value, which Prometheus treats as "not set".
    public var isNull: Bool {
        guard case let .scalar(scalar) = node else { return false }
        return scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// The node as a mapping of any keys, for files whose schema belongs to another tool (a
    /// kubeconfig): unknown keys are ignored rather than refused.
    public func looseMapping() throws(ConfigError) -> [String: YAMLValue] {
        if isNull { return [:] }
        guard case let .mapping(mapping) = node else { throw error("expected a mapping, got \(kind)") }
        var entries: [String: YAMLValue] = [:]
        for (keyNode, valueNode) in mapping {
            guard case let .scalar(key) = keyNode else { continue }
            entries[key.string] = YAMLValue(node: valueNode, file: file, path: childPath(key.string))
        }
        return entries
    }

    /// The node as a mapping whose keys must all be in `allowedKeys`; with `ignoringUnknown`, other
    /// keys are skipped instead (promtool's `--ignore-unknown-fields`).
    public func mapping(allowedKeys: [String], ignoringUnknown: Bool = false) throws(ConfigError) -> YAMLMapping {
        if isNull { return YAMLMapping(entries: [:], order: [], owner: self) }
        guard case let .mapping(mapping) = node else {
            throw error("expected a mapping, got \(kind)")
        }
        var entries: [String: YAMLValue] = [:]
        var order: [String] = []
        for (keyNode, valueNode) in mapping {
            guard case let .scalar(keyScalar) = keyNode else {
                throw YAMLValue(node: keyNode, file: file, path: path).error("mapping keys must be strings")
            }
            let key = keyScalar.string
            let child = YAMLValue(node: valueNode, file: file, path: childPath(key))
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
        guard case let .mapping(mapping) = node else {
            throw error("expected a mapping, got \(kind)")
        }
        var seen: Set<String> = []
        var result: [(key: String, keyNode: YAMLValue, value: YAMLValue)] = []
        for (keyNode, valueNode) in mapping {
            guard case let .scalar(keyScalar) = keyNode else {
                throw YAMLValue(node: keyNode, file: file, path: path).error("mapping keys must be strings")
            }
            let key = keyScalar.string
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
        guard case let .sequence(sequence) = node else {
            throw error("expected a list, got \(kind)")
        }
        return sequence.enumerated().map { index, element in
            YAMLValue(node: element, file: file, path: "\(path)[\(index)]")
        }
    }

    /// The text of a scalar node. Anything written as a scalar counts (numbers included), as YAML
    /// strings need no quotes.
    public func scalar() throws(ConfigError) -> String {
        guard case let .scalar(scalar) = node else {
            throw error("expected a single value, got \(kind)")
        }
        return scalar.string
    }

    /// Decodes with `T`'s rules.
    public func decode<T: YAMLDecodable>(_ type: T.Type = T.self) throws(ConfigError) -> T {
        try T(yaml: self)
    }

    var kind: String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .scalar(let scalar): "the value \"\(scalar.string)\""
        case .alias: "an alias"
        }
    }

    func childPath(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    static func syntaxError(_ error: YamlError, file: String) -> ConfigError {
        switch error {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return ConfigError(file: file, line: mark.line, column: mark.column, key: "", message: "invalid YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return ConfigError(file: file, line: context.mark.line, column: context.mark.column, key: "",
                               message: "duplicate keys in mapping: \(duplicates.joined(separator: ", "))")
        case let .reader(problem, _, _, _):
            return ConfigError(file: file, line: nil, column: nil, key: "", message: "invalid YAML: \(problem)")
        default:
            return ConfigError(file: file, line: nil, column: nil, key: "", message: "invalid YAML: \(error)")
        }
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
        func mask(_ node: Node) -> Node {
            switch node {
            case .mapping(var mapping):
                for (key, value) in mapping {
                    if case let .scalar(name) = key, secretKeys.contains(name.string), case .scalar = value {
                        mapping[key] = Node("<secret>")
                    } else {
                        mapping[key] = mask(value)
                    }
                }
                return .mapping(mapping)
            case .sequence(let sequence):
                return .sequence(Node.Sequence(sequence.map(mask), sequence.tag, sequence.style, sequence.mark))
            default:
                return node
            }
        }
        return (try? Yams.serialize(node: mask(node))) ?? ""
    }
}
