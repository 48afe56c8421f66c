import ObsCore
import Dispatch

/// Work over independent series spread across the cores. The evaluator runs a query on one thread;
/// decoding chunks and evaluating range functions series by series are where its time goes, and
/// neither depends on another series.
enum Parallel {
    static let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))

    /// `body(i)` for every `i` in `0..<count`, in order of `i` in the result. Below
    /// `minimumPerWorker` items per worker, or with one core, it runs on the calling thread.
    /// `body` must not touch state that another call of it touches.
    static func map<T>(_ count: Int, minimumPerWorker: Int = 8, _ body: (Int) -> T) -> [T] {
        let parallel = min(workers, count / max(1, minimumPerWorker))
        guard parallel > 1 else { return (0..<count).map(body) }
        return [T](unsafeUninitializedCapacity: count) { output, initialized in
            withoutActuallyEscaping(body) { body in
                let shared = Shared(body: body, output: output)
                DispatchQueue.concurrentPerform(iterations: parallel) { worker in
                    var index = worker
                    while index < count {
                        (shared.output.baseAddress! + index).initialize(to: shared.body(index))
                        index += parallel
                    }
                }
            }
            initialized = count
        }
    }

    /// Each output slot is written by exactly one worker; `body` is the caller's promise.
    private struct Shared<T>: @unchecked Sendable {
        let body: (Int) -> T
        let output: UnsafeMutableBufferPointer<T>
    }
}
