/// The configuration used when no `--config.file` is given: it scrapes the daemon's own `/metrics`,
/// so a fresh install has data to query at once.
enum DefaultConfig {
    static let source = "<embedded default>"

    /// `selfTarget` is the `host:port` the daemon listens on, as seen from the daemon itself.
    static func text(selfTarget: String) -> String {
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

        """
    }
}
