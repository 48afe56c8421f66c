/// Folds samples straight into the steps whose windows hold them, for the range aggregations
/// that need only counts, sums, extremes and the first and last value: memory per series is one
/// slot per step instead of one per line. Used when a sample falls into few windows (at most
/// `LogQLOptions.maxWindowsPerSample`); other cases keep the samples and slide windows.
struct StepAccumulator: Sendable {
    let operation: RangeAggregation.Operation
    var counts: [Int]
    var sums: [Double] = []
    var extremes: [Double] = []
    var edgeTimes: [Int64] = []
    var edgeValues: [Double] = []

    static func supports(_ operation: RangeAggregation.Operation) -> Bool {
        switch operation {
        case .countOverTime, .rate, .bytesOverTime, .bytesRate, .absentOverTime, .sumOverTime, .avgOverTime,
             .maxOverTime, .minOverTime, .firstOverTime, .lastOverTime:
            true
        case .stdvarOverTime, .stddevOverTime, .quantileOverTime, .rateCounter:
            false
        }
    }

    init(operation: RangeAggregation.Operation, steps: Int) {
        self.operation = operation
        counts = [Int](repeating: 0, count: steps)
        switch operation {
        case .rate, .bytesOverTime, .bytesRate, .sumOverTime, .avgOverTime:
            sums = [Double](repeating: 0, count: steps)
        case .maxOverTime:
            extremes = [Double](repeating: -.infinity, count: steps)
        case .minOverTime:
            extremes = [Double](repeating: .infinity, count: steps)
        case .firstOverTime, .lastOverTime:
            edgeTimes = [Int64](repeating: 0, count: steps)
            edgeValues = [Double](repeating: 0, count: steps)
        default:
            break
        }
    }

    /// The steps `k` with `t_k - offset - range < timestamp <= t_k - offset`.
    @inline(__always)
    static func steps(of timestamp: Int64, grid: StepGrid, range: Int64, offset: Int64) -> ClosedRange<Int>? {
        let from = timestamp + offset - grid.start
        let to = from + range - 1
        guard to >= 0 else { return nil }
        let first = from <= 0 ? 0 : (from + grid.step - 1) / grid.step
        let last = min(to / grid.step, Int64(grid.count - 1))
        guard first <= last else { return nil }
        return Int(first)...Int(last)
    }

    mutating func add(_ samples: ExtractedSamples, grid: StepGrid, range: Int64, offset: Int64) {
        let hasValues = !samples.values.isEmpty
        for index in samples.timestamps.indices {
            let timestamp = samples.timestamps[index]
            guard let steps = Self.steps(of: timestamp, grid: grid, range: range, offset: offset) else { continue }
            let value = hasValues ? samples.values[index] : 1
            for step in steps {
                let seen = counts[step]
                counts[step] = seen + 1
                switch operation {
                case .rate, .bytesOverTime, .bytesRate, .sumOverTime, .avgOverTime:
                    if hasValues { sums[step] += value }
                case .maxOverTime:
                    if !value.isNaN && value > extremes[step] { extremes[step] = value }
                case .minOverTime:
                    if !value.isNaN && value < extremes[step] { extremes[step] = value }
                case .firstOverTime:
                    if seen == 0 || timestamp < edgeTimes[step] {
                        edgeTimes[step] = timestamp
                        edgeValues[step] = value
                    }
                case .lastOverTime:
                    if seen == 0 || timestamp >= edgeTimes[step] {
                        edgeTimes[step] = timestamp
                        edgeValues[step] = value
                    }
                default:
                    break
                }
            }
        }
    }

    mutating func merge(_ other: StepAccumulator) {
        for step in counts.indices where other.counts[step] > 0 {
            let mine = counts[step]
            counts[step] += other.counts[step]
            if !sums.isEmpty { sums[step] += other.sums[step] }
            if operation == .maxOverTime { extremes[step] = max(extremes[step], other.extremes[step]) }
            if operation == .minOverTime { extremes[step] = min(extremes[step], other.extremes[step]) }
            if !edgeTimes.isEmpty {
                let earlier = other.edgeTimes[step] < edgeTimes[step]
                if mine == 0 || (operation == .firstOverTime ? earlier : !earlier) {
                    edgeTimes[step] = other.edgeTimes[step]
                    edgeValues[step] = other.edgeValues[step]
                }
            }
        }
    }

    /// The operation's value per step; nil where the window held nothing. `rangeSeconds` turns
    /// totals into per-second rates. Rates of unwrapped values sum them; of lines, count them.
    func values(rangeSeconds: Double, unwrapped: Bool) -> [Double?] {
        counts.indices.map { step -> Double? in
            let count = counts[step]
            guard count > 0 else { return nil }
            switch operation {
            case .countOverTime: return Double(count)
            case .rate: return (unwrapped ? sums[step] : Double(count)) / rangeSeconds
            case .bytesRate: return sums[step] / rangeSeconds
            case .bytesOverTime, .sumOverTime: return sums[step]
            case .avgOverTime: return sums[step] / Double(count)
            case .maxOverTime, .minOverTime:
                // Still the starting value: every sample was NaN.
                let start: Double = operation == .maxOverTime ? -.infinity : .infinity
                return extremes[step] == start ? .nan : extremes[step]
            case .firstOverTime, .lastOverTime: return edgeValues[step]
            case .absentOverTime, .stdvarOverTime, .stddevOverTime, .quantileOverTime, .rateCounter: return nil
            }
        }
    }
}
