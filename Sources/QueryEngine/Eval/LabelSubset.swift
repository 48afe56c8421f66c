import ObsCore

/// The labels that identify a match group or aggregation group: only some names (`on`, `by`), or all
/// but some (`ignoring`, `without`, which also leave out the metric name). Groups are found by a
/// 64-bit hash of those labels, checked against the labels themselves, so forming them allocates
/// nothing per series.
struct LabelSubset {
    let names: [String]
    let only: Bool

    static func on(_ names: [String]) -> LabelSubset { LabelSubset(names: names, only: true) }
    static func ignoring(_ names: [String]) -> LabelSubset { LabelSubset(names: names, only: false) }

    @inline(__always) func keeps(_ name: String) -> Bool {
        only ? names.contains(name) : (name != Labels.metricName && !names.contains(name))
    }

    func hash(_ labels: Labels) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for label in labels.pairs where keeps(label.name) {
            for byte in label.name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            hash = (hash ^ 0xFF) &* 0x0000_0100_0000_01b3
            for byte in label.value.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            hash = (hash ^ 0xFE) &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    func equal(_ a: Labels, _ b: Labels) -> Bool {
        var i = 0, j = 0
        while true {
            while i < a.count, !keeps(a[i].name) { i += 1 }
            while j < b.count, !keeps(b[j].name) { j += 1 }
            if i == a.count || j == b.count { return i == a.count && j == b.count }
            if a[i] != b[j] { return false }
            i += 1
            j += 1
        }
    }

    func extract(_ labels: Labels) -> Labels {
        Labels(sortedUnchecked: labels.pairs.filter { keeps($0.name) })
    }
}

/// Groups series by a label subset in order of first appearance: `groups[g]` lists member indices.
struct SubsetGroups {
    let subset: LabelSubset
    private var buckets: [UInt64: [Int]] = [:]
    private(set) var representatives: [Labels] = []
    private(set) var members: [[Int]] = []

    init(_ subset: LabelSubset) { self.subset = subset }

    /// The group of `labels`, created when new.
    @discardableResult
    mutating func add(_ labels: Labels, member: Int) -> Int {
        let hash = subset.hash(labels)
        if let candidates = buckets[hash] {
            for g in candidates where subset.equal(representatives[g], labels) {
                members[g].append(member)
                return g
            }
        }
        let g = representatives.count
        representatives.append(labels)
        members.append([member])
        buckets[hash, default: []].append(g)
        return g
    }

    /// The group `labels` belongs to, if any.
    func find(_ labels: Labels) -> Int? {
        guard let candidates = buckets[subset.hash(labels)] else { return nil }
        return candidates.first { subset.equal(representatives[$0], labels) }
    }

    var count: Int { representatives.count }
}
