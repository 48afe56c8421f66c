import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// A real obs-agent (or obsctl) binary run as a child process, for black-box tests. Binaries are found
/// next to the test bundle, in the build folder `swift build`/`swift test` writes.
final class AgentProcess: @unchecked Sendable {
    let process = Process()
    let logPath: String
    let directory: String
    private(set) var port = 0

    static var buildDirectory: String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // Swift Testing may run inside `<name>.xctest/`; step out to the build folder.
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("obs-agent").path) {
            url.deleteLastPathComponent()
        }
        return url.path
    }

    static func binary(_ name: String) -> String { buildDirectory + "/" + name }

    static func temporaryDirectory() -> String {
        var template = Array("/tmp/obs-agent-it-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    /// Starts the agent with `arguments` plus a private data dir and an ephemeral loopback port.
    /// How it was started, so that it can be started again on the same data.
    private let launch: (arguments: [String], dataDirectory: String?, environment: [String: String])

    init(arguments: [String], directory: String? = nil, dataDirectory: String? = nil, environment: [String: String] = [:]) throws {
        launch = (arguments, dataDirectory, environment)
        self.directory = directory ?? Self.temporaryDirectory()
        logPath = self.directory + "/agent-\(UUID().uuidString.prefix(8)).log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: Self.binary("obs-agent"))
        process.arguments = [
            "--storage.path=\(dataDirectory ?? self.directory + "/data")",
            "--web.listen-address=127.0.0.1:0",
        ] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: self.directory)
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Kills the agent with SIGKILL (a crash) and starts it again as it was started, on the same
    /// data; returns once the new one is ready.
    func crashAndRestart() async throws -> AgentProcess {
        signal(SIGKILL)
        _ = try await waitForExit()
        let next = try AgentProcess(arguments: launch.arguments, directory: directory, dataDirectory: launch.dataDirectory,
                                    environment: launch.environment)
        try await next.waitForListening()
        return next
    }

    /// For listeners found by other means than `waitForListening` (TLS).
    func setPort(_ port: Int) { self.port = port }

    var pid: Int32 { process.processIdentifier }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Waits for the "Listening" log line, reads the bound port from it, then waits until `/-/ready`
    /// answers 200 (storage open), so tests can write at once.
    func waitForListening(timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            // The "Listening" line, in logfmt or JSON.
            let pattern = #"(msg=Listening address=|"msg":"Listening","address":")127\.0\.0\.1:\d+"#
            if port == 0, let range = log.range(of: pattern, options: .regularExpression) {
                port = Int(log[range].split(separator: ":").last!)!
            }
            if port != 0, let ready = try? await http(.GET, baseURL + "/-/ready"), ready.status == 200 {
                return
            }
            if !process.isRunning { throw TestFailure("agent exited early (status \(process.terminationStatus)):\n\(log)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("agent did not become ready:\n\(log)")
    }

    /// Waits for the process to exit and returns its status.
    func waitForExit(timeout: Duration = .seconds(20)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                kill(pid, SIGKILL)
                throw TestFailure("process did not exit in time:\n\(log)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    /// Waits until `condition` holds on the log.
    func waitForLog(_ condition: (String) -> Bool, timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition(log) {
            guard ContinuousClock.now < deadline else { throw TestFailure("log never matched:\n\(log)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func signal(_ number: Int32) { kill(pid, number) }

    deinit {
        if process.isRunning { kill(pid, SIGKILL) }
    }
}

/// Starts a peer binary (Prometheus, Alertmanager, vmalert) with its output discarded.
func startPeer(_ executable: String, _ arguments: [String]) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
}

/// Writes a Python helper to `path`, behind `WebhookRecorder.pythonPreamble`, and starts it.
func startPython(_ source: String, at path: String) throws -> Process {
    try (WebhookRecorder.pythonPreamble + "\n" + source).write(toFile: path, atomically: true, encoding: .utf8)
    return try startPeer("/usr/bin/python3", [path])
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A plain HTTP exchange with the agent.
struct HTTPReply {
    var status: Int
    var headers: [(String, String)]
    var body: String

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
    }
}

/// Fails at once on a refused connection (the daemon under test may have just been killed) instead of
/// retrying until the deadline.
let testClient: HTTPClient = {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool.retryConnectionEstablishment = false
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}()

func http(_ method: HTTPMethod = .GET, _ url: String, body: String? = nil, headers: [(String, String)] = []) async throws -> HTTPReply {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let body { request.body = .bytes(ByteBuffer(string: body)) }
    let response = try await testClient.execute(request, timeout: .seconds(10))
    let bytes = try await response.body.collect(upTo: 16 << 20)
    return HTTPReply(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                     body: String(buffer: bytes))
}

/// Percent-encodes everything but letters and digits, for query parameters.
func percent(_ text: String) -> String {
    text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
}

/// Runs a binary to completion and returns its exit status and combined output.
func runTool(_ name: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
    try await runProcess(AgentProcess.binary(name), arguments)
}

/// Runs the executable at `path` to completion and returns its exit status and combined output.
func runProcess(_ path: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
