#if canImport(Glibc)
import Glibc
#endif
import Alerting
import Alertmanager
import Foundation
@testable import LogIngest
@testable import MetricsTSDB
import NIOCore
@testable import ObsCore
import ObsYAML
import QueryEngine
import Scrape
@testable import TraceCollector

/// The fuzz targets: each takes arbitrary bytes and must return (with or without an error), never
/// trap, hang or exhaust memory. Errors are the expected way to refuse; only crashes count.
enum FuzzTargets {
    static let all: [String: (UnsafeRawBufferPointer) -> Void] = [
        "exposition-text": { exposition($0, .prometheusText) },
        "exposition-openmetrics": { exposition($0, .openMetrics) },
        "remote-write": remoteWrite,
        "otlp-protobuf": otlpProtobuf,
        "otlp-json": { _ = try? OTLPJSON.decode($0) },
        "zipkin-json": { _ = try? ZipkinJSON.decode($0) },
        "loki-push-json": { _ = try? LokiPushRequest(json: $0) },
        "loki-push-protobuf": { _ = try? LokiPushRequest(protobuf: ByteBuffer(bytes: $0)) },
        "json-reader": jsonReader,
        "promql": promql,
        "logql": logql,
        "traceql": traceql,
        "go-template": goTemplate,
        "alert-template": alertTemplate,
        "rule-file": { _ = try? RuleFile.parse(text($0), path: "fuzz.yml") },
        "series-notation": seriesNotation,
        "alertmanager-config": { _ = try? AlertmanagerSettings.parse(text($0), file: "fuzz.yml") },
        "alertmanager-api": { bytes in
            _ = try? AlertmanagerJSON.alerts(Array(bytes))
            _ = try? AlertmanagerJSON.silence(Array(bytes))
        },
        "alertmanager-matchers": { bytes in
            let source = text(bytes)
            if let matchers = try? MatcherSyntax.parseList(source) { _ = MatcherSyntax.key(matchers) }
        },
        "regex": regex,
        "yaml": yaml,
        "metrics-wal-record": { walRecord($0) { kind, payload in _ = try MetricsTSDB.WALRecord.decode(kind: kind, payload: &payload) } },
        "log-wal-record": { walRecord($0) { kind, payload in _ = try LogWALRecord.decode(kind: kind, payload: &payload) } },
        "trace-wal-record": { walRecord($0) { kind, payload in _ = try TraceWALRecord.decode(kind: kind, payload: &payload) } },
        "xor-chunk": xorChunk,
        "float-chunk-roundtrip": floatChunkRoundTrip,
        "histogram-chunk": histogramChunk,
        "log-segment": logSegment,
        "trace-segment": traceSegment,
        "block-index": blockIndex,
    ]

    static func text(_ bytes: UnsafeRawBufferPointer) -> String { String(decoding: bytes, as: UTF8.self) }

    static func exposition(_ bytes: UnsafeRawBufferPointer, _ format: ExpositionFormat) {
        var parser = ExpositionParser(bytes, format: format)
        while let entry = try? parser.next() {
            if entry == .sample { _ = try? parser.labels() }
        }
    }

    static func remoteWrite(_ bytes: UnsafeRawBufferPointer) {
        // Both the snappy framing and the protobuf inside it.
        let decoded = (try? Snappy.uncompress(ByteBuffer(bytes: bytes), maxDecodedSize: 1 << 20)) ?? ByteBuffer(bytes: bytes)
        guard let request = try? RemoteWriteRequest(protobuf: decoded) else { return }
        for series in request.series {
            guard let labels = try? series.decodedLabels() else { continue }
            if let wire = series.wireLabels { _ = WireSeriesCache.wire(wire, equals: Labels(labels)) }
            _ = RemoteWriteRequest.validate(labels)
        }
    }

    static func otlpProtobuf(_ bytes: UnsafeRawBufferPointer) {
        let body = ByteBuffer(bytes: bytes)
        _ = try? OTLPProtobuf.decode(body)
        _ = try? OTLPSplitter.split(body)
    }

    static func jsonReader(_ bytes: UnsafeRawBufferPointer) {
        var reader = JSONReader(bytes)
        while (try? reader.skip()) != nil, !reader.isAtEnd() {}
    }

    static func promql(_ bytes: UnsafeRawBufferPointer) {
        guard let expr = try? PromQLParser.parse(text(bytes)) else { return }
        _ = PromQLPrinter.pretty(expr)
    }

