import ObsCore

/// Label name → value → sorted series references, plus the series by reference. Owned by `Head`,
/// which guards it with a lock; never copied out of it.
struct PostingsIndex {
    private(set) var series: [SeriesRef: MemSeries] = [:]
    private(set) var postings: [String: [String: [SeriesRef]]] = [:]

    mutating func add(_ memSeries: MemSeries) {
        series[memSeries.ref] = memSeries
        for label in memSeries.labels {
            // References grow over time, so appending usually keeps the list sorted; restores from the
            // WAL can arrive out of order and take the slow path.
            var list = postings[label.name, default: [:]][label.value, default: []]
            if let last = list.last, last > memSeries.ref {
                let position = list.firstIndex { $0 > memSeries.ref } ?? list.endIndex
                list.insert(memSeries.ref, at: position)
            } else {
                list.append(memSeries.ref)
            }
            postings[label.name, default: [:]][label.value] = list
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
