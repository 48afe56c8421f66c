import Foundation

/// `Fixtures/telemetry-receiver.py`: a destination that decodes remote write, Loki push and
/// OTLP traces (HTTP, or gRPC with `options` `--grpc`) on its own, from the published schemas,
/// and records what it received.
final class TelemetryReceiver {
    let port: Int
    let records: String
    private let process: Process

    /// Listens on `port` (chosen beforehand, so configurations can name it before it starts).
    init(port: Int, in directory: String, options: [String] = []) async throws {
        self.port = port
        records = directory + "/received-\(port).jsonl"
        let portFile = directory + "/receiver-\(port).port"
        process = try startPeer("/usr/bin/env", ["python3", KubernetesDiscoveryTests.fixtures + "/telemetry-receiver.py", portFile, records, "\(port)"] + options)
        guard try await KubernetesDiscoveryTests.readPort(portFile) != nil else {
            process.terminate()
            throw TestFailure("the telemetry receiver did not start")
        }
    }

    deinit { process.terminate() }

    struct Received {
        /// Log lines, as pushed.
        var lines: [String] = []
        /// OTLP log records: the line, its resource's attributes and its own.
        var logRecords: [(line: String, resource: [String: String], attributes: [String: String])] = []
        /// Samples as `<push label>@<timestamp>`.
        var samples: [String] = []
        /// Spans as `<trace id>/<span id>`.
        var spans: [String] = []
        /// Remote-write metadata as `<family> <type> <unit> <help>`.
        var metadata: [String] = []
    }

    var received: Received {
        var result = Received()
        for line in ((try? String(contentsOfFile: records, encoding: .utf8)) ?? "").split(separator: "\n") {
            guard let record = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
            switch record["kind"] as? String {
            case "log":
                result.lines.append(record["line"] as? String ?? "")
                if let resource = record["labels"] as? [String: String] {
                    result.logRecords.append((record["line"] as? String ?? "", resource, record["attributes"] as? [String: String] ?? [:]))
                }
            case "sample":
                let labels = record["labels"] as? [String: String] ?? [:]
                result.samples.append("\(labels["push"] ?? "?")@\(record["t"] as? Int ?? 0)")
            case "metadata":
                result.metadata.append(["family", "type", "unit", "help"].map { record[$0] as? String ?? "" }.joined(separator: " "))
            case "span": result.spans.append("\(record["trace"] as? String ?? "")/\(record["span"] as? String ?? "")")
            default: break
            }
        }
        return result
    }
}
