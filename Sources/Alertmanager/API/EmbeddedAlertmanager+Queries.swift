import ObsCore

/// What API v2 reads: alerts with their status and receivers, aggregation groups, filters.
extension EmbeddedAlertmanager {
    public struct AlertStatus: Sendable, Equatable {
        public var state: String
        public var silencedBy: [String]
        public var inhibitedBy: [String]
    }

    public struct AlertView: Sendable {
        public var alert: ManagedAlert
        public var status: AlertStatus
        public var receivers: [String]
    }

    public struct GroupView: Sendable {
        public var labels: Labels
        public var receiver: String
        public var alerts: [AlertView]
    }

    /// The API's alert filters.
    public struct AlertFilter: Sendable {
        public var active = true
        public var silenced = true
        public var inhibited = true
        public var unprocessed = true
        public var matchers: [LabelMatcher] = []
        /// Anchored regex over receiver names.
        public var receiver: LabelMatcher?

        public init() {}

        func admits(_ view: AlertView) -> Bool {
            if let receiver, !view.receivers.contains(where: { receiver.matches($0) }) { return false }
            guard view.alert.labels.matches(matchers) else { return false }
            if !active && view.status.state == "active" { return false }
            if !unprocessed && view.status.state == "unprocessed" { return false }
            if !silenced && !view.status.silencedBy.isEmpty { return false }
            if !inhibited && !view.status.inhibitedBy.isEmpty { return false }
            return true
        }
    }

    static func status(of alert: ManagedAlert, in state: State, now: Int64) -> AlertStatus {
        let silenced = silencedBy(alert.labels, in: state, now: now)
        let inhibited = state.compiled?.inhibitor.inhibitedBy(alert.labels, now: now).map { [$0] } ?? []
        return AlertStatus(state: silenced.isEmpty && inhibited.isEmpty ? "active" : "suppressed", silencedBy: silenced, inhibitedBy: inhibited)
    }

    /// Alerts not yet resolved, by fingerprint, with their state and receivers.
    public func alerts(_ filter: AlertFilter = AlertFilter()) -> [AlertView] {
        let now = nowNanoseconds
        return state.withLock { state in
            state.alerts.values.compactMap { alert -> AlertView? in
                guard !alert.resolved(at: now) || alert.endsAt == now else { return nil }
                let receivers = state.compiled?.route.match(alert.labels).map(\.receiver) ?? []
                let view = AlertView(alert: alert, status: Self.status(of: alert, in: state, now: now), receivers: receivers)
                return filter.admits(view) ? view : nil
            }
        }.sorted { $0.alert.fingerprintText < $1.alert.fingerprintText }
    }

    /// The aggregation groups with their unresolved alerts that pass `filter`.
    public func groups(_ filter: AlertFilter = AlertFilter()) -> [GroupView] {
        let now = nowNanoseconds
        let views: [GroupView] = state.withLock { state in
            state.groups.values.compactMap { group -> GroupView? in
                let alerts = group.alerts.values.compactMap { alert -> AlertView? in
                    guard !alert.resolved(at: now) else { return nil }
                    let receivers = state.compiled?.route.match(alert.labels).map(\.receiver) ?? []
                    let view = AlertView(alert: alert, status: Self.status(of: alert, in: state, now: now), receivers: receivers)
                    return filter.admits(view) ? view : nil
                }
                guard !alerts.isEmpty else { return nil }
                return GroupView(labels: group.labels, receiver: group.route.receiver,
                                 alerts: alerts.sorted { AlertOrder.precedes($0.alert.labels, $1.alert.labels) })
            }
        }
        return views.sorted { a, b in a.labels == b.labels ? a.receiver < b.receiver : AlertOrder.before(a.labels, b.labels) }
    }
}
