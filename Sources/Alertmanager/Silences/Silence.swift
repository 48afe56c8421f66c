import ObsCore
import ObsYAML

/// A silence: alerts matching every matcher are muted between `startsAt` and `endsAt`.
/// Times are Unix nanoseconds.
public struct Silence: Sendable, Equatable {
    public struct Matcher: Sendable, Equatable {
        public var name: String
        public var value: String
        public var isRegex: Bool
        public var isEqual: Bool

        public init(name: String, value: String, isRegex: Bool, isEqual: Bool = true) {
            self.name = name
            self.value = value
            self.isRegex = isRegex
            self.isEqual = isEqual
        }

        var kind: LabelMatcher.Kind {
            switch (isRegex, isEqual) {
            case (false, true): .equal
            case (false, false): .notEqual
            case (true, true): .regexMatch
            case (true, false): .regexNoMatch
            }
        }

        public init(_ matcher: LabelMatcher) {
            self.init(name: matcher.name, value: matcher.value, isRegex: matcher.kind == .regexMatch || matcher.kind == .regexNoMatch,
                      isEqual: matcher.kind == .equal || matcher.kind == .regexMatch)
        }
    }

    public enum State: String, Sendable {
        case active, pending, expired
    }

    public var id: String
    public var matchers: [Matcher]
    public var startsAt: Int64
    public var endsAt: Int64
    public var updatedAt: Int64
    public var createdBy: String
    public var comment: String

    public init(id: String = "", matchers: [Matcher], startsAt: Int64, endsAt: Int64, updatedAt: Int64 = 0,
                createdBy: String, comment: String) {
        self.id = id
        self.matchers = matchers
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.updatedAt = updatedAt
        self.createdBy = createdBy
        self.comment = comment
    }

    public func state(at now: Int64) -> State {
        if endsAt <= now { return .expired }
        if startsAt > now { return .pending }
        return .active
    }

    /// The matchers compiled; Alertmanager's validation messages on failure.
    func compiled() throws(AlertmanagerError) -> [LabelMatcher] {
        guard !matchers.isEmpty else { throw .invalid("at least one matcher required") }
        var result: [LabelMatcher] = []
        for (index, matcher) in matchers.enumerated() {
            guard LabelMap.isValidName(matcher.name) else {
                throw .invalid("invalid label matcher \(index): invalid label name \(JSONText.quote(matcher.name))")
            }
            do {
                result.append(try LabelMatcher(matcher.kind, matcher.name, matcher.value))
            } catch {
                throw .invalid("invalid label matcher \(index): invalid regular expression \(JSONText.quote(matcher.value)): \(error)")
            }
        }
        if result.allSatisfy(\.matchesEmpty) { throw .invalid("at least one matcher must not match the empty string") }
        return result
    }

    /// Alertmanager's checks before a silence is stored.
    func validate() throws(AlertmanagerError) {
        _ = try compiled()
        guard startsAt != 0 else { throw .invalid("invalid zero start timestamp") }
        guard endsAt != 0 else { throw .invalid("invalid zero end timestamp") }
        guard endsAt >= startsAt else { throw .invalid("end time must not be before start time") }
    }

    /// Alertmanager's rule for changing a silence in place instead of replacing it: same matchers;
    /// an active one keeps its start and may not end in the past; a pending one may not start in
    /// the past; an expired one never changes.
    func canBeUpdated(to update: Silence, now: Int64) -> Bool {
        guard matchers == update.matchers else { return false }
        switch state(at: now) {
        case .active: return update.startsAt == startsAt && update.endsAt >= now
        case .pending: return update.startsAt >= now
        case .expired: return false
        }
    }
}

