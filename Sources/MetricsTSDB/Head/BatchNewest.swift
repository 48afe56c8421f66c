import ObsCore

/// The newest sample of each series in an appender's batch, by reference: an open-addressing table
/// with a multiplicative hash. Remote write sends each series once or a few times per request, so
/// this takes a write per sample; a `Dictionary` paid SipHash and its resizing for each.
/// Single owner, value type.
struct BatchNewest {
    private var keys: [SeriesRef] = []
    private var values: [HeadAppender.Newest] = []
    private(set) var count = 0
    /// Reference 0 marks an empty slot; the store never hands it out, but a damaged WAL could.
    private var zero: HeadAppender.Newest?

    private static let empty: SeriesRef = 0

    subscript(ref: SeriesRef) -> HeadAppender.Newest? {
        get {
            if ref == Self.empty { return zero }
            guard !keys.isEmpty else { return nil }
            var slot = Self.slot(ref, keys.count)
            while keys[slot] != Self.empty {
                if keys[slot] == ref { return values[slot] }
                slot = (slot + 1) & (keys.count - 1)
            }
            return nil
        }
        set {
            // Only ever set, never removed one by one (`removeAll` empties the whole table).
            guard let newValue else { return }
            if ref == Self.empty {
                zero = newValue
                return
            }
            if (count + 1) * 4 > keys.count * 3 { grow() }
            var slot = Self.slot(ref, keys.count)
            while keys[slot] != Self.empty && keys[slot] != ref { slot = (slot + 1) & (keys.count - 1) }
            if keys[slot] == Self.empty {
                keys[slot] = ref
                count += 1
            }
            values[slot] = newValue
        }
    }

    mutating func removeAll() {
        zero = nil
        guard count > 0 else { return }
        for index in keys.indices { keys[index] = Self.empty }
        count = 0
    }

    private static func slot(_ ref: SeriesRef, _ capacity: Int) -> Int {
        Int(truncatingIfNeeded: (ref &* 0x9E37_79B9_7F4A_7C15) >> 32) & (capacity - 1)
    }

    private mutating func grow() {
        let old = zip(keys, values).filter { $0.0 != Self.empty }
        let capacity = max(64, keys.count * 2)
        keys = [SeriesRef](repeating: Self.empty, count: capacity)
        values = [HeadAppender.Newest](repeating: HeadAppender.Newest(timestamp: 0, bits: 0, inOrder: false), count: capacity)
        count = 0
        for (ref, value) in old { self[ref] = value }
    }
}
