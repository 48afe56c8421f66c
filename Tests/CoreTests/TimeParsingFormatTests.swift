import ObsCore
import Testing

@Suite struct TimeFormattingTests {
    @Test(arguments: [
        (0.0, "1970-01-01T00:00:00Z"),
        (1_764_441_600.5, "2025-11-29T18:40:00.5Z"),
        (951_782_400.0, "2000-02-29T00:00:00Z"),
        (-1.0, "1969-12-31T23:59:59Z"),
    ])
    func formatsAndParsesBack(_ seconds: Double, _ text: String) {
        #expect(TimeParsing.rfc3339String(seconds: seconds) == text)
        #expect(TimeParsing.rfc3339(text) == Int64(seconds * 1000))
    }
}
