import ObsCore

/// An alert as the Alertmanager holds it. Times are Unix nanoseconds, as Alertmanager keeps them,
/// so what a client posts comes back unchanged; 0 is Go's zero time ("not set").
public struct ManagedAlert: Sendable, Equatable {
    public var labels: Labels
    /// Sorted by name; empty values kept, as Alertmanager keeps them.
    public var annotations: [Label]
    public var startsAt: Int64
    public var endsAt: Int64
    public var generatorURL: String
    public var updatedAt: Int64
    /// The alert was posted without `endsAt`, which was set to now + `resolve_timeout`.
    public var timeout: Bool
    public let fingerprint: UInt64

    public init(labels: Labels, annotations: [Label], startsAt: Int64, endsAt: Int64, generatorURL: String,
                updatedAt: Int64, timeout: Bool) {
        self.labels = labels
        self.annotations = annotations.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.generatorURL = generatorURL
        self.updatedAt = updatedAt
        self.timeout = timeout
        fingerprint = labels.stableHash
    }

    public var fingerprintText: String { labels.fingerprintText }

    /// Resolved once `endsAt` is set and reached.
    public func resolved(at now: Int64) -> Bool { endsAt != 0 && endsAt <= now }

    /// Alertmanager's merge of an update into the alert it already holds when their activity
    /// overlaps: the younger one wins, the earliest start stays, and an explicit end that is later
    /// is kept over a timeout.
    func merged(with other: ManagedAlert) -> ManagedAlert {
        if other.updatedAt < updatedAt { return other.merged(with: self) }
        var result = other
        if startsAt < other.startsAt { result.startsAt = startsAt }
        let now = other.updatedAt
        if other.resolved(at: now) {
            if resolved(at: now) && endsAt > other.endsAt { result.endsAt = endsAt }
        } else if endsAt > other.endsAt && !timeout {
            result.endsAt = endsAt
        }
        return result
    }

    /// Whether an update should be merged into this alert rather than replace it.
    func overlaps(_ update: ManagedAlert) -> Bool {
        (update.endsAt > startsAt && update.endsAt < endsAt) || (update.startsAt > startsAt && update.startsAt < endsAt)
    }
}

/// Times as the Alertmanager API writes and reads them: RFC 3339 with nanoseconds, Go's zero time
/// for "not set".
public enum AlertTime {
    public static let zeroText = "0001-01-01T00:00:00Z"

    /// Unix nanoseconds, 0 for Go's zero time; nil when malformed or outside 1678–2262.
    public static func parse(_ text: String) -> Int64? {
        if text == zeroText { return 0 }
        var copy = text
        return copy.withUTF8 { TimeParsing.rfc3339Nanoseconds(UnsafeRawBufferPointer($0)) }
    }

    public static func format(_ nanoseconds: Int64) -> String {
        nanoseconds == 0 ? zeroText : TimeParsing.rfc3339String(nanoseconds: nanoseconds)
    }

}
