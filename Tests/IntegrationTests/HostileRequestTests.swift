import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import ObsCore
import Testing
import TraceCollector

#if canImport(Glibc)
import Glibc
#endif

/// The built daemon against hostile input: every request in `Fixtures/hostile-requests.txt`, the
/// bodies that need building (out-of-range timestamps, negative histogram counts, attribute values
/// nested past the decoder), damaged segment files, and raw abuse of the listener. The daemon
/// answers every request or drops the connection, stays ready, and loses nothing written before.
@Suite(.serialized) struct HostileRequestTests {
    struct Row: CustomStringConvertible {
        var line: Int
        var method: HTTPMethod
        var path: String
        var expected: String
        var contentType: String?
        var body: String?

        var description: String { "line \(line): \(method) \(path.prefix(120))" }
    }

    static var fixture: String {
        let file = #filePath
        return String(file[..<file.lastIndex(of: "/")!]) + "/Fixtures/hostile-requests.txt"
    }

    static func rows() throws -> [Row] {
        let text = try String(contentsOfFile: fixture, encoding: .utf8)
        var rows: [Row] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 3 || fields.count == 5 else {
                throw TestFailure("hostile-requests.txt:\(number + 1): want 3 or 5 tab-separated fields")
            }
            rows.append(Row(line: number + 1, method: HTTPMethod(rawValue: fields[0]), path: urlSafe(expand(fields[1])),
                            expected: fields[2], contentType: fields.count == 5 ? fields[3] : nil,
                            body: fields.count == 5 ? expand(fields[4]) : nil))
        }
        return rows
    }

    /// `⟨N×text⟩` becomes `text` repeated N times.
    static func expand(_ text: String) -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "⟨"), let close = rest[open...].firstIndex(of: "⟩"),
              let times = rest[open..<close].firstIndex(of: "×") {
            out += rest[..<open]
            let count = Int(rest[rest.index(after: open)..<times])!
            out += String(repeating: String(rest[rest.index(after: times)..<close]), count: count)
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    /// Percent-encodes what may not stand in a URL as it is (the table keeps its own escapes).
    static func urlSafe(_ path: String) -> String {
        var out = ""
        for byte in path.utf8 {
            if byte > 0x20, byte < 0x7F, !"{}\"<>|\\^`[]".utf8.contains(byte) {
                out.append(Character(Unicode.Scalar(byte)))
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    static func matches(_ status: Int, _ expected: String) -> Bool {
        switch expected {
        case "!5xx": status < 500
        case "2xx", "4xx": status / 100 == Int(String(expected.first!))!
        default: status == Int(expected)
        }
    }

    /// What the daemon may take at its peak through the hostile table, bombs included: the 64 MB
    /// decoded-body limit twice over (a body and its decoded form), queries up to 5 million samples,
    /// and the debug build's own footprint.
    static let memoryBoundMegabytes = 400

    /// `VmHWM` of a process, in megabytes.
    static func peakResidentMegabytes(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
    }

    /// A value that makes backtracking engines take forever: many `a`s and a mismatch at the end.
    static let adversarial = String(repeating: "a", count: 40) + "!"

    @Test func everyHostileRequestIsAnsweredAndNothingIsLost() async throws {
        // Query memory follows --query.max-samples; a smaller figure keeps the bound below tight.
        let agent = try AgentProcess(arguments: ["--query.max-samples=5000000"])
        try await agent.waitForListening()
        let base = agent.baseURL
        let now = Int64(Date().timeIntervalSince1970 * 1000)

        // Written before the abuse.
        let written = try await remoteWrite(base, [
            WriteSeries(labels: [("__name__", "up"), ("job", Self.adversarial)], samples: [(now, 1)]),
        ])
        #expect(written.status == 204)
        let push = try await http(.POST, base + "/loki/api/v1/push", body: """
            {"streams":[{"stream":{"app":"hostile"},"values":[["\(now * 1_000_000)","\(Self.adversarial)"]]}]}
            """, headers: [("Content-Type", "application/json")])
        #expect(push.status == 204)
        let trace = TraceID(high: 7, low: 7)
        let span = try await http(.POST, base + "/v1/traces", body: """
            {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"hostile"}}]},
            "scopeSpans":[{"spans":[{"traceId":"\(trace.hex)","spanId":"0000000000000001","name":"op",
            "startTimeUnixNano":"\(now * 1_000_000)","endTimeUnixNano":"\(now * 1_000_000 + 1000)",
            "attributes":[{"key":"line","value":{"stringValue":"\(Self.adversarial)"}}]}]}]}]}
            """, headers: [("Content-Type", "application/json")])
        #expect(span.status == 200)

        for row in try Self.rows() {
            var headers: [(String, String)] = []
            if let type = row.contentType { headers.append(("Content-Type", type)) }
            let started = ContinuousClock.now
            let reply = try await http(row.method, base + row.path, body: row.body, headers: headers)
            #expect(Self.matches(reply.status, row.expected), "\(row): got \(reply.status) \(reply.body.prefix(300))")
            #expect(ContinuousClock.now - started < .seconds(5), "\(row): took \(ContinuousClock.now - started)")
        }

        // Bodies that need building.
        let outOfRange = try await remoteWrite(base, [
            WriteSeries(labels: [("__name__", "edge")], samples: [(-1, 1), (Int64.max, 2)]),
        ])
        #expect(outOfRange.status == 400)
        #expect(outOfRange.body.contains("beyond"))
        // A hundred thousand labels on one series, and invalid UTF-8 in names, values and lines.
        let manyLabels = [("__name__", "wide")] + (0..<100_000).map { ("l\($0)", "v") }
        let wide = try await remoteWrite(base, [WriteSeries(labels: manyLabels, samples: [(now, 1)])])
        #expect(wide.status < 500, "100,000 labels: \(wide.status)")
        let invalidUTF8 = String(decoding: [0x62, 0xFF, 0xFE, 0xC3, 0x28], as: UTF8.self)
        let mangled = try await remoteWrite(base, [WriteSeries(labels: [("__name__", "utf8"), ("v", invalidUTF8)], samples: [(now, 1)])])
        #expect(mangled.status < 500)
        var rawPush = ByteBuffer(string: #"{"streams":[{"stream":{"app":""#)
        rawPush.writeBytes([0xFF, 0xFE])
        rawPush.writeString(#""},"values":[[""# + "\(now * 1_000_000)" + #"","bad "#)
        rawPush.writeBytes([0xC3, 0x28])
        rawPush.writeString(#""]]}]}"#)
        #expect(try await post(base + "/loki/api/v1/push", rawPush, encoding: nil, type: "application/json").status < 500)
        let negative = try await remoteWrite(base, [
            WriteSeries(labels: [("__name__", "bad_histogram")], samples: [],
                        histograms: [WriteHistogram(timestamp: now, count: 1, sum: 1, spans: [(0, 2)], deltas: [5, -10])]),
        ])
        #expect(negative.status == 400)
        #expect(negative.body.contains("negative"))
        let deep = try await otlp(base, Self.deeplyNested(trace: TraceID(high: 8, low: 8), depth: 40, now: now))
        #expect(deep.status == 200)
        #expect(deep.body.contains("nested deeper"), "partial success names the refused span: \(deep.body)")
        var huge = Span(traceID: TraceID(high: 8, low: 9), spanID: 2, name: "huge", start: UInt64(now) * 1_000_000, end: UInt64(now) * 1_000_000 + 1)
        huge.attributes = [Attribute("blob", .string(String(repeating: "x", count: 10 << 20)))]
        let oversized = try await otlp(base, OTLPEncoder.encode([ResourceSpans(resource: [], scopes: [ScopeSpans(scope: InstrumentationScope(), spans: [huge])])]))
        #expect(oversized.status == 200)
        #expect(oversized.body.contains("larger than"), "partial success names the oversized span: \(oversized.body.prefix(200))")
        for path in ["/api/search?q=%7B%7D", "/api/v2/search/tag/line/values", "/api/v2/search/tags"] {
            #expect(try await http(.GET, base + path).status == 200, "\(path) after a deep attribute")
        }

        // Decompression bombs: 200 MB of zeros in about 200 KB.
        let zeros = ByteBuffer(repeating: 0, count: 200 << 20)
        let gzipBomb = Zlib.compress(zeros, format: .gzip)
        for (path, type) in [("/loki/api/v1/push", "application/json"), ("/v1/traces", "application/x-protobuf"),
                             ("/api/v2/spans", "application/json")] {
            let declared = try await post(base + path, gzipBomb, encoding: "gzip", type: type)
            #expect(declared.status == 413 || declared.status == 400, "\(path), gzip bomb: \(declared.status) \(declared.body.prefix(200))")
            // The same bomb claiming to be small is stopped by the inflater at the limit.
            var lying = gzipBomb
            lying.setInteger(UInt32(1000), at: lying.writerIndex - 4, endianness: .little)
            let stopped = try await post(base + path, lying, encoding: "gzip", type: type)
            #expect(stopped.status == 400 || stopped.status == 413, "\(path), gzip bomb with a false size: \(stopped.status)")
        }
        let snappyBomb = Snappy.compress(zeros)
        #expect(try await post(base + "/api/v1/write", snappyBomb, encoding: "snappy").status == 400)
        #expect(try await post(base + "/loki/api/v1/push", snappyBomb, encoding: nil).status == 400)

        #expect(try await http(.GET, base + "/-/ready").status == 200)
        // The whole barrage stays within a stated memory bound (the peak resident size, debug build).
        let peak = Self.peakResidentMegabytes(agent.pid)
        #expect(peak > 0 && peak < Self.memoryBoundMegabytes, "peak resident memory \(peak) MB")
        print("hostile requests: peak resident memory \(peak) MB")
        let sample = try await http(.GET, base + "/api/v1/query?query=up&time=\(now / 1000 + 1)")
        #expect(sample.body.contains(Self.adversarial))
        let line = try await http(.GET, base + "/loki/api/v1/query_range?query=\(percent("{app=\"hostile\"}"))&limit=5")
        #expect(line.body.contains(Self.adversarial))
        let stored = try await http(.GET, base + "/api/v2/traces/\(trace.hex)")
        #expect(stored.status == 200)

        // The edge timestamps never reached the WAL: a restart comes up ready.
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
        let again = try AgentProcess(arguments: [], directory: agent.directory, dataDirectory: agent.directory + "/data")
        try await again.waitForListening()
        #expect(try await http(.GET, again.baseURL + "/api/v1/query?query=up&time=\(now / 1000 + 1)").body.contains(Self.adversarial))
        again.signal(SIGKILL)
        _ = try await again.waitForExit()
    }

    /// A span whose attribute value nests arrays `depth` deep, as OTLP protobuf.
    static func deeplyNested(trace: TraceID, depth: Int, now: Int64) -> ByteBuffer {
        var value = AttributeValue.string("bottom")
        for _ in 0..<depth { value = .array([value]) }
        var span = Span(traceID: trace, spanID: 1, name: "deep", start: UInt64(now) * 1_000_000, end: UInt64(now) * 1_000_000 + 1000)
        span.attributes = [Attribute("deep", value)]
        return OTLPEncoder.encode([ResourceSpans(resource: [Attribute("service.name", .string("deep"))],
                                                 scopes: [ScopeSpans(scope: InstrumentationScope(), spans: [span])])])
    }

    /// POSTs binary `body` (protobuf unless `type` says otherwise), with `Content-Encoding` when given.
    func post(_ url: String, _ body: ByteBuffer, encoding: String?, type: String = "application/x-protobuf") async throws -> HTTPReply {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: type)
        if let encoding { request.headers.add(name: "Content-Encoding", value: encoding) }
        request.body = .bytes(body)
        let response = try await testClient.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return HTTPReply(status: Int(response.status.code), headers: [], body: String(buffer: bytes))
    }

    func otlp(_ base: String, _ body: ByteBuffer) async throws -> HTTPReply {
        var request = HTTPClientRequest(url: base + "/v1/traces")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-protobuf")
        request.body = .bytes(body)
        let response = try await testClient.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return HTTPReply(status: Int(response.status.code), headers: [], body: String(buffer: bytes))
    }

    /// Segment files cut short (a third gone) are set aside at startup with a log line; the daemon
    /// comes up ready and answers from what is left, on every start.
    @Test func truncatedSegmentsAreSetAsideAtStartup() async throws {
        let directory = AgentProcess.temporaryDirectory()
        let data = directory + "/data"
        let agent = try AgentProcess(arguments: [], directory: directory, dataDirectory: data)
        try await agent.waitForListening()
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        let lines = (0..<50).map { "[\"\(now + Int64($0))\",\"line \($0) \(String(repeating: "x", count: 100))\"]" }
        #expect(try await http(.POST, agent.baseURL + "/loki/api/v1/push",
                               body: "{\"streams\":[{\"stream\":{\"app\":\"cut\"},\"values\":[" + lines.joined(separator: ",") + "]}]}",
                               headers: [("Content-Type", "application/json")]).status == 204)
        let trace = TraceID(high: 9, low: 9)
        #expect(try await otlp(agent.baseURL, Self.deeplyNested(trace: trace, depth: 2, now: now / 1_000_000)).status == 200)
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)

        var truncated = 0
        let enumerator = FileManager.default.enumerator(atPath: data)
        while let name = enumerator?.nextObject() as? String {
            guard name.hasSuffix(".seg") || name.hasSuffix(".trs") || name.hasSuffix(".tseg") else { continue }
            let path = data + "/" + name
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
            #expect(truncate(path, off_t(size * 2 / 3)) == 0)
            truncated += 1
        }
        #expect(truncated > 0, "no segment was written at shutdown")

        for _ in 0..<2 {
            let restarted = try AgentProcess(arguments: [], directory: directory, dataDirectory: data)
            try await restarted.waitForListening()
            #expect(try await http(.GET, restarted.baseURL + "/loki/api/v1/query_range?query=\(percent("{app=\"cut\"}"))").status == 200)
            #expect(try await http(.GET, restarted.baseURL + "/api/search?q=%7B%7D").status == 200)
            restarted.signal(SIGTERM)
            #expect(try await restarted.waitForExit() == 0)
        }
    }

    /// A fresh tmpfs of `megabytes` on a new temporary directory (root only).
    static func mountTmpfs(megabytes: Int) async throws -> String {
        let mountPoint = AgentProcess.temporaryDirectory()
        try #require(try await runProcess("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", mountPoint]).status == 0)
        return mountPoint
    }

    /// A data directory on a read-only file system (here a tmpfs remounted read-only after a first
    /// run wrote to it) stops the daemon at startup with the reason, instead of serving without
    /// storage. Needs root for the mount; skipped elsewhere.
    @Test(.enabled(if: getuid() == 0, "needs root to mount a tmpfs"))
    func aReadOnlyDataDirectoryIsAClearStartupError() async throws {
        let mountPoint = try await Self.mountTmpfs(megabytes: 64)
        defer { _ = try? FileManager.default.removeItem(atPath: mountPoint) }
        let directory = AgentProcess.temporaryDirectory()
        let first = try AgentProcess(arguments: [], directory: directory, dataDirectory: mountPoint + "/data")
        try await first.waitForListening()
        first.signal(SIGTERM)
        #expect(try await first.waitForExit() == 0)
        #expect(try await runProcess("/bin/mount", ["-o", "remount,ro", mountPoint]).status == 0)
        let second = try AgentProcess(arguments: [], directory: directory, dataDirectory: mountPoint + "/data")
        let status = try await second.waitForExit()
        _ = try await runProcess("/bin/umount", [mountPoint])
        #expect(status == 1)
        #expect(second.log.contains("Read-only file system"), "\(second.log)")
    }

    /// A full disk under the daemon: remote write, Loki push and OTLP answer 5xx for what they cannot
    /// keep, every write acknowledged before is queryable, and writes succeed again once space
    /// returns, without a restart; after one, everything acknowledged is still there. Needs root for
    /// the tmpfs.
    @Test(.enabled(if: getuid() == 0, "needs root to mount a tmpfs"))
    func aFullDiskRefusesWritesAndRecovers() async throws {
        let mountPoint = try await Self.mountTmpfs(megabytes: 48)
        defer { _ = try? FileManager.default.removeItem(atPath: mountPoint) }
        let directory = AgentProcess.temporaryDirectory()
        let agent = try AgentProcess(arguments: [], directory: directory, dataDirectory: mountPoint + "/data")
        try await agent.waitForListening()
        let base = agent.baseURL
        var stats = statvfs()
        statvfs(mountPoint, &stats)
        let filler = mountPoint + "/filler"
        FileManager.default.createFile(atPath: filler, contents: Data(count: Int(stats.f_bavail) * Int(stats.f_frsize) - 300_000))

        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var samples = 0, lines = 0, spans = 0
        var refused: Set<Int> = []
        for batch in 0..<600 {
            let series = (0..<100).map { WriteSeries(labels: [("__name__", "full"), ("b", "\(batch)"), ("s", "\($0)"), ("pad", String(repeating: "p", count: 40))],
                                                     samples: [(now, 1)]) }
            let write = try await remoteWrite(base, series)
            if write.status == 204 { samples += 100 } else { refused.insert(write.status) }
            let values = (0..<20).map { "[\"\((now * 1_000_000) + Int64(batch * 20 + $0))\",\"line \(batch) \($0) \(String(repeating: "l", count: 60))\"]" }
            let push = try await http(.POST, base + "/loki/api/v1/push", body: "{\"streams\":[{\"stream\":{\"app\":\"full\"},\"values\":[" + values.joined(separator: ",") + "]}]}",
                                      headers: [("Content-Type", "application/json")])
            if push.status == 204 { lines += 20 } else { refused.insert(push.status) }
            let trace = TraceID(high: 77, low: UInt64(batch + 1))
            let export = try await otlp(base, Self.deeplyNested(trace: trace, depth: 1, now: now))
            if export.status == 200 { spans += 1 } else { refused.insert(export.status) }
            if !refused.isEmpty && batch % 50 == 49 { break }
        }
        #expect(!refused.isEmpty && refused.allSatisfy { $0 >= 500 }, "the disk filled and writes were refused with 5xx: \(refused)")

        func counts(_ base: String) async throws -> (Int, Int) {
            let metric = try await http(.GET, base + "/api/v1/query?query=count(full)&time=\(now / 1000 + 1)")
            let logs = try await http(.GET, base + "/loki/api/v1/query?query=\(percent("sum(count_over_time({app=\"full\"}[1h]))"))&time=\(now / 1000 + 3000)")
            func value(_ body: String) -> Int {
                guard let range = body.range(of: #"\[[0-9.e+]+,"([0-9]+)"\]"#, options: .regularExpression) else { return 0 }
                return Int(body[range].split(separator: "\"")[1]) ?? 0
            }
            return (value(metric.body), value(logs.body))
        }
        var (storedSamples, storedLines) = try await counts(base)
        #expect(storedSamples == samples, "acknowledged samples")
        #expect(storedLines == lines, "acknowledged lines")

        // Space comes back: writes succeed again without a restart.
        try FileManager.default.removeItem(atPath: filler)
        #expect(try await remoteWrite(base, [WriteSeries(labels: [("__name__", "full"), ("b", "after")], samples: [(now, 1)])]).status == 204)
        samples += 1
        #expect(try await http(.POST, base + "/loki/api/v1/push", body: "{\"streams\":[{\"stream\":{\"app\":\"full\"},\"values\":[[\"\(now * 1_000_000 + 999_999)\",\"after\"]]}]}",
                                headers: [("Content-Type", "application/json")]).status == 204)
        lines += 1
        #expect(try await otlp(base, Self.deeplyNested(trace: TraceID(high: 78, low: 1), depth: 1, now: now)).status == 200)

        agent.signal(SIGKILL)
        _ = try await agent.waitForExit()
        let again = try AgentProcess(arguments: [], directory: directory, dataDirectory: mountPoint + "/data")
        try await again.waitForListening()
        (storedSamples, storedLines) = try await counts(again.baseURL)
        #expect(storedSamples == samples, "acknowledged samples after kill -9")
        #expect(storedLines == lines, "acknowledged lines after kill -9")
        for batch in [0, spans - 1] where spans > 0 {
            #expect(try await http(.GET, again.baseURL + "/api/v2/traces/\(TraceID(high: 77, low: UInt64(batch + 1)).hex)").status == 200)
        }
        again.signal(SIGTERM)
        _ = try await again.waitForExit()
        _ = try await runProcess("/bin/umount", [mountPoint])
    }

    /// Raw abuse of the listener: malformed requests get a 400 or 431 at once; clients that trickle
    /// or idle are closed after the read timeout; hundreds of them cannot keep the daemon from
    /// answering once they are let go.
    @Test func theListenerClosesWhatItCannotServe() async throws {
        let agent = try AgentProcess(arguments: ["--web.read-timeout=3s"])
        try await agent.waitForListening()
        let port = UInt16(agent.port)
        let malformed: [(String, [UInt8], Int)] = [
            ("garbage", Array("\u{0}\u{1}garbage\r\n\r\n".utf8), 400),
            ("HTTP/2 preface", Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8), 400),
            ("negative length", Array("POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".utf8), 400),
            ("length and chunked", Array("POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".utf8), 400),
            ("huge head", Array(("GET /-/ready HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 100_000) + "\r\n\r\n").utf8), 431),
        ]
        for (name, request, status) in malformed {
            let socket = try RawSocket(port: port)
            socket.send(request)
            let reply = socket.receiveAll(timeout: 5)
            #expect(reply.hasPrefix("HTTP/1.1 \(status)"), "\(name): \(reply.prefix(80))")
        }

        // 500 clients that never finish a request head: the daemon keeps answering while they hang
        // on, and closes each once the read timeout passes.
        var trickling: [RawSocket] = []
        for _ in 0..<500 {
            let socket = try RawSocket(port: port)
            socket.send(Array("GET /-/ready HTTP/1.1\r\nHost: x\r\n".utf8))
            trickling.append(socket)
        }
        #expect(try await http(.GET, agent.baseURL + "/-/ready").status == 200, "ready while 500 clients trickle")
        let started = ContinuousClock.now
        var closed = 0
        for socket in trickling where socket.receiveAll(timeout: 10).isEmpty && socket.sawClose { closed += 1 }
        #expect(closed == 500, "every trickling client is closed by the read timeout")
        #expect(ContinuousClock.now - started < .seconds(15))

        // Past the connection cap, new connections wait for a place instead of being served at once.
        let capped = try AgentProcess(arguments: ["--web.read-timeout=2s", "--web.max-connections=20"])
        try await capped.waitForListening()
        var held: [RawSocket] = []
        for _ in 0..<40 {
            let socket = try RawSocket(port: UInt16(capped.port))
            socket.send(Array("GET /-/ready HTTP/1.1\r\nHost: x\r\n".utf8))
            held.append(socket)
        }
        let waited = ContinuousClock.now
        // A new connection (the shared test client would reuse the one it opened while waiting).
        let ready = try await runProcess("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20", capped.baseURL + "/-/ready"])
        #expect(ready.output == "200")
        #expect(ContinuousClock.now - waited > .seconds(1), "the request waited for the held connections to time out")
        capped.signal(SIGTERM)
        _ = try await capped.waitForExit()
        #expect(try await http(.GET, agent.baseURL + "/-/ready").status == 200)
        agent.signal(SIGTERM)
        #expect(try await agent.waitForExit() == 0)
    }
}

/// A blocking TCP client for byte-level abuse.
final class RawSocket {
    let fd: Int32
    private(set) var sawClose = false

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw TestFailure("connect failed: errno \(errno)") }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { return }
            offset += sent
        }
    }

    /// Everything the server sends until it closes or `timeout` seconds pass.
    func receiveAll(timeout: Int) -> String {
        var waited = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &waited, socklen_t(MemoryLayout<timeval>.size))
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count == 0 { sawClose = true; break }
            if count < 0 {
                if errno == ECONNRESET { sawClose = true }
                break
            }
            data += buffer[0..<count]
        }
        return String(decoding: data, as: UTF8.self)
    }
}
