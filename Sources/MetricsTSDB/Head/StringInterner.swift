import ObsCore
import Synchronization

/// Gives every series the same storage for equal label names and values: thousands of series share
/// `__name__` values, `job`, `namespace`, pod names. Swift keeps strings of up to 15 UTF-8 bytes
/// inline, so only longer ones are pooled. Thread-safe.
final class StringInterner: Sendable {
    private let pool = Mutex<Set<String>>([])

    func intern(_ labels: Labels) -> Labels {
        pool.withLock { pool in
            Labels(sortedUnchecked: labels.map { Label(Self.intern($0.name, in: &pool), Self.intern($0.value, in: &pool)) })
        }
    }

    private static func intern(_ text: String, in pool: inout Set<String>) -> String {
        guard text.utf8.count > 15 else { return text }
        if let index = pool.firstIndex(of: text) { return pool[index] }
        pool.insert(text)
        return text
    }

    /// Keeps only the strings `live` still uses (after head truncation forgot series).
    func retain(only live: [Labels]) {
        var kept = Set<String>()
        for labels in live {
            for label in labels {
                if label.name.utf8.count > 15 { kept.insert(label.name) }
                if label.value.utf8.count > 15 { kept.insert(label.value) }
            }
        }
        pool.withLock { $0 = kept }
    }
}
