/// What search knows about a trace without reading its spans: its time span, its root span's
/// service and name, and how many spans it has.
public struct TraceSummary: Sendable, Equatable {
    public var traceID: TraceID
    public var start: UInt64
    public var end: UInt64
    public var spanCount: Int
    /// Service and name of the root span (no parent); empty until the root arrives.
    public var rootService: String
    public var rootName: String

    public init(traceID: TraceID, start: UInt64, end: UInt64, spanCount: Int, rootService: String, rootName: String) {
        self.traceID = traceID
        self.start = start
        self.end = end
        self.spanCount = spanCount
        self.rootService = rootService
        self.rootName = rootName
    }

    public var duration: UInt64 { end >= start ? end - start : 0 }

    /// Folds another fragment of the same trace in.
    public mutating func merge(_ other: TraceSummary) {
        start = min(start, other.start)
        end = max(end, other.end)
        spanCount += other.spanCount
        if rootName.isEmpty && !other.rootName.isEmpty {
            rootService = other.rootService
            rootName = other.rootName
        }
    }

    /// Summaries per trace of the spans an export carried.
    static func of(_ spans: [SpanInfo]) -> [TraceID: TraceSummary] {
        var result: [TraceID: TraceSummary] = [:]
        for span in spans {
            var summary = TraceSummary(traceID: span.traceID, start: span.start, end: span.end, spanCount: 1,
                                       rootService: span.isRoot ? span.service : "", rootName: span.isRoot ? span.name : "")
            if let existing = result[span.traceID] { summary.merge(existing) }
            result[span.traceID] = summary
        }
        return result
    }
}
