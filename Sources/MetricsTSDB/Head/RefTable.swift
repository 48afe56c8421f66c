import ObsCore

/// Series by reference for WAL replay. References are handed out densely from 1, so an array
/// indexed by reference beats hashing on the per-sample path; the rare huge reference (a WAL from a
/// store that created and dropped many series) goes to a dictionary. Single-threaded.
struct RefTable {
    private static let denseLimit: UInt64 = 64 << 20
    private var dense: ContiguousArray<MemSeries?> = []
    private var sparse: [SeriesRef: MemSeries] = [:]

    subscript(ref: SeriesRef) -> MemSeries? {
        get {
            if ref < UInt64(dense.count) { return dense[Int(ref)] }
            return ref < Self.denseLimit ? nil : sparse[ref]
        }
        set {
            guard ref < Self.denseLimit else {
                sparse[ref] = newValue
                return
            }
            if ref >= UInt64(dense.count) {
                dense.append(contentsOf: repeatElement(nil, count: max(Int(ref) + 1 - dense.count, dense.count)))
            }
            dense[Int(ref)] = newValue
        }
    }
}
