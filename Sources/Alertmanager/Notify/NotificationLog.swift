/// What each receiver integration was last told about each aggregation group: the fingerprints
/// of the firing and resolved alerts it was sent, and when. A flush notifies only when this
/// changed or the repeat interval passed, so restarts and re-flushes do not notify twice.
public enum NotificationLog {
    public struct Entry: Sendable, Equatable {
        public var key: String
        /// Unix nanoseconds of the flush that notified.
        public var timestamp: Int64
        public var firing: Set<UInt64>
        public var resolved: Set<UInt64>
        /// Unix nanoseconds after which the entry is forgotten.
        public var expiresAt: Int64

        public init(key: String, timestamp: Int64, firing: Set<UInt64>, resolved: Set<UInt64>, expiresAt: Int64) {
            self.key = key
            self.timestamp = timestamp
            self.firing = firing
            self.resolved = resolved
            self.expiresAt = expiresAt
        }
    }

    /// One integration of one receiver for one group.
    public static func key(receiver: String, integration: Int, groupKey: String) -> String {
        "\(receiver)/webhook/\(integration)\u{1}\(groupKey)"
    }

    /// Alertmanager's dedup decision (its `DedupStage`).
    public static func needsUpdate(_ entry: Entry?, firing: Set<UInt64>, resolved: Set<UInt64>, sendResolved: Bool,
                                   repeatInterval: Int64, now: Int64) -> Bool {
        // Never notified about the group: notify unless everything is already resolved.
        guard let entry else { return !firing.isEmpty }
        // A firing alert the receiver has not heard about.
        if !firing.isSubset(of: entry.firing) { return true }
        // Everything resolved: tell the receiver if it still thinks something fires (whatever
        // send_resolved says, so the log stops listing firing alerts).
        if firing.isEmpty { return !entry.firing.isEmpty }
        if sendResolved && !resolved.isSubset(of: entry.resolved) { return true }
        return entry.timestamp < now - repeatInterval * 1_000_000
    }
}
