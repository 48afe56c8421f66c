import ObsCore
import ObsYAML

/// One entry of a named `time_intervals` list: the instants it contains are those where every field
/// given matches (any of its ranges), in the interval's `location` (UTC by default).
public struct TimeInterval: Sendable, Equatable {
    /// Minutes of the day, start inclusive, end exclusive.
    var times: [Range<Int>] = []
    /// 0 = Sunday … 6 = Saturday.
    var weekdays: [ClosedRange<Int>] = []
    /// Days of the month; negative counts from the month's end (-1 is the last day).
    var daysOfMonth: [(begin: Int, end: Int)] = []
    var months: [ClosedRange<Int>] = []
    var years: [ClosedRange<Int>] = []
    var location: String?
    /// The rules of `location`, read from the system's zoneinfo when the configuration is loaded.
    var zone = ZoneRules.utc

    public static func == (lhs: TimeInterval, rhs: TimeInterval) -> Bool {
        lhs.times == rhs.times && lhs.weekdays == rhs.weekdays && lhs.months == rhs.months && lhs.years == rhs.years
            && lhs.location == rhs.location && lhs.daysOfMonth.map(\.begin) == rhs.daysOfMonth.map(\.begin)
            && lhs.daysOfMonth.map(\.end) == rhs.daysOfMonth.map(\.end)
    }

    /// Whether the instant (Unix nanoseconds) lies in the interval.
    public func contains(_ nanoseconds: Int64) -> Bool {
        let seconds = nanoseconds >= 0 ? nanoseconds / 1_000_000_000 : (nanoseconds + 1) / 1_000_000_000 - 1
        let time = zone.civilTime(at: seconds)
        let (year, month, day, weekday) = (Int(time.year), time.month, time.day, time.weekday)
        let (hour, minute) = (time.hour, time.minute)
        if !times.isEmpty && !times.contains(where: { $0.contains(hour * 60 + minute) }) { return false }
        if !weekdays.isEmpty && !weekdays.contains(where: { $0.contains(weekday) }) { return false }
        if !daysOfMonth.isEmpty {
            let length = time.daysInMonth
            let matched = daysOfMonth.contains { range in
                let begin = range.begin < 0 ? length + range.begin + 1 : range.begin
                let end = range.end < 0 ? length + range.end + 1 : range.end
                guard begin <= length else { return false }
                return day >= max(begin, -length) && day <= min(end, length)
            }
            if !matched { return false }
        }
        if !months.isEmpty && !months.contains(where: { $0.contains(month) }) { return false }
        if !years.isEmpty && !years.contains(where: { $0.contains(year) }) { return false }
        return true
    }

    static let weekdayNames = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
    static let monthNames = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
                             "october", "november", "december"]

    init(yaml: YAMLValue) throws(ConfigError) {
        let map = try yaml.mapping(allowedKeys: ["times", "weekdays", "days_of_month", "months", "years", "location"])
        for entry in try map["times"]?.sequence() ?? [] {
            let t = try entry.mapping(allowedKeys: ["start_time", "end_time"])
            let start = try Self.minutes(t.require("start_time"), node: t.error(at: "start_time", ""))
            let end = try Self.minutes(t.require("end_time"), node: t.error(at: "end_time", ""))
            guard start < end else { throw entry.error("start time cannot be equal or greater than end time") }
            times.append(start..<end)
        }
        weekdays = try Self.ranges(map["weekdays"], names: Self.weekdayNames, base: 0, bounds: 0...6, what: "weekday")
        months = try Self.ranges(map["months"], names: Self.monthNames, base: 1, bounds: 1...12, what: "month")
        years = try Self.ranges(map["years"], names: [], base: 0, bounds: 0...9999, what: "year")
        for entry in try map["days_of_month"]?.sequence() ?? [] {
            let (begin, end) = try Self.pair(entry) { text throws(ConfigError) in
                guard let day = Int(text), day != 0, (-31...31).contains(day) else {
                    throw entry.error("\(text) is not a valid day of the month: out of range")
                }
                return day
            }
            guard (begin > 0) == (end > 0) ? begin <= end : begin > 0 else {
                throw entry.error("end day must be after start day")
            }
            daysOfMonth.append((begin, end))
        }
        if let name: String = try map.decode("location") {
            guard let rules = ZoneRules.named(name, environment: ProcessInfo.processInfo.environment) else {
                throw map.error(at: "location", "unknown time zone \(name)")
            }
            location = name
            zone = rules
        }
    }

    static func minutes(_ text: String, node: ConfigError) throws(ConfigError) -> Int {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[1].count == 2, let hours = Int(parts[0]), let minutes = Int(parts[1]),
              (0...24).contains(hours), (0...59).contains(minutes), hours * 60 + minutes <= 1440 else {
            var error = node
            error.message = "couldn't parse timestamp \(text), invalid format"
            throw error
        }
        return hours * 60 + minutes
    }

    static func pair(_ entry: YAMLValue, _ value: (String) throws(ConfigError) -> Int) throws(ConfigError) -> (Int, Int) {
        let text = try entry.scalar().lowercased()
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw entry.error("invalid range \(text)") }
        let begin = try value(String(parts[0]))
        return (begin, parts.count == 2 ? try value(String(parts[1])) : begin)
    }

    static func ranges(_ node: YAMLValue?, names: [String], base: Int, bounds: ClosedRange<Int>, what: String) throws(ConfigError) -> [ClosedRange<Int>] {
        var result: [ClosedRange<Int>] = []
        for entry in try node?.sequence() ?? [] {
            let (begin, end) = try pair(entry) { text throws(ConfigError) in
                if let index = names.firstIndex(of: text) { return index + base }
                guard let number = Int(text), bounds.contains(number), names.isEmpty || base == 1 else {
                    throw entry.error("\(text) is not a valid \(what)")
                }
                return number
            }
            guard begin <= end else { throw entry.error("start \(what) cannot be after end \(what)") }
            result.append(begin...end)
        }
        return result
    }
}
