/// Durations in Prometheus's notation (`1h30m`, `15s`, `500ms`, `2w`, `0`): whole numbers with the units
/// y, w, d, h, m, s, ms in that order, each at most once. Stored as milliseconds.
public struct PrometheusDuration: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public static func seconds(_ seconds: Int64) -> Self { Self(milliseconds: seconds * 1000) }

    public var seconds: Double { Double(milliseconds) / 1000 }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.milliseconds < rhs.milliseconds }

    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("y", 365 * 24 * 3_600_000), ("w", 7 * 24 * 3_600_000), ("d", 24 * 3_600_000),
        ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1),
    ]

    /// Parses Prometheus's duration syntax; `nil` if `text` is not one.
    public init?(_ text: String) {
        if text == "0" { self.init(milliseconds: 0); return }
        var bytes = Substring(text).utf8[...]
        guard !bytes.isEmpty else { return nil }
        var total: Int64 = 0
        var nextUnit = 0
        while !bytes.isEmpty {
            var number: Int64 = 0
            var digits = 0
            while let byte = bytes.first, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                let (times, overflow1) = number.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
                guard !overflow1, !overflow2 else { return nil }
                number = sum
                digits += 1
                bytes = bytes.dropFirst()
            }
            guard digits > 0 else { return nil }
            // "ms" must be tried before "m".
            let candidates = Self.units.indices.filter { $0 >= nextUnit }.sorted {
                Self.units[$0].suffix.count > Self.units[$1].suffix.count
            }
            guard let unit = candidates.first(where: { bytes.starts(with: Self.units[$0].suffix.utf8) }) else {
                return nil
            }
            bytes = bytes.dropFirst(Self.units[unit].suffix.utf8.count)
            let (scaled, overflow3) = number.multipliedReportingOverflow(by: Self.units[unit].milliseconds)
            let (sum, overflow4) = total.addingReportingOverflow(scaled)
            guard !overflow3, !overflow4 else { return nil }
            total = sum
            nextUnit = unit + 1
        }
        self.init(milliseconds: total)
    }

    /// Prometheus's canonical form: largest units first, zero parts left out, `0s` for zero.
    public var description: String {
        if milliseconds == 0 { return "0s" }
        var rest = milliseconds
        var out = rest < 0 ? "-" : ""
        rest = abs(rest)
        for (suffix, size) in Self.units where rest >= size {
            // Prometheus prints years and weeks only when they divide evenly.
            if (suffix == "y" || suffix == "w") && rest % size != 0 { continue }
            out += "\(rest / size)\(suffix)"
            rest %= size
        }
        return out
    }
}

/// A size in bytes, written with the binary units Prometheus flags and configs take
/// (`512MB` = 512 MiB, `1GiB`, `64KB`, `100B`, or a bare number of bytes).
public struct ByteSize: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var bytes: Int64

    public init(bytes: Int64) { self.bytes = bytes }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.bytes < rhs.bytes }

    private static let units: [(suffixes: [String], size: Int64)] = [
        (["EB", "EiB"], 1 << 60), (["PB", "PiB"], 1 << 50), (["TB", "TiB"], 1 << 40),
        (["GB", "GiB"], 1 << 30), (["MB", "MiB"], 1 << 20), (["KB", "KiB"], 1 << 10), (["B"], 1),
    ]

    public init?(_ text: String) {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let number = Int64(digits) else { return nil }
        let suffix = text.dropFirst(digits.count)
        if suffix.isEmpty { self.init(bytes: number); return }
        guard let unit = Self.units.first(where: { $0.suffixes.contains(String(suffix)) }) else { return nil }
        let (scaled, overflow) = number.multipliedReportingOverflow(by: unit.size)
        guard !overflow else { return nil }
        self.init(bytes: scaled)
    }

    public var description: String {
        for unit in Self.units where bytes != 0 && bytes % unit.size == 0 {
            return "\(bytes / unit.size)\(unit.suffixes[0])"
        }
        return "\(bytes)B"
    }
}
