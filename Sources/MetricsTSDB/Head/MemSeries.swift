import ObsCore
import Synchronization

/// One series in the head: its labels, closed chunks and the open chunk being appended to.
/// Thread-safe: every access goes through its lock, held only for the few instructions of an
/// append or a snapshot.
final class MemSeries: Sendable {
    let ref: SeriesRef
    let labels: Labels
    private let state = Mutex(State())
    /// Set once the series record is in the WAL, so later commits need not log it again.
    let logged = Atomic<Bool>(false)

    struct ClosedChunk: Sendable {
        var bytes: [UInt8]
        var minTime: Int64
        var maxTime: Int64
    }

    struct State: Sendable {
        var closed: [ClosedChunk] = []
        var open = XORAppender()
        var lastTime: Int64 = .min
        var lastValueBits: UInt64 = 0
        var sampleCount = 0
    }

    init(ref: SeriesRef, labels: Labels) {
        self.ref = ref
        self.labels = labels
    }

    /// Whether `timestamp`/`value` may be appended: after the last sample, or equal to it with the
    /// identical value (a harmless re-send).
    enum Verdict { case append, duplicateOK, outOfOrder, duplicateConflict }

    func check(timestamp: Int64, value: Double) -> Verdict {
        state.withLock { Self.verdict($0, timestamp, value) }
    }

    static func verdict(_ state: State, _ timestamp: Int64, _ value: Double) -> Verdict {
        if timestamp > state.lastTime { return .append }
        if timestamp < state.lastTime { return .outOfOrder }
        return value.bitPattern == state.lastValueBits ? .duplicateOK : .duplicateConflict
    }

    /// Appends if still in order (another writer may have raced ahead); returns whether it did.
    @discardableResult
    func append(timestamp: Int64, value: Double) -> Bool {
        state.withLock { state in
            guard Self.verdict(state, timestamp, value) == .append else { return false }
            if state.open.isFull {
                state.closed.append(ClosedChunk(bytes: state.open.bytes, minTime: state.open.minTime,
                                                maxTime: state.open.maxTime))
                state.open = XORAppender()
            }
            state.open.append(timestamp: timestamp, value: value)
            state.lastTime = timestamp
            state.lastValueBits = value.bitPattern
            state.sampleCount += 1
            return true
        }
    }

    /// The chunks overlapping `[minTime, maxTime]`, copied out so readers never hold the lock.
    func chunks(minTime: Int64, maxTime: Int64) -> [[UInt8]] {
        state.withLock { state in
            var result: [[UInt8]] = []
            for chunk in state.closed where chunk.maxTime >= minTime && chunk.minTime <= maxTime {
                result.append(chunk.bytes)
            }
            if state.open.count > 0 && state.open.maxTime >= minTime && state.open.minTime <= maxTime {
                result.append(state.open.bytes)
            }
            return result
        }
    }

    var lastTime: Int64 { state.withLock { $0.lastTime } }
}
