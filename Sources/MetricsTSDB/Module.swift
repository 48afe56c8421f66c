// MetricsTSDB: filled in by its own issue.
