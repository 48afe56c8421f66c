/// Finding traces in the store for the query APIs: by span conditions, trace duration and time, and
/// listing what spans carry (services, span names, attribute keys and values).
public struct TraceSearch: Sendable {
    public let store: TraceStore

    public init(store: TraceStore) {
        self.store = store
    }

    /// A matched span with its resource.
    public struct MatchedSpan: Sendable {
        public var span: Span
        public var resource: [Attribute]
        public var service: String
    }

    public struct Match: Sendable {
        public var summary: TraceSummary
        public var spans: [MatchedSpan]
    }

    public struct Request: Sendable {
        public var filter: SpanFilter = .all
        /// Nanoseconds; the whole store by default.
        public var start: UInt64 = 0
        public var end: UInt64 = .max
        /// Bounds on the whole trace's duration, nanoseconds.
        public var minDuration: UInt64?
        public var maxDuration: UInt64?
        public var limit = 20

        public init() {}
    }

    /// The newest traces with at least one matching span, at most `limit`. Blocking.
    public func find(_ request: Request) throws -> [Match] {
        let summaries = Dictionary(store.summaries(start: request.start, end: request.end).map { ($0.traceID, $0) },
                                   uniquingKeysWith: { first, _ in first })
        var found: [TraceID: Match] = [:]
        try store.scan(start: request.start, end: request.end, candidates: request.filter.candidates) { fragment, batches in
            guard let summary = summaries[fragment.traceID] else { return true }
            if let minimum = request.minDuration, summary.duration < minimum { return true }
            if let maximum = request.maxDuration, summary.duration > maximum { return true }
            var spans: [MatchedSpan] = []
            for batch in batches {
                for scope in batch.scopes {
                    for span in scope.spans where request.filter.matches(span, resource: batch.resource) {
                        spans.append(MatchedSpan(span: span, resource: batch.resource, service: batch.serviceName))
                    }
                }
            }
            guard !spans.isEmpty else { return true }
            found[fragment.traceID, default: Match(summary: summary, spans: [])].spans += spans
            return found.count < request.limit
        }
        return found.values.sorted { ($0.summary.start, $0.summary.traceID) > ($1.summary.start, $1.summary.traceID) }
    }

    /// What the spans of `[start, end]` carry, looked up from at most `traceLimit` recent traces.
    public struct Catalogue: Sendable {
        public var services: Set<String> = []
        /// Span names per service.
        public var operations: [String: Set<String>] = [:]
        public var resourceKeys: Set<String> = []
        public var spanKeys: Set<String> = []
    }

    public func catalogue(start: UInt64 = 0, end: UInt64 = .max, traceLimit: Int = 5000) throws -> Catalogue {
        var catalogue = Catalogue()
        var seen = 0
        try store.scan(start: start, end: end) { _, batches in
            for batch in batches {
                let service = batch.serviceName
                catalogue.services.insert(service)
                for attribute in batch.resource { catalogue.resourceKeys.insert(attribute.key) }
                for scope in batch.scopes {
                    for span in scope.spans {
                        catalogue.operations[service, default: []].insert(span.name)
                        for attribute in span.attributes { catalogue.spanKeys.insert(attribute.key) }
                    }
                }
            }
            seen += 1
            return seen < traceLimit
        }
        return catalogue
    }

    /// Distinct values of `field` over recent spans, at most `limit`.
    public func values(of field: SpanField, start: UInt64 = 0, end: UInt64 = .max, limit: Int = 1000,
                       traceLimit: Int = 5000) throws -> [SpanValue] {
        var values: [SpanValue] = []
        var seen = 0
        try store.scan(start: start, end: end) { _, batches in
            for batch in batches {
                for scope in batch.scopes {
                    for span in scope.spans {
                        for value in field.values(of: span, resource: batch.resource) where !values.contains(value) {
                            values.append(value)
                            if values.count >= limit { return false }
                        }
                    }
                }
            }
            seen += 1
            return seen < traceLimit
        }
        return values
    }
}
