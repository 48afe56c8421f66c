import ObsCore

/// Output formatting shared by subcommands: aligned tables for people, JSON for scripts.
enum Render {
    /// One record: `key  value` lines, or a JSON object with the keys in the given order.
    static func record(_ fields: [(String, Any)], format: OutputFormat) -> String {
        switch format {
        case .table, .chart:
            let width = fields.map(\.0.count).max() ?? 0
            return fields.map { key, value in
                key.padded(to: width) + "  " + text(value)
            }.joined(separator: "\n")
        case .json:
            let members = fields.map { key, value in "\(quote(key)):\(json(value))" }
            return "{" + members.joined(separator: ",") + "}"
        }
    }

    /// Rows under a header, columns padded to their widest cell.
    static func table(header: [String], rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padded(to: widths[index])
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    static func text(_ value: Any) -> String {
        switch value {
        case let flag as Bool: flag ? "yes" : "no"
        default: "\(value)"
        }
    }

    static func json(_ value: Any) -> String {
        switch value {
        case let flag as Bool: flag ? "true" : "false"
        case let number as Int: String(number)
        case let number as Double: number.isFinite ? "\(number)" : quote("\(number)")
        case let string as String: quote(string)
        default: quote("\(value)")
        }
    }

    static func quote(_ value: String) -> String { JSONText.quote(value) }
}

extension Render {
    /// A duration for people: 850µs, 12.3ms, 1.52s, 2m3s.
    static func duration(nanoseconds: UInt64) -> String {
        let value = Double(nanoseconds)
        switch nanoseconds {
        case ..<1_000: return "\(nanoseconds)ns"
        case ..<1_000_000: return CFormat.double("%.0fµs", value / 1e3)
        case ..<1_000_000_000: return CFormat.double("%.1fms", value / 1e6)
        case ..<60_000_000_000: return CFormat.double("%.2fs", value / 1e9)
        default:
            let seconds = nanoseconds / 1_000_000_000
            return "\(seconds / 60)m\(seconds % 60)s"
        }
    }
}

extension String {
    /// Padded with spaces (or cut) to `width` characters, for table columns.
    func padded(to width: Int) -> String {
        count >= width ? String(prefix(width)) : self + String(repeating: " ", count: width - count)
    }
}
