import ObsCore
import ObsYAML
import OutboundHTTP
import Scrape

/// One `remote_write:` entry, with Prometheus 2.42's keys and defaults.
package struct RemoteWriteConfig: Sendable, Equatable {
    package var url: String
    package var name: String?
    package var remoteTimeout = PrometheusDuration.seconds(30)
    package var headers: [String: String] = [:]
    package var writeRelabelConfigs: [RelabelStep] = []
    package var sendExemplars = false
    package var http = HTTPClientSettings()
    package var sendNativeHistograms = false
    package var queue = QueueConfig()
    package var metadata = MetadataConfig()

    /// `metadata_config`: the scrape targets' metadata, sent apart from samples every `send_interval`.
    package struct MetadataConfig: Sendable, Equatable {
        package var send = true
        package var sendInterval = PrometheusDuration.seconds(60)
        package var maxSamplesPerSend = 500
    }

    /// `queue_config`.
    package struct QueueConfig: Sendable, Equatable {
        package var capacity = 10_000
        package var maxShards = 50
        package var minShards = 1
        package var maxSamplesPerSend = 2000
        package var batchSendDeadline = PrometheusDuration.seconds(5)
        package var minBackoff = PrometheusDuration(milliseconds: 30)
        package var maxBackoff = PrometheusDuration.seconds(5)
        package var retryOnHTTP429 = false
    }

    static let keys = ["url", "name", "remote_timeout", "headers", "write_relabel_configs", "send_exemplars", "send_native_histograms",
                       "queue_config", "metadata_config", "sigv4", "azuread"] + HTTPClientSettings.keys

    /// Headers Prometheus sets itself and refuses in `headers`.
    static let reservedHeaders: Set<String> = ["host", "authorization", "content-encoding", "content-type", "x-prometheus-remote-write-version",
                                               "user-agent", "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                                               "www-authenticate", "retry-after"]

    package init(url: String) {
        self.url = url
    }

    package init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: Self.keys)
        url = try map.require("url")
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host != nil else {
            throw map.error(at: "url", "invalid remote write URL \"\(url)\": want an http or https URL")
        }
        name = try map.decode("name")
        remoteTimeout = try map.decode("remote_timeout", default: remoteTimeout)
        guard remoteTimeout.milliseconds > 0 else { throw map.error(at: "remote_timeout", "remote_timeout must be greater than zero") }
        for (key, value) in try map["headers"]?.stringMap() ?? [] {
            guard !Self.reservedHeaders.contains(key.lowercased()) else {
                throw map.error(at: "headers", "\(key) is a reserved header. It must not be changed")
            }
            headers[key] = try value.decode(String.self)
        }
        writeRelabelConfigs = try map["write_relabel_configs"]?.sequence().map { (entry) throws(ConfigError) in try RelabelStep(yaml: entry) } ?? []
        sendExemplars = try map.decode("send_exemplars", default: false)
        sendNativeHistograms = try map.decode("send_native_histograms", default: false)
        for key in ["sigv4", "azuread"] where map[key] != nil {
            throw map.error(at: key, "\(key) is not supported by obs-agent")
        }
        if let metadata = map["metadata_config"] {
            let entry = try metadata.mapping(allowedKeys: ["send", "send_interval", "max_samples_per_send"])
            let defaults = MetadataConfig()
            self.metadata.send = try entry.decode("send", default: defaults.send)
            self.metadata.sendInterval = try entry.decode("send_interval", default: defaults.sendInterval)
            self.metadata.maxSamplesPerSend = try entry.decode("max_samples_per_send", default: defaults.maxSamplesPerSend)
            guard self.metadata.sendInterval.milliseconds > 0 else { throw entry.error(at: "send_interval", "send_interval must be greater than zero") }
            guard self.metadata.maxSamplesPerSend > 0 else {
                throw entry.error(at: "max_samples_per_send", "max_samples_per_send must be greater than zero")
            }
        }
        http = try HTTPClientSettings(mapping: map)
        if let queueNode = map["queue_config"] {
            let q = try queueNode.mapping(allowedKeys: ["capacity", "max_shards", "min_shards", "max_samples_per_send", "batch_send_deadline",
                                                        "min_backoff", "max_backoff", "retry_on_http_429"])
            let defaults = QueueConfig()
            queue.capacity = try q.decode("capacity", default: defaults.capacity)
            queue.maxShards = try q.decode("max_shards", default: defaults.maxShards)
            queue.minShards = try q.decode("min_shards", default: defaults.minShards)
            queue.maxSamplesPerSend = try q.decode("max_samples_per_send", default: defaults.maxSamplesPerSend)
            queue.batchSendDeadline = try q.decode("batch_send_deadline", default: defaults.batchSendDeadline)
            queue.minBackoff = try q.decode("min_backoff", default: defaults.minBackoff)
            queue.maxBackoff = try q.decode("max_backoff", default: defaults.maxBackoff)
            queue.retryOnHTTP429 = try q.decode("retry_on_http_429", default: defaults.retryOnHTTP429)
            for (key, value) in [("capacity", queue.capacity), ("max_shards", queue.maxShards), ("min_shards", queue.minShards),
                                 ("max_samples_per_send", queue.maxSamplesPerSend)] where value <= 0 || value > 1_000_000 {
                throw q.error(at: key, "\(key) must be between 1 and 1000000, got \(value)")
            }
            guard queue.minShards <= queue.maxShards else { throw q.error(at: "min_shards", "min_shards must not be greater than max_shards") }
            guard queue.minBackoff.milliseconds > 0, queue.minBackoff <= queue.maxBackoff else {
                throw q.error(at: "min_backoff", "min_backoff must be greater than zero and not greater than max_backoff")
            }
            guard queue.batchSendDeadline.milliseconds > 0 else {
                throw q.error(at: "batch_send_deadline", "batch_send_deadline must be greater than zero")
            }
        }
    }

    /// The queue's name in metrics and on disk: `name`, or a hash of the URL as Prometheus does.
    package var queueName: String {
        if let name { return name }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in url.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(hash & 0xFF_FFFF, radix: 16)
    }
}