    static func logql(_ bytes: UnsafeRawBufferPointer) {
        guard let expr = try? LogQLParser.parse(text(bytes)) else { return }
        if case let .logs(query) = expr, let pipeline = try? LogPipeline(query.stages) {
            _ = pipeline.process(line: #"{"level":"error","msg":"x"} level=warn took=12ms"#, labels: Labels(["app": "a"]))
        }
    }

    static func traceql(_ bytes: UnsafeRawBufferPointer) {
        _ = try? TraceQLParser.parse(text(bytes))
        _ = try? TraceQLParser.parseTags(text(bytes))
    }

    static func goTemplate(_ bytes: UnsafeRawBufferPointer) {
        guard let template = try? GoTemplate(text(bytes)) else { return }
        _ = try? template.render(GoTemplate.Context(labels: ["app": "web", "n": "42"], line: "a line", timestamp: 1_700_000_000_000_000_000))
    }

    /// A query result every `query` in the template gets.
    struct FixedQuerier: RuleQuerier {
        func vector(_ expr: String, at time: Int64) throws(RuleError) -> [Sample] {
            [Sample(labels: Labels(["__name__": "up", "instance": "a:1"]), point: Point(t: time, f: 1)),
             Sample(labels: Labels(["__name__": "up", "instance": "b:1"]), point: Point(t: time, f: 0))]
        }
    }

    static func alertTemplate(_ bytes: UnsafeRawBufferPointer) {
        guard let template = try? AlertTemplate.parse(text(bytes), ruleName: "Fuzz") else { return }
        let data = AlertTemplate.Data(labels: Labels(["instance": "h:9100", "job": "node"]), externalLabels: Labels(["cluster": "c"]),
                                      externalURL: "http://agent:9090", value: 1234.5)
        _ = template.expand(data, time: 1_700_000_000_000, querier: FixedQuerier())
    }

    /// The first line is the series, the rest its values.
    static func seriesNotation(_ bytes: UnsafeRawBufferPointer) {
        let parts = text(bytes).split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        _ = try? SeriesNotation.metric(String(parts[0]))
        if parts.count > 1 { _ = try? SeriesNotation.values(String(parts[1])) }
    }

    /// The first line is the pattern, the rest the subject.
    static func regex(_ bytes: UnsafeRawBufferPointer) {
        let input = text(bytes)
        let parts = input.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        guard let regex = try? LinearRegex(String(parts[0]), dotMatchesNewline: true) else { return }
        let subject = parts.count > 1 ? String(parts[1]) : ""
        _ = regex.wholeMatches(subject)
        _ = regex.firstMatch(subject)?.expand("$1${name}$$")
        _ = regex.replaceAll(in: subject, with: "<$0>", literal: false)
    }

    static func yaml(_ bytes: UnsafeRawBufferPointer) {
        guard let value = try? YAMLValue.parse(text(bytes), file: "fuzz.yml") else { return }
        _ = try? LabelMap(yaml: value)
        // The writer's output must read back as the same tree.
        let written = value.serialized(maskingKeys: [])
        let reread = try? YAMLValue.parse(written, file: "written.yml")
        precondition(reread.map { "\($0.node)" } == "\(value.node)", "written YAML reads back differently:\n\(written)")
    }

    /// The first byte is the record kind, the rest its payload.
    static func walRecord(_ bytes: UnsafeRawBufferPointer, _ decode: (UInt8, inout ByteBuffer) throws -> Void) {
        guard let kind = bytes.first else { return }
        var payload = ByteBuffer(bytes: bytes.dropFirst())
        try? decode(kind, &payload)
    }

    static func xorChunk(_ bytes: UnsafeRawBufferPointer) {
        var iterator = FloatChunkIterator(Array(bytes))
        var count = 0
        while iterator.next(), count < 1 << 16 { count += 1 }
        // The one-pass decode must agree with sample-by-sample iteration.
        var bulk = FloatChunkIterator(Array(bytes))
        var timestamps: [Int64] = [], values: [Double] = []
        if bulk.next() { _ = bulk.appendRest(upTo: .max, timestamps: &timestamps, values: &values) }
        precondition(timestamps.count == min(count, 1 << 16), "one-pass and iterated decoding disagree")
    }

    /// Samples made from the bytes, closed into a chunk (decimal where that is exact and shorter):
    /// every sample must decode bit for bit, whichever encoding was chosen. Four bytes a sample:
    /// a timestamp step, then a value kind and its payload, so that decimals, constants, repeats,
    /// NaNs and arbitrary bit patterns all turn up.
    static func floatChunkRoundTrip(_ bytes: UnsafeRawBufferPointer) {
        var appender = XORAppender()
        var samples: [(Int64, UInt64)] = []
        var time: Int64 = 1_700_000_000_000
        var previous = 0.0
        var offset = 0
        while offset + 4 <= bytes.count, !appender.isFull {
            let step = Int64(bytes[offset]) * 1000 - 5000
            let kind = bytes[offset + 1]
            let payload = Int16(bitPattern: UInt16(bytes[offset + 2]) << 8 | UInt16(bytes[offset + 3]))
            offset += 4
            time &+= step == 0 && !samples.isEmpty ? 15_000 : step
            if let last = samples.last?.0, time <= last { time = last &+ 1 }
            let value: Double = switch kind % 6 {
            case 0: previous
            case 1: Double(payload) / [1, 10, 100, 1000, 1e6, 1e18][Int(kind / 6) % 6]
            case 2: previous + Double(payload) / 100
            case 3: Double(bitPattern: UInt64(UInt16(bitPattern: payload)) << 48 | UInt64(kind))
            case 4: [Double.nan, -0.0, .infinity, 1e300, 9_007_199_254_740_993, 0.1][Int(kind / 6) % 6]
            default: Double(Int64(payload) << Int64(kind / 6 % 60))
            }
            previous = value
            appender.append(timestamp: time, value: value)
            samples.append((time, value.bitPattern))
        }
        var iterator = FloatChunkIterator(appender.compactBytes)
        var decoded: [(Int64, UInt64)] = []
        while iterator.next() { decoded.append((iterator.timestamp, iterator.value.bitPattern)) }
        precondition(!iterator.failed && decoded.count == samples.count, "a closed chunk lost samples")
        for (got, want) in zip(decoded, samples) {
            precondition(got.0 == want.0 && got.1 == want.1, "a closed chunk changed a sample")
        }
    }

    static func histogramChunk(_ bytes: UnsafeRawBufferPointer) {
        var iterator = HistogramChunkIterator(Array(bytes))
        var count = 0
        while iterator.next(), count < 1 << 16 { count += 1 }
    }

    /// A scratch directory for the on-disk readers, made once per process.
    static let scratch: String = {
        var template = Array("/tmp/obs-fuzz-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }()

    static func write(_ bytes: UnsafeRawBufferPointer, to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { return }
        _ = Glibc.write(fd, bytes.baseAddress, bytes.count)
        close(fd)
    }

    static func logSegment(_ bytes: UnsafeRawBufferPointer) {
        let path = scratch + "/00000001.seg"
        write(bytes, to: path)
        guard let segment = try? LogSegment.open(path: path, sequence: 1) else { return }
        let decoder = ZstdDecoder()
        for block in segment.blocks.prefix(64) {
            try? segment.scan(block, start: .min, end: .max, filter: nil, decoder: decoder) { _ in }
        }
    }

    static func traceSegment(_ bytes: UnsafeRawBufferPointer) {
        let path = scratch + "/00000001.tseg"
        write(bytes, to: path)
        guard let segment = try? TraceSegment.open(path: path, sequence: 1) else { return }
        let decoder = ZstdDecoder()
        for number in segment.blocks.indices.prefix(64) { _ = try? segment.traces(inBlock: number, decoder: decoder) }
    }

    /// The input as a block's index, beside a valid meta file and an empty chunks file.
    static func blockIndex(_ bytes: UnsafeRawBufferPointer) {
        let directory = scratch + "/block"
        mkdir(directory, 0o755)
        let meta = #"{"ulid":"01HZZZZZZZZZZZZZZZZZZZZZZZ","minTime":0,"maxTime":1000,"stats":{"numSamples":1,"numSeries":1,"numChunks":1},"compaction":{"level":1,"sources":["01HZZZZZZZZZZZZZZZZZZZZZZZ"]},"version":1}"#
        meta.utf8CString.dropLast().withUnsafeBytes { write($0, to: directory + "/meta.json") }
        BlockFormat.chunksMagic.withUnsafeBytes { write($0, to: directory + "/chunks") }
        write(bytes, to: directory + "/index")
        guard let block = try? Block(directory: directory) else { return }
        _ = block
    }
}
