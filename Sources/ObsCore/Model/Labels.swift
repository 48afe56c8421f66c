/// One label: a name and its value.
public struct Label: Hashable, Sendable, Comparable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }

    public static func < (lhs: Label, rhs: Label) -> Bool {
        lhs.name != rhs.name ? lhs.name < rhs.name : lhs.value < rhs.value
    }
}

/// A label set: unique names, sorted by name, empty values left out (Prometheus treats an empty
/// value as an absent label). This is the identity of a series. Immutable value type.
public struct Labels: Hashable, Sendable, Comparable, RandomAccessCollection, CustomStringConvertible {
    public static let metricName = "__name__"

    public private(set) var pairs: [Label]

    /// Sorts `pairs` and drops empty values. If a name repeats, the last occurrence wins.
    public init(_ pairs: [Label]) {
        var sorted = pairs.filter { !$0.value.isEmpty }
        sorted.sort { $0.name < $1.name }
        var unique: [Label] = []
        unique.reserveCapacity(sorted.count)
        for label in sorted {
            if let last = unique.last, last.name == label.name {
                unique[unique.count - 1] = label
            } else {
                unique.append(label)
            }
        }
        self.pairs = unique
    }

    public init(_ dictionary: [String: String]) {
        self.init(dictionary.map { Label($0.key, $0.value) })
    }

    /// Wraps pairs the caller guarantees are sorted by name, unique and non-empty.
    public init(sortedUnchecked pairs: [Label]) {
        self.pairs = pairs
    }

    public static let empty = Labels(sortedUnchecked: [])

    public var startIndex: Int { pairs.startIndex }
    public var endIndex: Int { pairs.endIndex }
    public subscript(position: Int) -> Label { pairs[position] }

    /// The value of `name`, or `nil` if absent.
    public subscript(name: String) -> String? {
        // Label sets are small; a linear scan beats binary search below a few dozen labels.
        for label in pairs where label.name == name { return label.value }
        return nil
    }

    public var metricName: String? { self[Labels.metricName] }

    /// A copy without `names`.
    public func removing(_ names: Set<String>) -> Labels {
        Labels(sortedUnchecked: pairs.filter { !names.contains($0.name) })
    }

    /// A copy with `name` set to `value` (removed if `value` is empty).
    public func setting(_ name: String, to value: String) -> Labels {
        var copy = pairs.filter { $0.name != name }
        if !value.isEmpty {
            let index = copy.firstIndex { $0.name > name } ?? copy.endIndex
            copy.insert(Label(name, value), at: index)
        }
        return Labels(sortedUnchecked: copy)
    }

    /// Orders label sets as Prometheus does: label by label, names first, then values; a set that is a
    /// prefix of another sorts first.
    public static func < (lhs: Labels, rhs: Labels) -> Bool {
        for (l, r) in zip(lhs.pairs, rhs.pairs) {
            if l.name != r.name { return l.name < r.name }
            if l.value != r.value { return l.value < r.value }
        }
        return lhs.pairs.count < rhs.pairs.count
    }

    /// A 64-bit FNV-1a hash of names and values, stable across runs and platforms (unlike `hashValue`),
    /// for striping and on-disk lookups.
    public var stableHash: UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        @inline(__always) func mix(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        for label in pairs {
            for byte in label.name.utf8 { mix(byte) }
            mix(0xFF)
            for byte in label.value.utf8 { mix(byte) }
            mix(0xFF)
        }
        return hash
    }

    /// `{__name__="up", job="x"}` rendered the PromQL way: `up{job="x"}`.
    public var description: String {
        var out = metricName ?? ""
        let rest = pairs.filter { $0.name != Labels.metricName }
        if rest.isEmpty && !out.isEmpty { return out }
        out += "{"
        out += rest.map { "\($0.name)=\(JSONText.quote($0.value))" }.joined(separator: ", ")
        return out + "}"
    }
}
