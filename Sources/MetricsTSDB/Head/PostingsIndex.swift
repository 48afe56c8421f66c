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

    /// References of series matching every matcher, sorted.
    func select(_ matchers: [LabelMatcher]) -> [SeriesRef] {
        // Matchers that reject the empty string need the label and can use postings; the others are
        // checked against each candidate's labels.
        let indexed = matchers.filter { !$0.matchesEmpty }
        let filters = matchers.filter { $0.matchesEmpty }
        var candidates: [SeriesRef]
        if indexed.isEmpty {
            candidates = series.keys.sorted()
        } else {
            var lists = indexed.map(postings(for:))
            lists.sort { $0.count < $1.count }
            candidates = lists[0]
            for list in lists.dropFirst() {
                if candidates.isEmpty { break }
                candidates = Self.intersect(candidates, list)
            }
        }
        guard !filters.isEmpty else { return candidates }
        return candidates.filter { ref in
            guard let labels = series[ref]?.labels else { return false }
            return filters.allSatisfy { $0.matches(labels[$0.name] ?? "") }
        }
    }

    /// Union of the postings of every value of the matcher's label that the matcher accepts.
    private func postings(for matcher: LabelMatcher) -> [SeriesRef] {
        guard let values = postings[matcher.name] else { return [] }
        var lists: [[SeriesRef]] = []
        if let exact = matcher.exactValues {
            lists = exact.compactMap { values[$0] }
        } else {
            lists = values.compactMap { matcher.matches($0.key) ? $0.value : nil }
        }
        if lists.count == 1 { return lists[0] }
        return Array(Set(lists.joined())).sorted()
    }

    static func intersect(_ a: [SeriesRef], _ b: [SeriesRef]) -> [SeriesRef] {
        var result: [SeriesRef] = []
        var i = 0, j = 0
        while i < a.count && j < b.count {
            if a[i] == b[j] {
                result.append(a[i])
                i += 1
                j += 1
            } else if a[i] < b[j] {
                i += 1
            } else {
                j += 1
            }
        }
        return result
    }
}
