import ObsCore
import ObsYAML
import OutboundHTTP

/// A `logs.forward` or `traces.forward` entry: a destination, how to batch for it and how to retry.
/// Loki destinations (logs' default) take promtail's client keys (`url`, `tenant_id`, `batchwait`,
/// `batchsize`, `backoff_config`, `external_labels`); OTLP destinations (`protocol: http/protobuf`,
/// traces' default, or `grpc`) take the OTLP exporter's (`endpoint`, to which `/v1/traces` or
/// `/v1/logs` is added over HTTP, or `traces_endpoint`/`logs_endpoint` as is; `compression`), with
/// the same batching and backoff keys.
package struct ForwardConfig: Sendable, Equatable {
    package enum Signal: Sendable { case logs, traces }

    /// What the destination speaks.
    package enum Wire: Sendable, Equatable {
        case loki, otlpHTTP, otlpGRPC
    }

    package var name: String
    package var url: String
    package var wire: Wire
    package var tenantID: String?
    package var gzip = true
    package var headers: [String: String] = [:]
    package var externalLabels = LabelMap()
    package var batchWait = PrometheusDuration.seconds(1)
    package var batchSize = 1 << 20
    package var timeout = PrometheusDuration.seconds(10)
    package var minBackoff = PrometheusDuration(milliseconds: 500)
    package var maxBackoff = PrometheusDuration.seconds(300)
    package var maxRetries = 0
    package var spoolMaxSize = ByteSize(bytes: 1 << 30)
    package var http = HTTPClientSettings()

    static func keys(_ signal: Signal) -> [String] {
        let own = signal == .logs ? ["url", "tenant_id", "external_labels", "protocol", "endpoint", "logs_endpoint", "compression"]
            : ["protocol", "endpoint", "traces_endpoint", "compression"]
        return ["name"] + own
            + ["headers", "batchwait", "batchsize", "timeout", "backoff_config", "spool_max_size"] + HTTPClientSettings.keys
    }

    package init(yaml: YAMLValue, signal: Signal) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: Self.keys(signal))
        let protocols = signal == .logs ? ["loki", "http/protobuf", "grpc"] : ["http/protobuf", "grpc"]
        let named: String = try map.decode("protocol", default: protocols[0])
        guard protocols.contains(named) else {
            throw map.error(at: "protocol", "protocol must be \(protocols.dropLast().joined(separator: ", ")) or \(protocols.last!), got \"\(named)\"")
        }
        wire = named == "loki" ? .loki : named == "grpc" ? .otlpGRPC : .otlpHTTP
        let urlKey: String
        if wire == .loki {
            for key in ["endpoint", "logs_endpoint", "compression"] where map[key] != nil {
                throw map.error(at: key, "\(key) is for OTLP destinations (protocol http/protobuf or grpc); Loki's push URL is url")
            }
            urlKey = "url"
            url = try map.require("url")
            tenantID = try map.decode("tenant_id")
        } else {
            for key in ["url", "tenant_id"] where map[key] != nil {
                throw map.error(at: key, "\(key) is for Loki destinations; an OTLP destination takes endpoint (and headers for a tenant)")
            }
            (urlKey, url) = try Self.otlpURL(map, signal: signal, grpc: wire == .otlpGRPC)
            let compression: String = try map.decode("compression", default: "gzip")
            guard ["gzip", "none"].contains(compression) else {
                throw map.error(at: "compression", "compression must be gzip or none, got \"\(compression)\"")
            }
            gzip = compression == "gzip"
        }
        if signal == .logs { externalLabels = try map.decode("external_labels", default: LabelMap()) }
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host != nil else {
            throw map.error(at: urlKey, "invalid URL \"\(url)\": want an http or https URL")
        }
        name = try map.decode("name", default: parsed.host ?? "destination")
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }), !name.isEmpty else {
            throw map.error(at: "name", "name may hold letters, digits, '-', '_' and '.' only")
        }
        for (key, value) in try map["headers"]?.stringMap() ?? [] { headers[key] = try value.decode(String.self) }
        batchWait = try map.decode("batchwait", default: batchWait)
        batchSize = try map.decode("batchsize", default: batchSize)
        guard batchSize > 0, batchSize <= 64 << 20 else { throw map.error(at: "batchsize", "batchsize must be between 1 and 67108864 bytes") }
        timeout = try map.decode("timeout", default: timeout)
        if let backoff = map["backoff_config"] {
            let b = try backoff.mapping(allowedKeys: ["min_period", "max_period", "max_retries"])
            minBackoff = try b.decode("min_period", default: minBackoff)
            maxBackoff = try b.decode("max_period", default: maxBackoff)
            maxRetries = try b.decode("max_retries", default: maxRetries)
            guard minBackoff.milliseconds > 0, minBackoff <= maxBackoff, maxRetries >= 0 else {
                throw b.error(at: "min_period", "min_period must be greater than zero and not greater than max_period; max_retries not negative")
            }
        }
        spoolMaxSize = try map.decode("spool_max_size", default: spoolMaxSize)
        for (key, value) in [("batchwait", batchWait), ("timeout", timeout)] where value.milliseconds <= 0 {
            throw map.error(at: key, "\(key) must be greater than zero")
        }
        http = try HTTPClientSettings(mapping: map)
    }
}

extension ForwardConfig {
    /// An OTLP destination's URL and the key it came from. Over HTTP `endpoint` gets the signal's
    /// path, `traces_endpoint`/`logs_endpoint` is taken as is; gRPC calls the signal's service at
    /// `endpoint`, which is scheme, host and port only.
    static func otlpURL(_ map: YAMLMapping, signal: Signal, grpc: Bool) throws(ConfigError) -> (key: String, url: String) {
        let fullKey = signal == .logs ? "logs_endpoint" : "traces_endpoint"
        if grpc {
            guard map[fullKey] == nil else {
                throw map.error(at: fullKey, "\(fullKey) is for protocol http/protobuf; gRPC calls the \(signal == .logs ? "LogsService" : "TraceService") at endpoint")
            }
            let url: String = try map.require("endpoint")
            guard let parsed = URL(string: url), parsed.path.isEmpty || parsed.path == "/", parsed.query == nil else {
                throw map.error(at: "endpoint", "a gRPC endpoint is scheme, host and port only (http:// for plain HTTP/2, https:// for TLS), got \"\(url)\"")
            }
            for key in ["follow_redirects", "enable_http2"] + ProxySettings.keys where map[key] != nil {
                throw map.error(at: key, "\(key) does not apply to protocol grpc")
            }
            return ("endpoint", url)
        }
        if let full: String = try map.decode(fullKey) {
            guard map["endpoint"] == nil else { throw map.error(at: fullKey, "set endpoint or \(fullKey), not both") }
            return (fullKey, full)
        }
        let base: String = try map.require("endpoint")
        return ("endpoint", (base.hasSuffix("/") ? String(base.dropLast()) : base) + (signal == .logs ? "/v1/logs" : "/v1/traces"))
    }
}

/// `traces:` — where the spans the agent stores are also sent.
package struct TracesConfig: Sendable, Equatable {
    package var forward: [ForwardConfig] = []

    package init() {}

    package init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: ["forward"])
        var names = Set<String>()
        for entry in try map["forward"]?.sequence() ?? [] {
            let destination = try ForwardConfig(yaml: entry, signal: .traces)
            guard names.insert(destination.name).inserted else {
                throw entry.error("found multiple trace forward destinations named \"\(destination.name)\"; give each a name")
            }
            forward.append(destination)
        }
    }
}
