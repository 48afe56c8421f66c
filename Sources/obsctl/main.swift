import ObsctlCommands

await runCommand(Obsctl.self)
