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

    /// The summary of one trace's spans as they came in `batches`.
    static func of(_ traceID: TraceID, _ batches: [ResourceSpans]) -> TraceSummary {
        var summary = TraceSummary(traceID: traceID, start: .max, end: 0, spanCount: 0, rootService: "", rootName: "")
        for batch in batches {
            for scope in batch.scopes {
                for span in scope.spans {
                    summary.start = min(summary.start, span.start)
                    summary.end = max(summary.end, span.end)
                    summary.spanCount += 1
                    if span.parentSpanID == 0 && summary.rootName.isEmpty {
                        summary.rootService = batch.serviceName
                        summary.rootName = span.name
                    }
                }
            }
        }
        return summary
    }
}

extension ResourceSpans {
    /// These batches split by trace: per trace, the same resources and scopes holding only its spans.
    static func byTrace(_ batches: [ResourceSpans]) -> [TraceID: [ResourceSpans]] {
        var result: [TraceID: [ResourceSpans]] = [:]
        for batch in batches {
            var perTrace: [TraceID: ResourceSpans] = [:]
            for scope in batch.scopes {
                var perScope: [TraceID: [Span]] = [:]
                for span in scope.spans { perScope[span.traceID, default: []].append(span) }
                for (traceID, spans) in perScope {
                    var fragment = ScopeSpans(scope: scope.scope, spans: spans)
                    fragment.schemaURL = scope.schemaURL
                    perTrace[traceID, default: ResourceSpans(resource: batch.resource, scopes: [])].scopes.append(fragment)
                }
            }
            for (traceID, var fragment) in perTrace {
                fragment.droppedResourceAttributes = batch.droppedResourceAttributes
                fragment.schemaURL = batch.schemaURL
                result[traceID, default: []].append(fragment)
            }
        }
        return result
    }
}
