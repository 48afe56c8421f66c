import Foundation
import Logging
import MetricsTSDB
import ObsCore
import Scrape

// Scrape-path throughput on one core.
//
//   swift build -c release --product obs-bench
//   .build/release/obs-bench parse [file] [seconds]    exposition parser alone (MB/s, samples/s)
//   .build/release/obs-bench append [file] [seconds]   parser, scrape cache and head append with WAL
//                                                      writes, as one scrape loop does it
//   .build/release/obs-bench codecs cri-file [block-KiB]  snappy, gzip and zstd on the log lines of a
//                                                      CRI file, cut into blocks as the log store cuts them
//
// Without a file, a generated node-exporter-like exposition is used.

func generated() -> [UInt8] {
    var text = ""
    for family in 0..<100 {
        text += "# HELP node_family_\(family)_total Synthetic family \(family), like a node_exporter counter.\n"
        text += "# TYPE node_family_\(family)_total counter\n"
        for series in 0..<10 {
            let value = Double(family * 1000 + series) * 1234.5678 + 0.25
            text += "node_family_\(family)_total{cpu=\"\(series)\",mode=\"idle\",device=\"sda\(series)\"} \(value)\n"
        }
    }
    return Array(text.utf8)
}

/// Measures wall time from `start` and prints throughput.
struct Meter {
    let label: String
    let start = ContinuousClock.now
    var handledBytes = 0
    var samples = 0

    var elapsed: Double {
        let d = (ContinuousClock.now - start).components
        return Double(d.seconds) + Double(d.attoseconds) / 1e18
    }

    func report(inputBytes: Int) {
        let elapsed = elapsed
        print(String(format: "%@: input %d bytes; %.1f MB/s, %.2f M samples/s (%.3f µs per sample) over %.1f s",
                     label, inputBytes, Double(handledBytes) / elapsed / 1e6, Double(samples) / elapsed / 1e6,
                     elapsed * 1e6 / Double(samples), elapsed))
    }
}

var arguments = Array(CommandLine.arguments.dropFirst())
let mode = ["append", "parse", "codecs"].contains(arguments.first ?? "") ? arguments.removeFirst() : "parse"
let bytes: [UInt8]
if let path = arguments.first, FileManager.default.fileExists(atPath: path) {
    bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
} else {
    bytes = generated()
}
let seconds = Double(arguments.dropFirst().first ?? "") ?? 5

switch mode {
case "codecs":
    let blockSize = (Int(arguments.dropFirst().first ?? "") ?? 256) << 10
    try Codecs.run(bytes, blockSize: blockSize)
case "append":
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("obs-bench-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let store = try await MetricsStore.open(directory: directory, metrics: MetricsRegistry(), logger: Logger(label: "obs-bench"))
    let cache = ScrapeCache()
    let job = ScrapeJob(name: "bench", interval: 15_000, timeout: 10_000)
    let target = ScrapeTarget.build(["__address__": "127.0.0.1:9100"], group: TargetGroup(targets: [], source: "bench"), job: job).target!
    var appender = store.bufferedAppender()
    var timestamp = WallClock.milliseconds()
    var meter = Meter(label: "append")
    while meter.elapsed < seconds {
        timestamp += 15_000
        let outcome = bytes.withUnsafeBytes { raw in
            cache.append(raw, format: .prometheusText, timestamp: timestamp, target: target, job: job, into: &appender)
        }
        try await appender.commit()
        meter.samples += outcome.scraped
        meter.handledBytes += bytes.count
    }
    meter.report(inputBytes: bytes.count)
    store.close()
default:
    var meter = Meter(label: "parse")
    while meter.elapsed < seconds {
        for _ in 0..<20 {
            bytes.withUnsafeBytes { raw in
                var parser = ExpositionParser(raw, format: .prometheusText)
                while let entry = try? parser.next() {
                    if entry == .sample { meter.samples += 1 }
                }
            }
            meter.handledBytes += bytes.count
        }
    }
    meter.report(inputBytes: bytes.count)
}
