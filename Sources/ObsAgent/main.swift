import ObsctlCommands

// One binary serves as both: called as `obsctl` (a link to it, as in the image), it is the client.
if CommandLine.arguments.first?.split(separator: "/").last == "obsctl" {
    await runCommand(Obsctl.self)
} else {
    await runCommand(ObsAgentCommand.self)
}
