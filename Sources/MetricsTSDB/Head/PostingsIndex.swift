import ObsCore

/// Label name → value → sorted series references, plus the series by reference. Owned by `Head`,
/// which guards it with a lock; never copied out of it.
struct PostingsIndex {
    private(set) var series: [SeriesRef: MemSeries] = [:]
    private(set) var postings: [String: [String: [SeriesRef]]] = [:]

    mutating func add(_ memSeries: MemSeries) {
        series[memSeries.ref] = memSeries
        for label in memSeries.labels {
            // Mutated in place through the dictionaries: copying the list out and back would make
            // every new series cost as much as the largest list it joins.
            Self.insert(memSeries.ref, into: &postings[label.name, default: [:]][label.value, default: []])
        }
    }

    /// References grow over time, so appending usually keeps the list sorted; restores from the WAL
    /// can arrive out of order and take the slow path.
    private static func insert(_ ref: SeriesRef, into list: inout [SeriesRef]) {
        if let last = list.last, last > ref {
            list.insert(ref, at: list.firstIndex { $0 > ref } ?? list.endIndex)
        } else {
            list.append(ref)
        }
    }

    mutating func remove(_ memSeries: MemSeries) {
        series[memSeries.ref] = nil
        for label in memSeries.labels {
            guard var list = postings[label.name]?[label.value],
                  let position = list.firstIndex(of: memSeries.ref) else { continue }
            list.remove(at: position)
            if list.isEmpty {
                postings[label.name]![label.value] = nil
                if postings[label.name]!.isEmpty { postings[label.name] = nil }
            } else {
                postings[label.name]![label.value] = list
            }
        }
    }

    /// References of series matching every matcher, sorted.
    func select(_ matchers: [LabelMatcher]) -> [SeriesRef] {
        PostingsSelection.select(
            matchers, all: { series.keys.sorted() }, values: { postings[$0] }, resolve: PostingsSelection.union,
            labels: { series[$0]?.labels })
    }
}
