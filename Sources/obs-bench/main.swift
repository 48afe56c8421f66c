import Foundation
import Scrape

// Exposition parser throughput on one core: parses a file (or a generated node-exporter-like
// exposition) repeatedly and reports MB/s and samples/s.
//
//   swift build -c release --product obs-bench && .build/release/obs-bench [file] [seconds]

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

let arguments = CommandLine.arguments.dropFirst()
let bytes: [UInt8]
if let path = arguments.first, FileManager.default.fileExists(atPath: path) {
    bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
} else {
    bytes = generated()
}
let seconds = Double(arguments.dropFirst().first ?? "") ?? 5
var parsed = 0
var samples = 0
let clock = ContinuousClock()
let start = clock.now
var elapsed = 0.0
while elapsed < seconds {
    for _ in 0..<100 {
        bytes.withUnsafeBytes { raw in
            var parser = ExpositionParser(raw, format: .prometheusText)
            while let entry = try? parser.next() {
                if entry == .sample { samples += 1 }
            }
        }
        parsed += bytes.count
    }
    let d = (clock.now - start).components
    elapsed = Double(d.seconds) + Double(d.attoseconds) / 1e18
}
print(String(format: "input %d bytes; %.1f MB/s, %.2f M samples/s over %.1f s",
             bytes.count, Double(parsed) / elapsed / 1e6, Double(samples) / elapsed / 1e6, elapsed))
