import ArgumentParser
import ObsCore

/// `obsctl targets`: what the agent scrapes and how the last scrape went.
struct TargetsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "targets", abstract: "List scrape targets with their health and last error.")

    @ParentCommand var root: Obsctl
    var options: GlobalOptions { root.options }

    @Option(name: .long, help: "Which targets: active, dropped or any.")
    var state: TargetState = .active

    @Option(name: .long, help: "Only targets of this scrape pool (job).")
    var pool: String?

    enum TargetState: String, ExpressibleByArgument, CaseIterable {
        case active, dropped, any
    }

    func run() async throws {
        let client = try options.client()
        var path = "/api/v1/targets?state=\(state.rawValue)"
        if let pool { path += "&scrapePool=" + URLQuery.escape(pool, spaceAsPlus: false) }
        do {
            let data = try await client.apiData(path) as? [String: Any] ?? [:]
            if options.output == .json {
                print(JSONDocument.pretty(data))
                return
            }
            print(Self.render(data, state: state))
        } catch let error as ObsctlError {
            printError(error.description)
            throw ExitCode(1)
        }
    }

    static func render(_ data: [String: Any], state: TargetState) -> String {
        var out: [String] = []
        if state != .dropped {
            let active = data["activeTargets"] as? [[String: Any]] ?? []
            let rows = active.map { target -> [String] in
                let labels = target["labels"] as? [String: String] ?? [:]
                let duration = JSONDocument.number(target["lastScrapeDuration"]) ?? 0
                return [target["scrapePool"] as? String ?? "", labels["instance"] ?? "", target["health"] as? String ?? "",
                        target["lastScrape"] as? String ?? "", CFormat.double("%.3fs", duration), target["lastError"] as? String ?? ""]
            }
            out.append(rows.isEmpty ? "(no active targets)"
                : Render.table(header: ["POOL", "INSTANCE", "HEALTH", "LAST SCRAPE", "DURATION", "ERROR"], rows: rows))
        }
        if state != .active {
            let dropped = data["droppedTargets"] as? [[String: Any]] ?? []
            let rows = dropped.map { target -> [String] in
                let labels = target["discoveredLabels"] as? [String: String] ?? [:]
                return [target["scrapePool"] as? String ?? "", labels["__address__"] ?? ""]
            }
            out.append(rows.isEmpty ? "(no dropped targets)" : Render.table(header: ["POOL", "DROPPED ADDRESS"], rows: rows))
        }
        return out.joined(separator: "\n\n")
    }
}
