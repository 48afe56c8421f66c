import ObsCore


/// A type that reads itself from a YAML node, throwing a located `ConfigError` on bad input.
public protocol YAMLDecodable {
    init(yaml: YAMLValue) throws(ConfigError)
}

extension String: YAMLDecodable {
    public init(yaml: YAMLValue) throws(ConfigError) {
        self = try yaml.scalar()
    }
}

extension Int: YAMLDecodable {
    public init(yaml: YAMLValue) throws(ConfigError) {
        let text = try yaml.scalar()
        guard let value = Int(text) else { throw yaml.error("expected an integer, got \"\(text)\"") }
        self = value
    }
}

extension Double: YAMLDecodable {
    public init(yaml: YAMLValue) throws(ConfigError) {
        let text = try yaml.scalar()
        guard let value = Double(text) else { throw yaml.error("expected a number, got \"\(text)\"") }
        self = value
    }
}

extension Bool: YAMLDecodable {
    /// Accepts the spellings Go's YAML library (and so Prometheus) accepts.
    public init(yaml: YAMLValue) throws(ConfigError) {
        let text = try yaml.scalar()
        switch text {
        case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y": self = true
        case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N": self = false
        default: throw yaml.error("expected true or false, got \"\(text)\"")
        }
    }
}

extension Array: YAMLDecodable where Element: YAMLDecodable {
    public init(yaml: YAMLValue) throws(ConfigError) {
        var result: [Element] = []
        for element in try yaml.sequence() {
            result.append(try Element(yaml: element))
        }
        self = result
    }
}

extension PrometheusDuration: YAMLDecodable {
    public init(yaml: YAMLValue) throws(ConfigError) {
        let text = try yaml.scalar()
        guard let value = PrometheusDuration(text) else {
            throw yaml.error("not a valid duration string: \"\(text)\"")
        }
        self = value
    }
}

extension ByteSize: YAMLDecodable {
    public init(yaml: YAMLValue) throws(ConfigError) {
        let text = try yaml.scalar()
        guard let value = ByteSize(text) else {
            throw yaml.error("not a valid size: \"\(text)\" (use a number of bytes or units such as 512MB, 1GiB)")
        }
        self = value
    }
}

/// A map from label names to values (`labels:`, `external_labels:`), with names checked against
/// Prometheus's label name rules.
public struct LabelMap: YAMLDecodable, Equatable, Sendable {
    public var pairs: [(name: String, value: String)]

    public init(_ pairs: [(name: String, value: String)] = []) { self.pairs = pairs }

    public init(yaml: YAMLValue) throws(ConfigError) {
        var pairs: [(name: String, value: String)] = []
        for (key, keyNode, value) in try yaml.keyedEntries() {
            guard LabelMap.isValidName(key) else {
                throw keyNode.error("\"\(key)\" is not a valid label name")
            }
            pairs.append((key, try value.scalar()))
        }
        self.pairs = pairs.sorted { $0.name < $1.name }
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`, the legacy Prometheus rule that every exposition format accepts.
    public static func isValidName(_ name: String) -> Bool {
        LabelSetParser.isLabelName(name)
    }

    public static func == (lhs: LabelMap, rhs: LabelMap) -> Bool {
        lhs.pairs.elementsEqual(rhs.pairs) { $0.name == $1.name && $0.value == $1.value }
    }
}
