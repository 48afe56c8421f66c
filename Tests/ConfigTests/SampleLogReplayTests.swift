@testable import ObsAgent
import Testing

/// The sample pod logs replayed for the embedded default: CRI lines read, re-timed and written back
/// in the kubelet's format.
struct SampleLogReplayTests {
    @Test func linesAreReTimedInCRIFormat() throws {
        #expect(SampleLogReplay.parse("2025-06-01T08:00:00.000000001Z stdout F GET /api 200") ==
                SampleLogReplay.Entry(stream: "stdout", tag: "F", message: "GET /api 200"))
        #expect(SampleLogReplay.parse("2025-06-01T08:00:01Z stderr P upstream timed out")?.tag == "P")
        #expect(SampleLogReplay.parse("not a CRI line") == nil)
        let file = SampleLogReplay.File(path: "shop_web_uid/web/0.log", entries: [
            .init(stream: "stdout", tag: "F", message: "one"), .init(stream: "stderr", tag: "F", message: "two"),
        ])
        // Spread over the span, the last at `now`.
        #expect(SampleLogReplay.backfill(file, endingAt: 1_780_000_000_000, span: 600_000) ==
                "2026-05-28T20:21:40Z stdout F one\n2026-05-28T20:26:40Z stderr F two\n")
        #expect(SampleLogReplay.line(file.entries[0], at: 1_780_000_000_250) == "2026-05-28T20:26:40.25Z stdout F one\n")
    }
}
