import Hummingbird
import Logging
import ObsCore

/// `POST /api/v1/write`: Prometheus remote write 1.0 (snappy-compressed protobuf). Answers 204 once
/// every accepted sample is in the WAL; 400 with the first problem (as plain text, like Prometheus)
/// when some samples were rejected — the others are still stored; 5xx only when retrying can help.
struct RemoteWriteRoutes {
    let stores: Stores
    let maxBodySize: Int
    let maxDecodedSize: Int
    let counters: ReceiverCounters
    let logger: Logger
    /// Known series by their label bytes: most requests decode no label at all.
    let seriesCache = WireSeriesCache()

    func register(on router: Router<some RequestContext>) {
        router.post("/api/v1/write") { request, _ in
            try await handle(request)
        }
    }

    func handle(_ request: Request) async throws -> Response {
        let store = try stores.metrics()
        if let encoding = request.headers[.contentEncoding]?.lowercased(), encoding != "snappy" {
            return Response.text("unsupported Content-Encoding \"\(encoding)\": remote write bodies are snappy-compressed\n",
                                 status: .unsupportedMediaType)
        }
        var request = request
        let body = try await request.collectBody(upTo: maxBodySize)
        let write: RemoteWriteRequest
        do {
            let decoded = try Snappy.uncompress(body, maxDecodedSize: maxDecodedSize)
            write = try RemoteWriteRequest(protobuf: decoded)
        } catch let error as CoreError {
            return Response.text("\(error)\n", status: .badRequest)
        }

        var appender = store.appender()
        var firstProblem: String?
        var stored = 0
        var rejected = 0
        for series in write.series {
            // A series seen before is recognised by its label bytes; a new one is decoded and checked.
            let hash = series.wireLabels.map(WireSeriesCache.hash)
            let known = series.wireLabels.flatMap { wire in hash.flatMap { seriesCache.lookup(wire, hash: $0) } }
            let labels: Labels
            if let known {
                labels = known.labels
            } else {
                let decoded: [Label]
                do {
                    decoded = try series.decodedLabels()
                } catch {
                    return Response.text("\(error)\n", status: .badRequest)
                }
                switch RemoteWriteRequest.validate(decoded) {
                case let .failure(problem):
                    rejected += series.sampleRange.count + series.histograms.count + series.invalidHistograms.count
                    firstProblem = firstProblem ?? problem.description
                    continue
                case let .success(valid):
                    labels = valid
                }
            }
            var ref: SeriesRef? = known?.ref
                for sample in write.samples[series.sampleRange] {
                    do {
                        ref = try appender.append(labels, ref: ref, timestamp: sample.timestamp, value: sample.value)
                        stored += 1
                    } catch {
                        rejected += 1
                        firstProblem = firstProblem ?? error.description
                    }
                }
                rejected += series.invalidHistograms.count
                firstProblem = firstProblem ?? series.invalidHistograms.first.map { "\($0) for series \(labels)" }
                for sample in series.histograms {
                    do {
                        ref = try appender.appendHistogram(labels, ref: ref, timestamp: sample.timestamp,
                                                           histogram: sample.histogram)
                        stored += 1
                    } catch {
                        rejected += 1
                        firstProblem = firstProblem ?? error.description
                    }
                }
                // As in Prometheus, a bad exemplar never fails the request: it is dropped (and counted
                // by the store when it is out of order).
                if let ref {
                    for exemplar in series.exemplars { try? appender.appendExemplar(ref, exemplar) }
                    if let hash, ref != known?.ref, let held = store.labels(ofSeries: ref) {
                        seriesCache.remember(hash: hash, ref: ref, labels: held)
                    }
                }
        }
        do {
            try await appender.commit()
        } catch {
            logger.error("Remote write commit failed", metadata: ["err": "\(error)"])
            return Response.text("storing samples failed: \(error)\n", status: .internalServerError)
        }
        counters.stored.inc(Double(stored))
        counters.rejected.inc(Double(rejected))
        if let firstProblem {
            logger.debug("Remote write samples rejected", metadata: ["rejected": "\(rejected)", "first": "\(firstProblem)"])
            let more = rejected > 1 ? " (and \(rejected - 1) more rejected samples)" : ""
            return Response.text(firstProblem + more + "\n", status: .badRequest)
        }
        return Response(status: .noContent)
    }
}
