import Dispatch
import Glibc
import ObsCore
import Synchronization

/// Limits a LogQL query runs under. Defaults are Loki's.
public struct LogQLOptions: Sendable {
    public var timeout: Duration = .seconds(120)
    /// `max_query_series`: series a metric query may return.
    public var maxSeries = 500
    /// `max_entries_limit_per_query`: the largest `limit` a log query may ask for.
    public var maxEntries = 5000
    /// Range aggregations whose samples fall into at most this many step windows fold them into
    /// steps as they are read; longer ranges keep the samples. 0 always keeps them.
    public var maxWindowsPerSample = 64
    /// Threads scanning chunks at once.
    public var workers = max(1, min(8, sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    public init() {}
}

/// Why a LogQL query failed; descriptions are Loki's wording where Loki has one.
public enum LogQLError: Error, Sendable, CustomStringConvertible {
    /// The query or one of its parameters is wrong: HTTP 400.
    case badQuery(String)
    /// A parser or conversion failed on some lines and the query did not filter those out: HTTP 400.
    case pipeline(errorType: String, series: Labels)
    /// A limit was reached: HTTP 400.
    case limit(String)
    case timeout(Duration)
    /// Reading the store failed.
    case storage(String)

    public var description: String {
        switch self {
        case let .badQuery(message), let .limit(message), let .storage(message): message
        case let .pipeline(errorType, series):
            "pipeline error: '\(errorType)' for series: '\(series)'.\n"
                + "Use a label filter to intentionally skip this error. (e.g | __error__!=\"\(errorType)\").\n"
                + "To skip all potential errors you can match empty errors.(e.g __error__=\"\")\n"
                + "The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n"
        case let .timeout(limit): "query timed out after \(limit)"
        }
    }
}

/// What a query read, in the terms of Loki's `stats` block.
public struct LogQLStats: Sendable {
    public var chunksRef = 0
    public var chunksScanned = 0
    public var compressedBytes = 0
    public var decompressedBytes = 0
    public var decompressedLines = 0
    public var headChunkBytes = 0
    public var headChunkLines = 0
    public var entriesReturned = 0
    public var seconds = 0.0

    public init() {}

    public var totalBytes: Int { decompressedBytes + headChunkBytes }
    public var totalLines: Int { decompressedLines + headChunkLines }

    mutating func add(_ other: LogQLStats) {
        chunksScanned += other.chunksScanned
        compressedBytes += other.compressedBytes
        decompressedBytes += other.decompressedBytes
        decompressedLines += other.decompressedLines
        headChunkBytes += other.headChunkBytes
        headChunkLines += other.headChunkLines
    }

    mutating func count(_ chunk: any LogChunk) {
        chunksScanned += 1
        if chunk.storedLength == 0 {
            headChunkBytes += chunk.rawLength
            headChunkLines += chunk.count
        } else {
            compressedBytes += chunk.storedLength
            decompressedBytes += chunk.rawLength
            decompressedLines += chunk.count
        }
    }
}

/// Evaluates LogQL over a log store: log queries into streams of entries, metric queries into
/// samples. Chunks are scanned on `workers` threads with line filters pushed into the decoder;
/// everything above the range aggregations runs on the PromQL evaluator, whose vector matching and
/// aggregation semantics LogQL shares. Synchronous and blocking: call it off the cooperative pool.
public struct LogQLEngine: Sendable {
    public let querier: any LogQuerier
    public var options: LogQLOptions

    public init(querier: any LogQuerier, options: LogQLOptions = LogQLOptions()) {
        self.querier = querier
        self.options = options
    }

    func chunks(_ matchers: [LabelMatcher], start: Int64, end: Int64) throws(LogQLError) -> [any LogChunk] {
        do {
            return try querier.chunks(matchers, start: start, end: end)
        } catch {
            throw .storage("\(error)")
        }
    }

    /// Runs `body` over every chunk on the worker threads, each worker folding into its own
    /// partial result with its own decoder buffers; returns the partials. `skip` lets a worker pass over a chunk it no longer
    /// needs (a log query's limit already filled with newer entries).
    func scan<Partial>(_ chunks: [any LogChunk], deadline: ContinuousClock.Instant, make: () -> Partial,
                       skip: (@Sendable (Partial, any LogChunk) -> Bool)? = nil,
                       _ body: @Sendable (inout Partial, any LogChunk, ZstdDecoder) throws -> Void) throws(LogQLError) -> [(Partial, LogQLStats)] {
        let workers = max(1, min(options.workers, chunks.count))
        let next = Atomic<Int>(0)
        let failure = Mutex<LogQLError?>(nil)
        var results: [(Partial, LogQLStats)] = (0..<workers).map { _ in (make(), LogQLStats()) }
        results.withUnsafeMutableBufferPointer { slots in
            let base = slots.baseAddress!
            // Each worker writes only its own slot.
            nonisolated(unsafe) let shared = base
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                var (partial, stats) = shared[worker]
                defer { shared[worker] = (partial, stats) }
                let decoder = ZstdDecoder()
                while true {
                    let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard index < chunks.count, failure.withLock({ $0 == nil }) else { return }
                    if ContinuousClock.now > deadline {
                        failure.withLock { $0 = $0 ?? .timeout(options.timeout) }
                        return
                    }
                    let chunk = chunks[index]
                    if let skip, skip(partial, chunk) { continue }
                    do {
                        try body(&partial, chunk, decoder)
                        stats.count(chunk)
                    } catch let error as LogQLError {
                        failure.withLock { $0 = $0 ?? error }
                    } catch {
                        failure.withLock { $0 = $0 ?? .storage("\(error)") }
                    }
                }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        return results
    }

    static func pipeline(_ query: LogQuery, needing needed: Set<String>? = nil) throws(LogQLError) -> LogPipeline {
        do {
            return try LogPipeline(query.stages, needing: needed)
        } catch {
            throw .badQuery("\(error)")
        }
    }
}
