import ObsCore

/// A node of the routing tree with its options resolved (children inherit receiver, grouping and
/// timers; time intervals are not inherited, as in Alertmanager).
public final class Route: Sendable {
    /// Alertmanager's route key: the parent's key, `/`, this node's sorted matchers.
    public let key: String
    public let receiver: String
    public let groupBy: [String]
    public let groupByAll: Bool
    /// Milliseconds.
    public let groupWait: Int64
    public let groupInterval: Int64
    public let repeatInterval: Int64
    public let matchers: [LabelMatcher]
    public let continues: Bool
    public let muteTimeIntervals: [String]
    public let activeTimeIntervals: [String]
    public let children: [Route]

    /// What a child inherits from its parent.
    private struct Inherited {
        var key: String
        var receiver: String
        var groupBy: [String]
        var groupByAll: Bool
        var groupWait: Int64
        var groupInterval: Int64
        var repeatInterval: Int64
    }

    /// The root of the tree `spec` describes.
    public convenience init(root spec: RouteSpec) {
        self.init(spec, parent: nil)
    }

    private init(_ spec: RouteSpec, parent: Inherited?) {
        key = (parent.map { $0.key + "/" } ?? "") + MatcherSyntax.key(spec.matchers)
        receiver = spec.receiver.isEmpty ? parent?.receiver ?? "" : spec.receiver
        if let groupBy = spec.groupBy {
            groupByAll = groupBy == ["..."]
            self.groupBy = groupByAll ? [] : groupBy.sorted()
        } else {
            groupByAll = parent?.groupByAll ?? false
            groupBy = parent?.groupBy ?? []
        }
        groupWait = spec.groupWait ?? parent?.groupWait ?? 30_000
        groupInterval = spec.groupInterval ?? parent?.groupInterval ?? 300_000
        repeatInterval = spec.repeatInterval ?? parent?.repeatInterval ?? 14_400_000
        matchers = spec.matchers
        continues = spec.continues
        muteTimeIntervals = spec.muteTimeIntervals
        activeTimeIntervals = spec.activeTimeIntervals
        let inherited = Inherited(key: key, receiver: receiver, groupBy: groupBy, groupByAll: groupByAll, groupWait: groupWait,
                                  groupInterval: groupInterval, repeatInterval: repeatInterval)
        children = spec.routes.map { Route($0, parent: inherited) }
    }

    /// The routes an alert goes to: depth first, left to right; a matching child ends the search
    /// among its siblings unless it has `continue`; a node none of whose children match is itself
    /// the match.
    public func match(_ labels: Labels) -> [Route] {
        guard labels.matches(matchers) else { return [] }
        var all: [Route] = []
        for child in children {
            let matched = child.match(labels)
            all += matched
            if !matched.isEmpty && !child.continues { break }
        }
        return all.isEmpty ? [self] : all
    }

    /// The labels an alert is grouped by on this route.
    public func groupLabels(_ labels: Labels) -> Labels {
        if groupByAll { return labels }
        return Labels(sortedUnchecked: labels.pairs.filter { groupBy.contains($0.name) })
    }

    /// Every node, depth first.
    public func walk(_ visit: (Route) -> Void) {
        visit(self)
        for child in children { child.walk(visit) }
    }
}
