/// A POSIX TZ rule (`EST5EDT,M3.2.0,M11.1.0`, `<+03>-3`, `CET-1CEST,M3.5.0,M10.5.0/3`): a standard
/// offset and optionally a daylight offset with the yearly dates it starts and ends. TZif files end
/// with one; it governs every instant after their last transition.
struct PosixRule: Sendable, Equatable {
    enum Day: Sendable, Equatable {
        /// `Jn`: day 1…365 of the year, February 29 never counted.
        case julian(Int)
        /// `n`: day 0…365 of the year, February 29 counted.
        case zeroBased(Int)
        /// `Mm.w.d`: weekday `d` (0 = Sunday) of week `w` (5 = the last) of month `m`.
        case monthWeekDay(month: Int, week: Int, weekday: Int)
    }

    struct Daylight: Sendable, Equatable {
        var offset: Int32
        var start: Day, startTime: Int32
        var end: Day, endTime: Int32
    }

    /// Seconds east of UTC.
    let standardOffset: Int32
    let daylight: Daylight?

    init?(_ text: String) {
        var parser = Parser(bytes: Array(text.utf8))
        guard parser.name(), let standard = parser.time() else { return nil }
        standardOffset = -standard
        if parser.atEnd {
            daylight = nil
            return
        }
        guard parser.name() else { return nil }
        var offset = standardOffset + 3600
        if !parser.atEnd && !parser.at(",") {
            guard let given = parser.time() else { return nil }
            offset = -given
        }
        if parser.atEnd {
            // No dates: the United States' rules, as Go and glibc assume.
            daylight = Daylight(offset: offset, start: .monthWeekDay(month: 3, week: 2, weekday: 0), startTime: 7200,
                                end: .monthWeekDay(month: 11, week: 1, weekday: 0), endTime: 7200)
            return
        }
        guard parser.eat(",") else { return nil }
        guard let start = parser.day() else { return nil }
        let startTime = parser.eat("/") ? parser.time() : 7200
        guard let startTime, parser.eat(","), let end = parser.day() else { return nil }
        let endTime = parser.eat("/") ? parser.time() : 7200
        guard let endTime, parser.atEnd else { return nil }
        daylight = Daylight(offset: offset, start: start, startTime: startTime, end: end, endTime: endTime)
    }

    /// The offset in force at `seconds` after the epoch.
    func offset(at seconds: Int64) -> Int32 {
        guard let daylight else { return standardOffset }
        let year = CivilTime(seconds: seconds, offset: standardOffset).year
        // The start is given in standard time, the end in daylight time.
        let start = Self.days(daylight.start, year: year) * 86_400 + Int64(daylight.startTime) - Int64(standardOffset)
        let end = Self.days(daylight.end, year: year) * 86_400 + Int64(daylight.endTime) - Int64(daylight.offset)
        if start < end { return seconds >= start && seconds < end ? daylight.offset : standardOffset }
        return seconds >= end && seconds < start ? standardOffset : daylight.offset
    }

    /// Days since the epoch of `day` in `year`.
    static func days(_ day: Day, year: Int64) -> Int64 {
        let january1 = CivilTime.days(year: year, month: 1, day: 1)
        switch day {
        case .julian(let n):
            return january1 + Int64(n - 1) + (CivilTime.isLeapYear(year) && n >= 60 ? 1 : 0)
        case .zeroBased(let n):
            return january1 + Int64(n)
        case let .monthWeekDay(month, week, weekday):
            let first = CivilTime.days(year: year, month: Int64(month), day: 1)
            let firstWeekday = Int(((first % 7) + 11) % 7)
            var day = 1 + (weekday - firstWeekday + 7) % 7 + (week - 1) * 7
            let length = CivilTime.daysInMonth(year: year, month: month)
            while day > length { day -= 7 }
            return first + Int64(day - 1)
        }
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        var atEnd: Bool { index >= bytes.count }

        func at(_ character: Character) -> Bool {
            !atEnd && bytes[index] == character.asciiValue
        }

        mutating func eat(_ character: Character) -> Bool {
            guard !atEnd, bytes[index] == character.asciiValue else { return false }
            index += 1
            return true
        }

        /// A zone abbreviation: three or more letters, or anything in angle brackets.
        mutating func name() -> Bool {
            if eat("<") {
                guard let close = bytes[index...].firstIndex(of: UInt8(ascii: ">")), close > index else { return false }
                index = close + 1
                return true
            }
            let start = index
            while !atEnd, (bytes[index] | 0x20) >= UInt8(ascii: "a"), (bytes[index] | 0x20) <= UInt8(ascii: "z") { index += 1 }
            return index - start >= 3
        }

        /// `[+-]hh[:mm[:ss]]` in seconds (hours up to 167, as RFC 8536 allows for rule times).
        mutating func time() -> Int32? {
            var sign: Int32 = 1
            if eat("-") { sign = -1 } else { _ = eat("+") }
            guard let hours = number(maxDigits: 3), hours <= 167 else { return nil }
            var seconds = hours * 3600
            if eat(":") {
                guard let minutes = number(maxDigits: 2), minutes < 60 else { return nil }
                seconds += minutes * 60
                if eat(":") {
                    guard let secs = number(maxDigits: 2), secs < 60 else { return nil }
                    seconds += secs
                }
            }
            return sign * seconds
        }

        mutating func day() -> Day? {
            if eat("J") {
                guard let n = number(maxDigits: 3), (1...365).contains(n) else { return nil }
                return .julian(Int(n))
            }
            if eat("M") {
                guard let month = number(maxDigits: 2), (1...12).contains(month), eat("."),
                      let week = number(maxDigits: 1), (1...5).contains(week), eat("."),
                      let weekday = number(maxDigits: 1), weekday <= 6 else { return nil }
                return .monthWeekDay(month: Int(month), week: Int(week), weekday: Int(weekday))
            }
            guard let n = number(maxDigits: 3), n <= 365 else { return nil }
            return .zeroBased(Int(n))
        }

        mutating func number(maxDigits: Int) -> Int32? {
            var value: Int32 = 0
            var digits = 0
            while !atEnd, digits < maxDigits, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                value = value * 10 + Int32(bytes[index] - 0x30)
                index += 1
                digits += 1
            }
            return digits > 0 ? value : nil
        }
    }
}
