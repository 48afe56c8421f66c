import ObsCore

/// Go's reference-time layouts (`2006-01-02T15:04:05Z07:00`) for the `date` and `toDate` template
/// functions. Times are nanoseconds since the epoch; formatting is in UTC.
public enum GoTime {
    enum Token: Equatable {
        case literal(String)
        case year4, year2, month, monthPadded, monthShort, monthLong, day, dayPadded, daySpacePadded
        case hour24, hour12, hour12Padded, minute, minutePadded, second, secondPadded
        case fraction(digits: Int, trimZeros: Bool), pm(upper: Bool), weekdayShort, weekdayLong
        case zoneName, zoneColon(z: Bool), zone(z: Bool)
    }

    static let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                         "November", "December"]
    static let weekdays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

    /// Splits a layout into its tokens, longest match first.
    static func tokens(_ layout: String) -> [Token] {
        let table: [(String, Token)] = [
            ("January", .monthLong), ("Monday", .weekdayLong), ("2006", .year4), ("Z07:00", .zoneColon(z: true)),
            ("-07:00", .zoneColon(z: false)), ("Z0700", .zone(z: true)), ("-0700", .zone(z: false)), ("Jan", .monthShort),
            ("Mon", .weekdayShort), ("MST", .zoneName), ("_2", .daySpacePadded), ("01", .monthPadded), ("02", .dayPadded),
            ("03", .hour12Padded), ("04", .minutePadded), ("05", .secondPadded), ("06", .year2), ("15", .hour24),
            ("PM", .pm(upper: true)), ("pm", .pm(upper: false)), ("1", .month), ("2", .day), ("3", .hour12), ("4", .minute),
            ("5", .second),
        ]
        var result: [Token] = []
        var rest = Substring(layout)
        var literal = ""
        outer: while !rest.isEmpty {
            // Fractional seconds: .000 or ,999 right after a seconds field.
            if let first = rest.first, first == "." || first == ",", let digit = rest.dropFirst().first, digit == "0" || digit == "9" {
                let run = rest.dropFirst().prefix { $0 == digit }
                if rest.dropFirst(run.count + 1).first?.isNumber != true {
                    if !literal.isEmpty { result.append(.literal(literal)); literal = "" }
                    result.append(.literal(String(first)))
                    result.append(.fraction(digits: run.count, trimZeros: digit == "9"))
                    rest = rest.dropFirst(run.count + 1)
                    continue
                }
            }
            for (text, token) in table where rest.hasPrefix(text) {
                if !literal.isEmpty { result.append(.literal(literal)); literal = "" }
                result.append(token)
                rest = rest.dropFirst(text.count)
                continue outer
            }
            literal.append(rest.removeFirst())
        }
        if !literal.isEmpty { result.append(.literal(literal)) }
        return result
    }

    public static func format(layout: String, nanoseconds: Int64) -> String {
        let seconds = Int64((Double(nanoseconds) / 1e9).rounded(.down))
        let fraction = nanoseconds - seconds * 1_000_000_000
        let parts = CivilTime(seconds: seconds)
        func pad(_ value: Int, _ width: Int, _ fill: Character = "0") -> String {
            let text = String(value)
            return String(repeating: fill, count: max(0, width - text.count)) + text
        }
        var out = ""
        for token in tokens(layout) {
            switch token {
            case let .literal(text): out += text
            case .year4: out += pad(Int(parts.year), 4)
            case .year2: out += pad(Int(parts.year % 100), 2)
            case .month: out += String(parts.month)
            case .monthPadded: out += pad(parts.month, 2)
            case .monthShort: out += String(months[parts.month - 1].prefix(3))
            case .monthLong: out += months[parts.month - 1]
            case .day: out += String(parts.day)
            case .dayPadded: out += pad(parts.day, 2)
            case .daySpacePadded: out += pad(parts.day, 2, " ")
            case .hour24: out += pad(parts.hour, 2)
            case .hour12: out += String(parts.hour % 12 == 0 ? 12 : parts.hour % 12)
            case .hour12Padded: out += pad(parts.hour % 12 == 0 ? 12 : parts.hour % 12, 2)
            case .minute: out += String(parts.minute)
            case .minutePadded: out += pad(parts.minute, 2)
            case .second: out += String(parts.second)
            case .secondPadded: out += pad(parts.second, 2)
            case let .fraction(digits, trimZeros):
                var text = pad(Int(fraction), 9).prefix(digits)
                if trimZeros {
                    while text.last == "0" { text = text.dropLast() }
                    if text.isEmpty, out.last == "." || out.last == "," { out.removeLast() }
                }
                out += text
            case let .pm(upper): out += parts.hour >= 12 ? (upper ? "PM" : "pm") : (upper ? "AM" : "am")
            case .weekdayShort: out += String(weekdays[parts.weekday].prefix(3))
            case .weekdayLong: out += weekdays[parts.weekday]
            case .zoneName: out += "UTC"
            case let .zoneColon(z): out += z ? "Z" : "+00:00"
            case let .zone(z): out += z ? "Z" : "+0000"
            }
        }
        return out
    }

    /// Reads `text` laid out as `layout`; nanoseconds, or nil when it does not fit.
    public static func parse(layout: String, _ text: String, zone: String) -> Int64? {
        var rest = Substring(text)
        var year = 1, month = 1, day = 1, hour = 0, minute = 0, second = 0, nanos: Int64 = 0, offset = 0
        var pm: Bool?
        func number(_ maxDigits: Int, exact: Bool) -> Int? {
            let digits = rest.prefix(maxDigits).prefix { $0.isNumber }
            guard !digits.isEmpty, !exact || digits.count == maxDigits, let value = Int(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            return value
        }
        for token in tokens(layout) {
            switch token {
            case let .literal(literal):
                guard rest.hasPrefix(literal) else { return nil }
                rest = rest.dropFirst(literal.count)
            case .year4: guard let v = number(4, exact: true) else { return nil }; year = v
            case .year2: guard let v = number(2, exact: true) else { return nil }; year = v + (v >= 69 ? 1900 : 2000)
            case .month, .monthPadded: guard let v = number(2, exact: token == .monthPadded) else { return nil }; month = v
            case .monthShort, .monthLong:
                guard let index = months.firstIndex(where: { rest.hasPrefix(token == .monthShort ? String($0.prefix(3)) : $0) }) else { return nil }
                rest = rest.dropFirst(token == .monthShort ? 3 : months[index].count)
                month = index + 1
            case .day, .dayPadded, .daySpacePadded:
                if token == .daySpacePadded && rest.first == " " { rest = rest.dropFirst() }
                guard let v = number(2, exact: token == .dayPadded) else { return nil }
                day = v
            case .hour24, .hour12, .hour12Padded: guard let v = number(2, exact: token != .hour12) else { return nil }; hour = v
            case .minute, .minutePadded: guard let v = number(2, exact: token == .minutePadded) else { return nil }; minute = v
            case .second, .secondPadded: guard let v = number(2, exact: token == .secondPadded) else { return nil }; second = v
            case .fraction:
                let digits = rest.prefix { $0.isNumber }
                rest = rest.dropFirst(digits.count)
                nanos = Int64(String((digits + "000000000").prefix(9))) ?? 0
            case .pm:
                if rest.uppercased().hasPrefix("PM") { pm = true } else if rest.uppercased().hasPrefix("AM") { pm = false } else { return nil }
                rest = rest.dropFirst(2)
            case .weekdayShort, .weekdayLong:
                guard let name = weekdays.first(where: { rest.hasPrefix(token == .weekdayShort ? String($0.prefix(3)) : $0) }) else { return nil }
                rest = rest.dropFirst(token == .weekdayShort ? 3 : name.count)
            case .zoneName:
                let name = rest.prefix { $0.isLetter }
                rest = rest.dropFirst(name.count)
            case let .zoneColon(z), let .zone(z):
                if z && rest.first == "Z" {
                    rest = rest.dropFirst()
                    continue
                }
                guard let sign = rest.first, sign == "+" || sign == "-" else { return nil }
                rest = rest.dropFirst()
                guard let hours = number(2, exact: true) else { return nil }
                if case .zoneColon = token {
                    guard rest.first == ":" else { return nil }
                    rest = rest.dropFirst()
                }
                guard let minutes = number(2, exact: true) else { return nil }
                offset = (sign == "-" ? -1 : 1) * (hours * 3600 + minutes * 60)
            }
        }
        guard rest.isEmpty else { return nil }
        if let pm { hour = hour % 12 + (pm ? 12 : 0) }
        // Checked: a year far from now (9999) does not fit in nanoseconds.
        guard (1...12).contains(month), (1...CivilTime.daysInMonth(year: Int64(year), month: month)).contains(day),
              hour < 24, minute < 60, second < 60, abs(year) < 100_000 else { return nil }
        let rules = zone == "Local" ? ZoneRules.utc : ZoneRules.named(zone) ?? .utc
        let wall = CivilTime.days(year: Int64(year), month: Int64(month), day: Int64(day)) * 86_400
            + Int64(hour * 3600 + minute * 60 + second)
        // The zone's offset at the wall time read as UTC, then at the instant that gives.
        let seconds = wall - Int64(rules.offset(at: wall - Int64(rules.offset(at: wall))))
        guard abs(seconds) < 9_200_000_000 else { return nil }
        let (scaled, overflow) = (Int64(seconds) - Int64(offset)).multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return nil }
        return scaled.addingReportingOverflow(nanos).overflow ? nil : scaled + nanos
    }
}
