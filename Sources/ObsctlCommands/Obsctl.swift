import ArgumentParser
import ObsCore
import NIOCore
import NIOSSL

/// `obsctl`: a command-line client for a running obs-agent, over its HTTP API. A library, so the
/// daemon's binary can be `obsctl` too when called by that name (the image ships one binary).
public struct Obsctl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "obsctl",
        abstract: "Query and inspect a running obs-agent.",
        version: "0.1.0",
        subcommands: [StatusCommand.self, QueryCommand.self, LogsCommand.self, TracesCommand.self, TargetsCommand.self,
                      RulesCommand.self, AlertsCommand.self, SilenceCommand.self, TestCommand.self, CheckCommand.self])

    @OptionGroup var options: GlobalOptions

    public init() {}
}

/// Options every subcommand shares: where the agent is and how to print.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Base URL of the agent (default: $OBSCTL_URL or http://127.0.0.1:9090).")
    var url: String?

    @Option(name: .long, help: "Output format: table, json, or chart (range queries).")
    var output: OutputFormat = .table

    @Option(name: .long, help: "Request timeout in seconds.")
    var timeout: Double = 30

    @Option(name: .customLong("ca-file"), help: "CA certificate (PEM) to verify the agent's TLS certificate with.")
    var caFile: String?

    @Option(name: .customLong("cert-file"), help: "Client certificate (PEM), for agents that require one.")
    var certFile: String?

    @Option(name: .customLong("key-file"), help: "Key (PEM) of the client certificate.")
    var keyFile: String?

    @Flag(name: .customLong("insecure-skip-verify"), help: "Do not verify the agent's TLS certificate.")
    var insecureSkipVerify = false

    @Option(name: .long, help: "User name for basic authentication.")
    var username: String?

    @Option(name: .customLong("password-file"), help: "File holding the basic-authentication password ($OBSCTL_PASSWORD otherwise).")
    var passwordFile: String?

    @Option(name: .customLong("bearer-token-file"), help: "File holding a bearer token ($OBSCTL_BEARER_TOKEN otherwise).")
    var bearerTokenFile: String?

    /// The client these options describe.
    func client() throws -> AgentClient {
        var tls: TLSConfiguration?
        if baseURL.hasPrefix("https://") {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let caFile { configuration.trustRoots = .file(caFile) }
            if insecureSkipVerify { configuration.certificateVerification = .none }
            if let certFile, let keyFile {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certFile).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            }
            tls = configuration
        }
        var client = AgentClient(baseURL: baseURL, timeout: .milliseconds(Int64(timeout * 1000)), authorization: nil,
                                 http: AgentClient.httpClient(tls: tls))
        if let username {
            let password = try passwordFile.map(Self.secret) ?? environment("OBSCTL_PASSWORD") ?? ""
            client.authorization = "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
        } else if let token = try bearerTokenFile.map(Self.secret) ?? environment("OBSCTL_BEARER_TOKEN") {
            client.authorization = "Bearer " + token
        }
        return client
    }

    /// A secret file's contents without the trailing newline editors add.
    static func secret(_ path: String) throws -> String {
        do {
            return try FileIO.readText(path).trimming(while: \.isNewline)
        } catch {
            throw ValidationError("cannot read \(path): \(error)")
        }
    }

    var baseURL: String {
        let chosen = url ?? environment("OBSCTL_URL") ?? "http://127.0.0.1:9090"
        return chosen.hasSuffix("/") ? String(chosen.dropLast()) : chosen
    }

    func validate() throws {
        let chosen = baseURL
        guard chosen.hasPrefix("http://") || chosen.hasPrefix("https://") else {
            throw ValidationError("--url: \"\(chosen)\" must start with http:// or https://")
        }
        guard timeout > 0 else { throw ValidationError("--timeout must be greater than zero") }
        guard (certFile == nil) == (keyFile == nil) else { throw ValidationError("--cert-file and --key-file go together") }
        guard username == nil || bearerTokenFile == nil else { throw ValidationError("use either --username or --bearer-token-file") }
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, chart
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// Runs `command`'s asynchronous entry point. Top-level code in a `main.swift` would pick
/// ArgumentParser's synchronous `main()`, which refuses asynchronous commands.
public func runCommand<Command: AsyncParsableCommand>(_ command: Command.Type) async {
    await command.main()
}
