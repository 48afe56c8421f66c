import Alertmanager
import ArgumentParser
import ObsCore

/// `obsctl silence`: amtool's silence commands against the embedded Alertmanager.
struct SilenceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "silence", abstract: "Add, list and expire Alertmanager silences.",
        subcommands: [SilenceAddCommand.self, SilenceListCommand.self, SilenceExpireCommand.self])
}

struct SilenceAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Silence alerts matching every matcher, e.g. alertname=Disk 'instance=~\"db.*\"'.")

    @ParentCommand var root: Obsctl
    var options: GlobalOptions { root.options }

    @Argument(help: "Matchers: name=value, name!=value, name=~regex, name!~regex (quotes optional).")
    var matchers: [String]

    @Option(name: [.short, .long], help: "How long the silence lasts, from its start (e.g. 2h, 30m, 1d).")
    var duration = "1h"

    @Option(name: .long, help: "When it starts, RFC 3339 (default: now).")
    var start: String?

    @Option(name: [.short, .long], help: "Why (required, as in amtool).")
    var comment: String

    @Option(name: [.short, .long], help: "Who (default: $USER).")
    var author = ProcessInfo.processInfo.environment["USER"] ?? "obsctl"

    func run() async throws {
        var parsed: [Silence.Matcher] = []
        for text in matchers {
            do {
                for matcher in try MatcherSyntax.parseList(text) { parsed.append(Silence.Matcher(matcher)) }
            } catch {
                printError("\(error)")
                throw ExitCode(1)
            }
        }
        guard !parsed.isEmpty else {
            printError("at least one matcher is required")
            throw ExitCode(1)
        }
        guard let length = PrometheusDuration(duration), length.milliseconds > 0 else {
            printError("--duration: \"\(duration)\" is not a positive duration such as 2h")
            throw ExitCode(1)
        }
        var startsAt = WallClock.milliseconds() * 1_000_000
        if let start {
            guard let parsedStart = AlertTime.parse(start) else {
                printError("--start: \"\(start)\" is not an RFC 3339 time")
                throw ExitCode(1)
            }
            startsAt = parsedStart
        }
        let endsAt = startsAt + length.milliseconds * 1_000_000
        let matcherJSON = parsed.map { m in
            "{\"name\":\(JSONText.quote(m.name)),\"value\":\(JSONText.quote(m.value)),\"isRegex\":\(m.isRegex),\"isEqual\":\(m.isEqual)}"
        }.joined(separator: ",")
        let body = "{\"matchers\":[\(matcherJSON)],\"startsAt\":\"\(AlertTime.format(startsAt))\",\"endsAt\":\"\(AlertTime.format(endsAt))\","
            + "\"createdBy\":\(JSONText.quote(author)),\"comment\":\(JSONText.quote(comment))}"
        do {
            let answer = try await options.client().alertmanager(.POST, "/api/v2/silences", json: body) as? [String: Any]
            print(answer?["silenceID"] as? String ?? "")
        } catch let error as ObsctlError {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}

struct SilenceListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List active and pending silences (with --expired, the expired ones too), optionally filtered by matchers.")

    @ParentCommand var root: Obsctl
    var options: GlobalOptions { root.options }

    @Flag(name: .long, help: "Include expired silences.")
    var expired = false

    @Argument(help: "Only silences with these matchers.")
    var matchers: [String] = []

    func run() async throws {
        do {
            let path = AgentClient.path("/api/v2/silences", matchers.map { ("filter", $0) })
            let silences = try await options.client().alertmanager(.GET, matchers.isEmpty ? "/api/v2/silences" : path) as? [[String: Any]] ?? []
            let shown = silences.filter { expired || (($0["status"] as? [String: Any])?["state"] as? String) != "expired" }
            if options.output == .json {
                print(Render.json(shown))
                return
            }
            let rows = shown.map { silence -> [String] in
                let matchers = (silence["matchers"] as? [[String: Any]] ?? []).map { m -> String in
                    let op = switch (m["isRegex"] as? Bool ?? false, m["isEqual"] as? Bool ?? true) {
                    case (false, true): "="
                    case (false, false): "!="
                    case (true, true): "=~"
                    case (true, false): "!~"
                    }
                    return "\(m["name"] as? String ?? "")\(op)\(Render.quote(m["value"] as? String ?? ""))"
                }.joined(separator: " ")
                return [silence["id"] as? String ?? "", matchers, (silence["status"] as? [String: Any])?["state"] as? String ?? "",
                        silence["endsAt"] as? String ?? "", silence["createdBy"] as? String ?? "", silence["comment"] as? String ?? ""]
            }
            print(rows.isEmpty ? "(no silences)" : Render.table(header: ["ID", "MATCHERS", "STATE", "ENDS AT", "CREATED BY", "COMMENT"], rows: rows))
        } catch let error as ObsctlError {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}

struct SilenceExpireCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "expire", abstract: "End silences now.")

    @ParentCommand var root: Obsctl
    var options: GlobalOptions { root.options }

    @Argument(help: "Silence IDs.")
    var ids: [String]

    func run() async throws {
        var failed = false
        for id in ids {
            do {
                _ = try await options.client().alertmanager(.DELETE, "/api/v2/silence/\(id)")
            } catch let error as ObsctlError {
                printError("\(id): \(error.description)")
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}
