// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "obs-agent",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "obs-agent", targets: ["ObsAgent"]),
        .executable(name: "obsctl", targets: ["obsctl"]),
        .executable(name: "obs-bench", targets: ["obs-bench"]),
        .executable(name: "obs-fuzz", targets: ["ObsFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
    ],
    targets: [
        // C libraries, found through pkg-config.
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // Macros that Swift cannot import (deflateInit2, SQLITE_TRANSIENT) and the CRC32C kernel.
        .target(name: "CShims", dependencies: ["CZlib", "CSQLite"], linkerSettings: [.linkedLibrary("crypt")]),
        // RE2 behind a C interface: every user-supplied regular expression matches in linear time.
        .target(name: "CRE2", linkerSettings: [.linkedLibrary("re2")]),

        // Shared model, protocols between stages, byte codecs.
        .target(
            name: "ObsCore",
            dependencies: [
                "CSnappy", "CZlib", "CZstd", "CShims", "CRE2",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // A YAML reader and writer of our own, and strict decoding with file/line/key errors, shared by
        // every config and rule file.
        .target(
            name: "ObsYAML",
            dependencies: ["ObsCore"],
            swiftSettings: strict
        ),
        .target(
            name: "MetricsTSDB",
            dependencies: [
                "ObsCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Logs: container log tailing, Loki push decoding, the log store.
        .target(
            name: "LogIngest",
            dependencies: [
                "ObsCore", "CSQLite", "CShims",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TraceCollector",
            dependencies: ["ObsCore", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Go's text/template with pluggable function tables (Loki's, Prometheus's, Alertmanager's).
        .target(name: "Templating", dependencies: ["ObsCore"], swiftSettings: strict),
        .target(name: "QueryEngine", dependencies: ["ObsCore", "Templating"], swiftSettings: strict),
        // Recording and alerting rules, their evaluation, and promtool's rule unit tests.
        .target(
            name: "Alerting",
            dependencies: ["ObsCore", "ObsYAML", "OutboundHTTP", "QueryEngine", "Templating", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Prometheus's HTTP client configuration (auth, TLS, redirects), shared by every outgoing client.
        .target(
            name: "OutboundHTTP",
            dependencies: ["ObsCore", "ObsYAML", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl")],
            swiftSettings: strict
        ),
        // Alertmanager inside the daemon: routing, grouping, inhibition, silences, the notification
        // log and webhook delivery, with its state in SQLite.
        .target(
            name: "Alertmanager",
            dependencies: ["ObsCore", "ObsYAML", "OutboundHTTP", "CSQLite", "CShims", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Forwarding to distributed stores: remote write from the metrics WAL.
        .target(
            name: "Forwarding",
            dependencies: [
                "ObsCore", "Scrape", "OutboundHTTP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ],
            swiftSettings: strict
        ),
        // Scraping: discovery, relabeling, exposition parsing, scrape loops.
        .target(
            name: "Scrape",
            dependencies: [
                "ObsCore", "ObsYAML", "OutboundHTTP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),

        // The agent's configuration file: decoding and validation, shared by the daemon and `obsctl check config`.
        .target(
            name: "AgentConfiguration",
            dependencies: ["ObsCore", "ObsYAML", "Alerting", "Alertmanager", "Scrape", "OutboundHTTP"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "ObsAgent",
            dependencies: [
                "ObsCore", "CShims", "ObsYAML", "MetricsTSDB", "LogIngest", "TraceCollector", "QueryEngine", "Alerting", "Alertmanager", "Scrape",
                "AgentConfiguration", "OutboundHTTP", "Forwarding", "ObsctlCommands",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ObsctlCommands",
            dependencies: [
                "ObsCore", "Alerting", "Alertmanager", "AgentConfiguration",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "obsctl", dependencies: ["ObsctlCommands"], swiftSettings: strict),

        // Micro-benchmarks run in release mode (exposition parser throughput).
        .executableTarget(name: "obs-bench", dependencies: ["Scrape", "MetricsTSDB", "ObsCore", .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log")], swiftSettings: strict),

        // libFuzzer targets for every parser, decoder and on-disk reader (scripts/fuzz.sh).
        .executableTarget(
            name: "ObsFuzz",
            dependencies: ["CShims", "ObsCore", "ObsYAML", "QueryEngine", "TraceCollector", "LogIngest", "MetricsTSDB", "Scrape", "Alerting",
                           "Alertmanager",
                           .product(name: "NIOCore", package: "swift-nio")],
            // One thread, C entry points and a process-wide target: Swift 5 checking suits it.
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),

        .testTarget(name: "CoreTests", dependencies: ["ObsCore"]),
        .testTarget(name: "ForwardingTests", dependencies: ["Forwarding", .product(name: "NIOHPACK", package: "swift-nio-http2")]),
        .testTarget(name: "AlertingTests", dependencies: ["ObsCore", "Alerting", "OutboundHTTP"], resources: [.copy("Fixtures")]),
        .testTarget(name: "AlertmanagerTests", dependencies: ["ObsCore", "ObsYAML", "Alertmanager", "OutboundHTTP"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "TraceCollectorTests",
            dependencies: ["ObsCore", "TraceCollector", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "ScrapeTests", dependencies: ["ObsCore", "Scrape"], resources: [.copy("Fixtures")]),
        .testTarget(name: "QueryEngineTests", dependencies: ["ObsCore", "QueryEngine"], resources: [.copy("Formatting"), .copy("LogQL")]),
        .testTarget(
            name: "StoreTests",
            dependencies: ["ObsCore", "MetricsTSDB", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "LogIngestTests",
            dependencies: ["ObsCore", "LogIngest", .product(name: "Logging", package: "swift-log")],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "ConfigTests",
            dependencies: ["ObsAgent", "ObsYAML", "AgentConfiguration", "OutboundHTTP"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "ObsCore", "MetricsTSDB", "LogIngest", "TraceCollector",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    cxxLanguageStandard: .cxx17
)
