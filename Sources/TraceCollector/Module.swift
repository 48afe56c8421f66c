// TraceCollector: filled in by its own issue.
