import ObsCore

/// Silences: create or update, expire, list, and which mute an alert.
extension EmbeddedAlertmanager {
    /// Creates or updates a silence (Alertmanager's rules: an update that cannot apply in place
    /// expires the old silence and creates a new one). Returns its ID. Blocking (SQLite).
    public func setSilence(_ input: Silence) throws(AlertmanagerError) -> String {
        let now = nowNanoseconds
        let id = try state.withLock { (state) throws(AlertmanagerError) -> String in
            var silence = input
            silence.updatedAt = now
            var changes: [Silence] = []
            if !silence.id.isEmpty {
                guard let previous = state.silences[silence.id]?.silence else { throw .silenceNotFound }
                if previous.canBeUpdated(to: silence, now: now) {
                    try silence.validate()
                    let matchers = try silence.compiled()
                    try database.withLock { (db) throws(AlertmanagerError) in try db.save(silences: [silence]) }
                    state.silences[silence.id] = (silence, matchers)
                    return silence.id
                }
                if previous.state(at: now) != .expired {
                    var expired = previous
                    Self.expire(&expired, now: now)
                    changes.append(expired)
                }
            }
            let live = state.silences.values.count { $0.silence.state(at: now) != .expired }
            guard live < options.maxSilences else {
                throw .invalid("the Alertmanager holds its limit of \(options.maxSilences) active and pending silences; expire some first")
            }
            silence.id = UUID().uuidString.lowercased()
            if silence.startsAt < now { silence.startsAt = now }
            try silence.validate()
            let matchers = try silence.compiled()
            changes.append(silence)
            try database.withLock { (db) throws(AlertmanagerError) in try db.save(silences: changes) }
            for change in changes {
                state.silences[change.id] = (change, change.id == silence.id ? matchers : state.silences[change.id]?.matchers ?? [])
            }
            return silence.id
        }
        wake()
        return id
    }

    /// Ends a silence now. Blocking (SQLite).
    public func expireSilence(id: String) throws(AlertmanagerError) {
        let now = nowNanoseconds
        try state.withLock { (state) throws(AlertmanagerError) in
            guard var entry = state.silences[id] else { throw .silenceNotFound }
            guard entry.silence.state(at: now) != .expired else { throw .alreadyExpired(id) }
            Self.expire(&entry.silence, now: now)
            try database.withLock { (db) throws(AlertmanagerError) in try db.save(silences: [entry.silence]) }
            state.silences[id] = entry
        }
        wake()
    }

    static func expire(_ silence: inout Silence, now: Int64) {
        if silence.state(at: now) == .pending { silence.startsAt = now }
        silence.endsAt = now
        silence.updatedAt = now
    }

    /// Silences whose matchers include every one of `filter` (Alertmanager's API filter), in the
    /// API's order: active by end, pending by start, expired most recent first.
    public func silences(matching filter: [LabelMatcher] = []) -> [(silence: Silence, state: Silence.State)] {
        let now = nowNanoseconds
        let all = state.withLock { state in state.silences.values.map(\.silence) }
        let wanted = all.filter { silence in
            filter.allSatisfy { matcher in
                silence.matchers.contains { Silence.Matcher(matcher) == $0 }
                    || silence.matchers.contains { !$0.isRegex && $0.isEqual && $0.name == matcher.name && matcher.matches($0.value) }
            }
        }
        func rank(_ state: Silence.State) -> Int { state == .active ? 0 : state == .pending ? 1 : 2 }
        return wanted.map { ($0, $0.state(at: now)) }.sorted { a, b in
            if a.state != b.state { return rank(a.state) < rank(b.state) }
            switch a.state {
            case .active: return a.silence.endsAt < b.silence.endsAt
            case .pending: return a.silence.startsAt < b.silence.startsAt
            case .expired: return a.silence.endsAt > b.silence.endsAt
            }
        }
    }

    public func silence(id: String) -> (silence: Silence, state: Silence.State)? {
        let now = nowNanoseconds
        return state.withLock { $0.silences[id] }.map { ($0.silence, $0.silence.state(at: now)) }
    }

    /// Active silences muting `labels`, sorted by ID.
    static func silencedBy(_ labels: Labels, in state: State, now: Int64) -> [String] {
        state.silences.values.filter { entry in
            entry.silence.state(at: now) == .active && labels.matches(entry.matchers)
        }.map(\.silence.id).sorted()
    }
}
