/// Builds Prometheus text-format (0.0.4) output: `# HELP`/`# TYPE` headers and samples, with label
/// values and help text escaped as the format requires.
public struct ExpositionWriter: Sendable {
    public private(set) var output = ""

    public init() {}

    public mutating func header(name: String, help: String, type: String) {
        output += "# HELP \(name) "
        for character in help {
            switch character {
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            default: output.append(character)
            }
        }
        output += "\n# TYPE \(name) \(type)\n"
    }

    public mutating func sample(name: String, labelNames: [String] = [], labelValues: [String] = [], value: Double) {
        output += name
        if !labelNames.isEmpty {
            output += "{"
            for (index, labelName) in labelNames.enumerated() {
                if index > 0 { output += "," }
                output += labelName
                output += "=\""
                for character in labelValues[index] {
                    switch character {
                    case "\\": output += "\\\\"
                    case "\"": output += "\\\""
                    case "\n": output += "\\n"
                    default: output.append(character)
                    }
                }
                output += "\""
            }
            output += "}"
        }
        output += " "
        output += Self.format(value)
        output += "\n"
    }

    /// Formats a sample value the way Prometheus clients do: integers without a fraction, `+Inf`,
    /// `-Inf`, `NaN`, otherwise the shortest representation that reads back exactly.
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
