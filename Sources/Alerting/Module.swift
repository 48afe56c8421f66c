// Alerting: filled in by its own issue.
