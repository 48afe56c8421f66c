/// The configuration used when no `--config.file` is given: it scrapes the daemon's own `/metrics`
/// and tails the pod logs in `sampleLogs` (where the daemon replays `examples/logs/pods` as live
/// lines), so a fresh install has metrics and logs to query at once, and an Alertmanager to post
/// alerts to.
package enum DefaultConfig {
    package static let source = "<embedded default>"

    /// `selfTarget` is the `host:port` the daemon listens on, as seen from the daemon itself.
    package static func text(selfTarget: String, sampleLogs: String) -> String {
        """
        # Embedded default configuration of obs-agent.
        global:
          scrape_interval: 15s
          scrape_timeout: 10s
          evaluation_interval: 15s

        scrape_configs:
          - job_name: obs-agent
            static_configs:
              - targets: ["\(selfTarget)"]

        logs:
          inputs:
            - name: sample-pods
              paths: ["\(sampleLogs)/*/*/*.log"]
              labels: {job: sample-pods}

        # The embedded Alertmanager (API v2 at /api/v2/): alerts are grouped and kept, and go to
        # no one until the receiver gets webhook_configs.
        alertmanager:
          route:
            receiver: default
            group_by: [alertname]
          receivers:
            - name: default

        """
    }
}
