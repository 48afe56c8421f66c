import ObsCore

/// Inhibition: an alert matching a rule's target matchers is muted while an unresolved alert
/// matching its source matchers agrees with it on every `equal` label (absent counts as empty).
/// An alert matching both sides is never muted by another that also matches both. Keeps, per
/// rule, the alerts that match its source side.
struct Inhibitor {
    let rules: [InhibitRule]
    var sources: [[UInt64: ManagedAlert]]

    init(rules: [InhibitRule]) {
        self.rules = rules
        sources = Array(repeating: [:], count: rules.count)
    }

    mutating func observe(_ alert: ManagedAlert) {
        for (index, rule) in rules.enumerated() where alert.labels.matches(rule.source) {
            sources[index][alert.fingerprint] = alert
        }
    }

    /// Forgets sources resolved before `now`.
    mutating func collect(now: Int64) {
        for index in sources.indices {
            sources[index] = sources[index].filter { !$0.value.resolved(at: now) }
        }
    }

    /// The fingerprint of an alert inhibiting `labels`, if one does (the lowest, so answers are stable).
    func inhibitedBy(_ labels: Labels, now: Int64) -> String? {
        var best: ManagedAlert?
        for (index, rule) in rules.enumerated() where labels.matches(rule.target) {
            let bothSides = labels.matches(rule.source)
            for source in sources[index].values where !source.resolved(at: now) {
                guard rule.equal.allSatisfy({ source.labels[$0] == labels[$0] }) else { continue }
                if bothSides && source.labels.matches(rule.target) { continue }
                if best == nil || source.fingerprint < best!.fingerprint { best = source }
            }
            if best != nil { break }
        }
        return best?.fingerprintText
    }
}
