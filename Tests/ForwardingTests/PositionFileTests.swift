import Foundation
@testable import Forwarding
import ObsCore
import Testing

/// Positions saved in place: a new file says "none yet", a saved one reads back, a file written
/// the old way is taken over, and one that is no position says so (so the reader starts from the
/// oldest data it has instead of skipping any).
struct PositionFileTests {
    func directory() -> String {
        let path = NSTemporaryDirectory() + "position-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func aNewFileHoldsNoPositionThenWhatWasSaved() throws {
        let path = directory() + "/queue.position"
        let file = try PositionFile(path: path)
        #expect(file.read() == .none)
        #expect(FileIO.fileSize(path) == PositionFile.slot)
        try file.write(WALPosition(segment: 12, offset: 345_678))
        try file.write(WALPosition(segment: 3, offset: 9))
        #expect(file.read() == .position(WALPosition(segment: 3, offset: 9)))
        #expect(try PositionFile(path: path).read() == .position(WALPosition(segment: 3, offset: 9)))
        #expect(FileIO.fileSize(path) == PositionFile.slot)
    }

    @Test func aFileWrittenTheOldWayIsTakenOver() throws {
        let path = directory() + "/queue.position"
        try "7:4096".write(toFile: path, atomically: true, encoding: .utf8)
        let file = try PositionFile(path: path)
        #expect(file.read() == .position(WALPosition(segment: 7, offset: 4096)))
        #expect(FileIO.fileSize(path) == PositionFile.slot)
    }

    @Test(arguments: ["7:", "x:1", "-1:5", "\u{FFFD}garbage", String(repeating: "9", count: 1 << 20)])
    func textThatIsNoPositionStaysUnreadable(_ text: String) throws {
        let path = directory() + "/queue.position"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try PositionFile(path: path).read() == .unreadable)
        #expect(try PositionFile(path: path).read() == .unreadable)
    }
}
