/// An exemplar: a sample of a series' value with the labels of one event behind it (a trace ID),
/// as OpenMetrics and remote write carry them.
public struct Exemplar: Sendable, Equatable {
    public var labels: Labels
    public var value: Double
    /// Milliseconds.
    public var timestamp: Int64

    public init(labels: Labels, value: Double, timestamp: Int64) {
        self.labels = labels
        self.value = value
        self.timestamp = timestamp
    }

    /// OpenMetrics (and Prometheus's storage) limit an exemplar's label names and values together
    /// to 128 characters.
    public static let maxLabelSetLength = 128

    public var labelSetLength: Int {
        labels.reduce(0) { $0 + $1.name.unicodeScalars.count + $1.value.unicodeScalars.count }
    }

    public static func == (a: Exemplar, b: Exemplar) -> Bool {
        a.timestamp == b.timestamp && a.value.bitPattern == b.value.bitPattern && a.labels == b.labels
    }
}
