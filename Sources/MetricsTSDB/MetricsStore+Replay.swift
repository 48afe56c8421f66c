import Dispatch
import ObsCore

/// WAL replay helpers: samples are applied grouped by series, one run per series under one lock.
extension MetricsStore {
    /// Samples gathered before replay applies them (24 bytes each).
    static let replayGroupSize = 1 << 18

    /// `samples` reordered so each series' samples are contiguous, keeping their order within a
    /// series (a stable counting sort on the dense references).
    static func groupedBySeries(_ samples: [WALSample]) -> [WALSample] {
        guard let largest = samples.lazy.map(\.ref).max(), largest < UInt64(samples.count) * 16 + (1 << 20) else {
            return samples.enumerated().sorted { ($0.element.ref, $0.offset) < ($1.element.ref, $1.offset) }.map(\.element)
        }
        var starts = [Int](repeating: 0, count: Int(largest) + 2)
        for sample in samples { starts[Int(sample.ref) + 1] += 1 }
        for index in 1..<starts.count { starts[index] += starts[index - 1] }
        return [WALSample](unsafeUninitializedCapacity: samples.count) { buffer, count in
            for sample in samples {
                let position = starts[Int(sample.ref)]
                (buffer.baseAddress! + position).initialize(to: sample)
                starts[Int(sample.ref)] = position + 1
            }
            count = samples.count
        }
    }

    /// Applies one group of samples (one shard of it, when split across threads).
    static func replay(_ batch: [WALSample], shard: Int, of shards: Int, table: RefTable, floor: Int64?,
                               minValid: Int64) -> (count: Int, oldest: Int64, newest: Int64, unknown: Int) {
        // Raw buffer access: slicing the shared array would bump its reference count once per run,
        // from every shard's thread at once.
        batch.withUnsafeBufferPointer { samples in
            var count = 0, unknown = 0
            var newest = Int64.min, oldest = Int64.max
            var start = 0
            while start < samples.count {
                let ref = samples[start].ref
                var end = start + 1
                // Samples of one series come in runs, appended under one lock.
                while end < samples.count && samples[end].ref == ref { end += 1 }
                defer { start = end }
                guard shards == 1 || Int(ref % UInt64(shards)) == shard else { continue }
                guard let series = table[ref] else {
                    unknown += end - start
                    continue
                }
                let taken = series.append(run: UnsafeBufferPointer(rebasing: samples[start..<end]),
                                          minValid: minValid, outOfOrderFloor: floor)
                count += taken.count
                newest = max(newest, taken.newest)
                oldest = min(oldest, taken.oldest)
            }
            return (count, oldest, newest, unknown)
        }
    }
}
