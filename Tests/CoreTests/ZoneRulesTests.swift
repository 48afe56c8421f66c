import Glibc
import ObsCore
import Testing

/// Zone offsets from the system's zoneinfo files, civil dates, and the POSIX rules that govern
/// instants after a file's last transition.
@Suite struct ZoneRulesTests {
    /// (zone, UTC instant, expected offset in seconds east of UTC, why)
    static let offsets: [(String, String, Int32, String)] = [
        ("Europe/Berlin", "2027-01-15T12:00:00Z", 3600, "winter, from the footer rule"),
        ("Europe/Berlin", "2027-07-15T12:00:00Z", 7200, "summer"),
        ("Europe/Berlin", "2027-03-28T00:59:59Z", 3600, "a second before the switch"),
        ("Europe/Berlin", "2027-03-28T01:00:00Z", 7200, "the switch, 02:00 local standard time"),
        ("Europe/Berlin", "2027-10-31T00:59:59Z", 7200, "a second before the switch back"),
        ("Europe/Berlin", "2027-10-31T01:00:00Z", 3600, "03:00 local summer time"),
        ("Europe/Berlin", "1990-07-01T00:00:00Z", 7200, "a transition in the file"),
        ("America/New_York", "2030-11-03T05:59:59Z", -14400, "EDT"),
        ("America/New_York", "2030-11-03T06:00:00Z", -18000, "EST from the first Sunday of November"),
        ("America/New_York", "1970-01-01T00:00:00Z", -18000, "the epoch"),
        ("Australia/Sydney", "2030-01-15T00:00:00Z", 39600, "southern summer"),
        ("Australia/Sydney", "2030-07-15T00:00:00Z", 36000, "southern winter"),
        ("Europe/Dublin", "2030-01-15T00:00:00Z", 0, "negative daylight saving: GMT in winter"),
        ("Europe/Dublin", "2030-07-15T00:00:00Z", 3600, "IST in summer"),
        ("Asia/Kolkata", "2035-06-01T00:00:00Z", 19800, "half an hour"),
        ("Pacific/Chatham", "2030-01-01T00:00:00Z", 49500, "a quarter of an hour, with daylight saving"),
        ("America/Sao_Paulo", "2030-01-15T00:00:00Z", -10800, "daylight saving abolished"),
        ("UTC", "2030-01-15T00:00:00Z", 0, "UTC needs no file"),
    ]

    @Test(arguments: offsets.indices)
    func offsetAtInstant(_ index: Int) throws {
        let (name, instant, expected, why) = Self.offsets[index]
        let zone = try #require(ZoneRules.named(name), "\(name) is in the system's zoneinfo")
        let seconds = try #require(TimeParsing.rfc3339(instant)) / 1000
        #expect(zone.offset(at: seconds) == expected, "\(name) at \(instant): \(why)")
    }

    @Test func unknownAndUnsafeNamesAreRefused() {
        #expect(ZoneRules.named("Mars/Olympus_Mons") == nil)
        #expect(ZoneRules.named("../../etc/passwd") == nil)
        #expect(ZoneRules.named("/etc/localtime") == nil)
    }

    @Test func localFollowsTZ() throws {
        let tokyo = try #require(ZoneRules.named("Local", environment: ["TZ": "Asia/Tokyo"]))
        #expect(tokyo.offset(at: 1_900_000_000) == 32400)
        #expect(ZoneRules.named("Local", environment: ["TZ": ""])?.offset(at: 0) == 0)
    }

    @Test func posixRules() throws {
        let eastern = try #require(PosixRuleProbe.offsets("EST5EDT,M3.2.0,M11.1.0"))
        #expect(eastern == (-18000, -14400))
        #expect(PosixRuleProbe.offsets("<+03>-3")! == (10800, 10800))
        #expect(PosixRuleProbe.offsets("<-02>2<-01>,M3.5.0/-1,M10.5.0/0")! == (-7200, -3600), "times before midnight")
        #expect(PosixRuleProbe.offsets("XXX-10YYY,J60/25,J300") != nil, "Julian days and hours past 24")
        for bad in ["", "UT", "EST", "EST5EDT,M13.1.0,M11.1.0", "EST5EDT,M3.2.0", "EST5EDT,M3.2.0,M11.1.0,extra", "<+03-3", "EST999"] {
            #expect(PosixRuleProbe.offsets(bad) == nil, "\(bad) is refused")
        }
    }

    /// Civil dates agree with the C library's for instants across four centuries.
    @Test func civilTimeMatchesGmtime() {
        var seconds: Int64 = -6_000_000_000
        while seconds < 7_000_000_000 {
            var raw = time_t(seconds)
            var parts = tm()
            gmtime_r(&raw, &parts)
            let civil = CivilTime(seconds: seconds)
            #expect(civil.year == Int64(parts.tm_year) + 1900 && civil.month == Int(parts.tm_mon) + 1 && civil.day == Int(parts.tm_mday)
                    && civil.hour == Int(parts.tm_hour) && civil.minute == Int(parts.tm_min) && civil.second == Int(parts.tm_sec)
                    && civil.weekday == Int(parts.tm_wday), "at \(seconds)")
            seconds += 86_399 * 37 + 12_345
        }
        #expect(CivilTime(seconds: 0).daysInMonth == 31 && CivilTime.daysInMonth(year: 2000, month: 2) == 29
                && CivilTime.daysInMonth(year: 2100, month: 2) == 28)
    }
}

/// A zone made of one POSIX rule, to read its winter (January) and summer (July) offsets.
enum PosixRuleProbe {
    static func offsets(_ rule: String) -> (Int32, Int32)? {
        guard let zone = ZoneRules.posix(rule) else { return nil }
        return (zone.offset(at: 1_894_000_000), zone.offset(at: 1_909_000_000))
    }
}
