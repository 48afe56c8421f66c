import ArgumentParser
import ObsCore
import NIOCore

/// `obsctl status`: the agent's build and readiness, and each forwarding queue's state.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the agent's version and whether it is ready.")

    @ParentCommand var root: Obsctl
    var options: GlobalOptions { root.options }

    func run() async throws {
        let client = try options.client()
        do {
            let ready = try await client.get("/-/ready")
            let healthy = try await client.get("/-/healthy")
            let build = try await client.apiData("/api/v1/status/buildinfo") as? [String: Any] ?? [:]
            let fields: [(String, Any)] = [
                ("url", options.baseURL),
                ("healthy", healthy.status == 200),
                ("ready", ready.status == 200),
                ("version", build["version"] as? String ?? ""),
                ("revision", build["revision"] as? String ?? ""),
                ("branch", build["branch"] as? String ?? ""),
                ("compiler", build["goVersion"] as? String ?? ""),
            ]
            print(Render.record(fields, format: options.output))
            let forwarding = try? await client.apiData("/api/v1/status/forwarding") as? [String: Any]
            let queues = forwarding?["remoteWrite"] as? [[String: Any]] ?? []
            if !queues.isEmpty {
                let rows = queues.map { queue -> [String] in
                    ["remote_write", queue["name"] as? String ?? "", queue["url"] as? String ?? "", "\(queue["pending"] ?? 0)",
                     "\(queue["sent"] ?? 0)", "\(queue["failed"] ?? 0)", "\(queue["lagSeconds"] ?? 0)", queue["lastError"] as? String ?? ""]
                }
                print("")
                print(Render.table(header: ["KIND", "NAME", "URL", "PENDING", "SENT", "FAILED", "LAG_S", "LAST_ERROR"], rows: rows))
            }
            if ready.status != 200 { throw ExitCode(2) }
        } catch let error as ObsctlError {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}

func printError(_ message: String) {
    let line = Array("obsctl: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
