import ObsCore
import Testing

@Suite struct UnitsTests {
    @Test(arguments: [
        ("0", Int64(0)), ("15s", 15_000), ("1m", 60_000), ("1h30m", 5_400_000), ("500ms", 500),
        ("1d", 86_400_000), ("2w", 1_209_600_000), ("1y", 31_536_000_000), ("1m30s500ms", 90_500),
    ])
    func parsesDurations(text: String, milliseconds: Int64) {
        #expect(PrometheusDuration(text)?.milliseconds == milliseconds)
    }

    @Test(arguments: ["", "15", "1.5s", "s", "-1s", "1s1m", "1m1m", "15x", " 15s", "99999999999999999999s"])
    func rejectsInvalidDurations(text: String) {
        #expect(PrometheusDuration(text) == nil)
    }

    @Test(arguments: [("15s", "15s"), ("90s", "1m30s"), ("14d", "2w"), ("8d", "8d"), ("0", "0s"), ("1500ms", "1s500ms")])
    func formatsDurationsLikePrometheus(text: String, canonical: String) {
        #expect(PrometheusDuration(text)?.description == canonical)
    }

    @Test(arguments: [
        ("100", Int64(100)), ("100B", 100), ("64KB", 65_536), ("1KiB", 1024), ("512MB", 536_870_912),
        ("1GiB", 1_073_741_824), ("2TB", 2_199_023_255_552),
    ])
    func parsesSizes(text: String, bytes: Int64) {
        #expect(ByteSize(text)?.bytes == bytes)
    }

    @Test(arguments: ["", "MB", "1.5MB", "12XB", "-1MB", "10 MB"])
    func rejectsInvalidSizes(text: String) {
        #expect(ByteSize(text) == nil)
    }
}
