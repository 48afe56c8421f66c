import Synchronization

/// A named time zone's offsets from UTC, read from the system's zoneinfo files (TZif, RFC 8536) as
/// Go's `time.LoadLocation` reads them, so `location: Europe/Berlin` in an Alertmanager time
/// interval means what it means to Alertmanager. Instants after the file's last transition follow
/// its POSIX TZ footer (`CET-1CEST,M3.5.0,M10.5.0/3`), which is all current "slim" files hold for
/// today's rules.
public struct ZoneRules: Sendable, Equatable {
    public let name: String
    /// Transition instants, Unix seconds, ascending, with the offset that starts at each.
    let transitions: [Int64]
    let offsets: [Int32]
    /// The offset before the first transition.
    let initialOffset: Int32
    let footer: PosixRule?

    public static let utc = ZoneRules(name: "UTC", transitions: [], offsets: [], initialOffset: 0, footer: nil)

    /// Where zoneinfo files are looked for, in Go's order.
    static let directories = ["/usr/share/zoneinfo/", "/usr/share/lib/zoneinfo/", "/usr/lib/locale/TZ/", "/etc/zoneinfo/"]

    /// The zone called `name`: `UTC` (or empty), `Local` (from `$TZ` or `/etc/localtime`, UTC when
    /// neither says), or an IANA name found in the zoneinfo directories. `nil` for an unknown name.
    public static func named(_ name: String, environment: [String: String] = [:]) -> ZoneRules? {
        if name.isEmpty || name == "UTC" { return .utc }
        if name == "Local" {
            if let tz = environment["TZ"] {
                let zone = tz.hasPrefix(":") ? String(tz.dropFirst()) : tz
                return zone.isEmpty ? .utc : named(zone, environment: [:]) ?? .utc
            }
            return (try? FileIO.readFile("/etc/localtime")).flatMap { $0 }.flatMap { parse($0, name: "Local") } ?? .utc
        }
        // As Go: no absolute paths and no climbing out of the zoneinfo directory.
        guard !name.hasPrefix("/"), !name.hasPrefix("\\"), !name.split(separator: "/").contains("..") else { return nil }
        if let cached = cache.withLock({ $0[name] }) { return cached }
        var rules: ZoneRules?
        for directory in directories {
            guard FileIO.fileSize(directory + name) <= 1 << 20,
                  let bytes = (try? FileIO.readFile(directory + name)).flatMap({ $0 }) else { continue }
            rules = parse(bytes, name: name)
            break
        }
        // Templates name zones per call; a few dozen distinct names is all a real setup has.
        cache.withLock { if $0.count < 256 { $0[name] = rules } }
        return rules
    }

    private static let cache = Mutex<[String: ZoneRules?]>([:])

    /// A zone that is one POSIX TZ rule (`EST5EDT,M3.2.0,M11.1.0`); `nil` if the rule is malformed.
    public static func posix(_ rule: String) -> ZoneRules? {
        PosixRule(rule).map { ZoneRules(name: rule, transitions: [], offsets: [], initialOffset: $0.standardOffset, footer: $0) }
    }

    /// The offset from UTC, in seconds, at the instant `seconds` after the epoch.
    public func offset(at seconds: Int64) -> Int32 {
        guard let last = transitions.last else { return footer?.offset(at: seconds) ?? initialOffset }
        if seconds >= last, let footer { return footer.offset(at: seconds) }
        // The last transition at or before the instant.
        var low = 0, high = transitions.count
        while low < high {
            let middle = (low + high) / 2
            if transitions[middle] <= seconds { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? initialOffset : offsets[low - 1]
    }

    /// The civil time at `seconds` after the epoch in this zone.
    public func civilTime(at seconds: Int64) -> CivilTime {
        CivilTime(seconds: seconds, offset: offset(at: seconds))
    }

    /// Reads a TZif file, version 1 or the 64-bit data of versions 2 and later; `nil` if malformed.
    static func parse(_ bytes: [UInt8], name: String) -> ZoneRules? {
        var reader = TZifReader(bytes: bytes)
        guard let first = reader.header() else { return nil }
        var header = first
        var timeSize = 4
        if first.version >= 2 {
            guard reader.skip(first.dataLength(timeSize: 4)), let second = reader.header() else { return nil }
            header = second
            timeSize = 8
        }
        guard let transitions = reader.integers(header.timeCount, size: timeSize),
              let typeIndexes = reader.bytes(header.timeCount) else { return nil }
        var types: [Int32] = []
        for _ in 0..<header.typeCount {
            guard let offset = reader.integers(1, size: 4), reader.skip(2) else { return nil }
            types.append(Int32(truncatingIfNeeded: offset[0]))
        }
        guard !types.isEmpty, typeIndexes.allSatisfy({ Int($0) < types.count }),
              reader.skip(header.charCount + header.leapCount * (timeSize + 4) + header.stdCount + header.utcCount)
        else { return nil }
        var footer: PosixRule?
        if first.version >= 2, let text = reader.footer(), !text.isEmpty {
            guard let rule = PosixRule(text) else { return nil }
            footer = rule
        }
        guard zip(transitions, transitions.dropFirst()).allSatisfy({ $0 < $1 }) else { return nil }
        return ZoneRules(name: name, transitions: transitions, offsets: typeIndexes.map { types[Int($0)] },
                         initialOffset: types[0], footer: footer)
    }
}

/// The cursor over a TZif file's bytes.
private struct TZifReader {
    struct Header {
        var version: Int
        var utcCount = 0, stdCount = 0, leapCount = 0, timeCount = 0, typeCount = 0, charCount = 0

        func dataLength(timeSize: Int) -> Int {
            timeCount * (timeSize + 1) + typeCount * 6 + charCount + leapCount * (timeSize + 4) + stdCount + utcCount
        }
    }

    let bytes: [UInt8]
    var index = 0

    mutating func header() -> Header? {
        guard index + 44 <= bytes.count, bytes[index..<index + 4].elementsEqual("TZif".utf8) else { return nil }
        let versionByte = bytes[index + 4]
        var header = Header(version: versionByte == 0 ? 1 : Int(versionByte) - 0x30)
        index += 20
        guard let counts = integers(6, size: 4), counts.allSatisfy({ $0 >= 0 && $0 < 1 << 20 }) else { return nil }
        (header.utcCount, header.stdCount, header.leapCount) = (Int(counts[0]), Int(counts[1]), Int(counts[2]))
        (header.timeCount, header.typeCount, header.charCount) = (Int(counts[3]), Int(counts[4]), Int(counts[5]))
        return header
    }

    /// `count` big-endian signed integers of `size` bytes.
    mutating func integers(_ count: Int, size: Int) -> [Int64]? {
        guard count * size <= bytes.count - index else { return nil }
        var values: [Int64] = []
        values.reserveCapacity(count)
        for _ in 0..<count {
            var value: UInt64 = 0
            for byte in bytes[index..<index + size] { value = value << 8 | UInt64(byte) }
            values.append(size == 4 ? Int64(Int32(truncatingIfNeeded: value)) : Int64(bitPattern: value))
            index += size
        }
        return values
    }

    mutating func bytes(_ count: Int) -> [UInt8]? {
        guard count <= bytes.count - index else { return nil }
        defer { index += count }
        return Array(bytes[index..<index + count])
    }

    mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, count <= bytes.count - index else { return false }
        index += count
        return true
    }

    /// The text between the two line breaks that end a version 2+ file.
    mutating func footer() -> String? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\n"),
              let end = bytes[(index + 1)...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        return String(decoding: bytes[(index + 1)..<end], as: UTF8.self)
    }
}
