import ObsCore

/// Matcher evaluation shared by the head index and block indexes: matchers that reject the empty
/// string need their label, so their postings are looked up and intersected; matchers that accept it
/// are checked against each candidate's labels.
enum PostingsSelection {
    /// `values(name)` gives each value of a label with a handle to its postings; `resolve` turns the
    /// handles of the values a matcher accepts into one sorted list.
    static func select<ID: BinaryInteger, Handle>(
        _ matchers: [LabelMatcher],
        all: () throws -> [ID],
        values: (String) -> [String: Handle]?,
        resolve: ([Handle]) throws -> [ID],
        labels: (ID) throws -> Labels?
    ) rethrows -> [ID] {
        let indexed = matchers.filter { !$0.matchesEmpty }
        let filters = matchers.filter { $0.matchesEmpty }
        var candidates: [ID]
        if indexed.isEmpty {
            candidates = try all()
        } else {
            var lists: [[ID]] = []
            for matcher in indexed {
                guard let byValue = values(matcher.name) else { return [] }
                let matching: [Handle]
                if let exact = matcher.exactValues {
                    matching = exact.compactMap { byValue[$0] }
                } else {
                    matching = byValue.compactMap { matcher.matches($0.key) ? $0.value : nil }
                }
                lists.append(try resolve(matching))
            }
            lists.sort { $0.count < $1.count }
            candidates = lists[0]
            for list in lists.dropFirst() where !candidates.isEmpty {
                candidates = intersect(candidates, list)
            }
        }
        guard !filters.isEmpty else { return candidates }
        return try candidates.filter { id in
            guard let labels = try labels(id) else { return false }
            return filters.allSatisfy { $0.matches(labels[$0.name] ?? "") }
        }
    }

    static func union<ID: BinaryInteger>(_ lists: [[ID]]) -> [ID] {
        if lists.count == 1 { return lists[0] }
        return Array(Set(lists.joined())).sorted()
    }

    static func intersect<ID: BinaryInteger>(_ a: [ID], _ b: [ID]) -> [ID] {
        var result: [ID] = []
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
