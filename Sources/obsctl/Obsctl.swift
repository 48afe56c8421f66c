import ArgumentParser

/// `obsctl`: a command-line client for a running obs-agent, over its HTTP API.
@main
struct Obsctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "obsctl",
        abstract: "Query and inspect a running obs-agent.",
        version: "0.1.0",
        subcommands: [StatusCommand.self, QueryCommand.self, LogsCommand.self, TracesCommand.self, TargetsCommand.self])

    @OptionGroup var options: GlobalOptions
}

/// Options every subcommand shares: where the agent is and how to print.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Base URL of the agent (default: $OBSCTL_URL or http://127.0.0.1:9090).")
    var url: String?

    @Option(name: .long, help: "Output format: table, json, or chart (range queries).")
    var output: OutputFormat = .table

    @Option(name: .long, help: "Request timeout in seconds.")
    var timeout: Double = 30

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
