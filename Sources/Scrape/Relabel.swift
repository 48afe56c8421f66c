import ObsCore

/// One step of `relabel_configs` / `metric_relabel_configs`, with Prometheus's actions and defaults.
/// Immutable; thread-safe.
public struct RelabelConfig: Sendable {
    /// Every setting in one string, to tell whether two steps do the same.
    var fingerprint: String {
        [action.rawValue, sourceLabels.joined(separator: "\u{1}"), separator, targetLabel, regex.source, String(modulus), replacement]
            .joined(separator: "\u{0}")
    }

    public enum Action: String, Sendable, CaseIterable {
        case replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase
    }

    public var action: Action
    public var sourceLabels: [String]
    public var separator: String
    public var targetLabel: String
    public var regex: RelabelRegex
    public var modulus: UInt64
    public var replacement: String

    public init(action: Action = .replace, sourceLabels: [String] = [], separator: String = ";", targetLabel: String = "",
                regex: RelabelRegex = .default, modulus: UInt64 = 0, replacement: String = "$1") {
        self.action = action
        self.sourceLabels = sourceLabels
        self.separator = separator
        self.targetLabel = targetLabel
        self.regex = regex
        self.modulus = modulus
        self.replacement = replacement
    }

    /// What the action needs that is missing, in Prometheus's words; nil when the step is valid.
    public var problem: String? {
        switch action {
        case .replace, .hashmod, .lowercase, .uppercase, .keepequal, .dropequal:
            if targetLabel.isEmpty { return "relabel configuration for \(action.rawValue) action requires 'target_label' value" }
        default:
            break
        }
        switch action {
        case .hashmod where modulus == 0:
            return "relabel configuration for hashmod requires non-zero modulus"
        case .keepequal, .dropequal:
            if sourceLabels.isEmpty { return "relabel configuration for \(action.rawValue) action requires 'source_labels' value" }
            if regex.source != RelabelRegex.default.source || replacement != "$1" || separator != ";" || modulus != 0 {
                return "\(action.rawValue) action requires only 'source_labels' and `target_label`, and no other fields"
            }
        case .labeldrop, .labelkeep:
            if !sourceLabels.isEmpty || !targetLabel.isEmpty || modulus != 0 || separator != ";" || replacement != "$1" {
                return "\(action.rawValue) action requires only 'regex', and no other fields"
            }
        default:
            break
        }
        return nil
    }
}

/// A fully anchored relabeling regex. Keeps its source for printing and comparisons.
public struct RelabelRegex: Sendable {
    public let source: String
    let regex: LinearRegex
    /// For `(.*)`, the default: every value matches and `$1` is the value itself.
    let matchesEverything: Bool

    public init(_ source: String) throws {
        self.source = source
        do {
            regex = try LinearRegex(source, dotMatchesNewline: true)
        } catch {
            throw RelabelRegexError(description: "\(error)")
        }
        matchesEverything = source == "(.*)"
    }

    public static let `default` = try! RelabelRegex("(.*)")

    func wholeMatch(_ value: String) -> LinearRegex.Match? {
        regex.wholeMatch(value)
    }

    func matches(_ value: String) -> Bool {
        matchesEverything || regex.wholeMatches(value)
    }
}

public struct RelabelRegexError: Error, CustomStringConvertible {
    public var description: String
}

/// Applies relabeling steps to a label set.
public enum Relabeler {
    /// The labels after every step, or nil when a step dropped the target or series.
    public static func apply(_ configs: [RelabelConfig], to labels: Labels) -> Labels? {
        guard !configs.isEmpty else { return labels }
        var current: [String: String] = [:]
        for label in labels { current[label.name] = label.value }
        for config in configs {
            guard apply(config, to: &current) else { return nil }
        }
        return Labels(current.map { Label($0.key, $0.value) })
    }

    /// One step on a mutable label map; false when the step drops it.
    static func apply(_ config: RelabelConfig, to labels: inout [String: String]) -> Bool {
        let value = config.sourceLabels.map { labels[$0] ?? "" }.joined(separator: config.separator)
        switch config.action {
        case .drop:
            return !config.regex.matches(value)
        case .keep:
            return config.regex.matches(value)
        case .dropequal:
            return labels[config.targetLabel, default: ""] != value
        case .keepequal:
            return labels[config.targetLabel, default: ""] == value
        case .replace:
            // Without capture references there is nothing to expand: the common fast case.
            if config.regex.matchesEverything && config.replacement == "$1" && !config.targetLabel.contains("$") {
                set(&labels, config.targetLabel, value)
                return true
            }
            guard let match = config.regex.wholeMatch(value) else { return true }
            let target = match.expand(config.targetLabel)
            guard isValidLabelName(target) else { return true }
            set(&labels, target, match.expand(config.replacement))
        case .lowercase:
            set(&labels, config.targetLabel, value.lowercased())
        case .uppercase:
            set(&labels, config.targetLabel, value.uppercased())
        case .hashmod:
            let digest = MD5.digest(Array(value.utf8))
            var sum: UInt64 = 0
            for byte in digest[8..<16] { sum = sum << 8 | UInt64(byte) }
            set(&labels, config.targetLabel, String(sum % config.modulus))
        case .labelmap:
            for (name, labelValue) in labels {
                guard let match = config.regex.wholeMatch(name) else { continue }
                labels[match.expand(config.replacement)] = labelValue
            }
        case .labeldrop:
            for name in labels.keys where config.regex.matches(name) { labels[name] = nil }
        case .labelkeep:
            for name in labels.keys where !config.regex.matches(name) { labels[name] = nil }
        }
        return true
    }

    /// Sets `name`, or removes it for an empty value (an empty label is an absent label).
    private static func set(_ labels: inout [String: String], _ name: String, _ value: String) {
        labels[name] = value.isEmpty ? nil : value
    }

    /// Prometheus 3 accepts any non-empty UTF-8 label name.
    static func isValidLabelName(_ name: String) -> Bool { !name.isEmpty }
}
