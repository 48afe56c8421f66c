import ObsCore

/// Decides which lines continue the entry before them: a user's first-line regex, or a built-in
/// rule for Java, Python and Go stack traces. One per stream of a file; keeps the little state the
/// Python and Go rules need.
public struct MultilineRule: Sendable {
    public enum Kind: Sendable {
        /// A line matching the regex starts an entry; any other line continues it.
        case firstLine(LinearRegex)
        /// Indented lines (`\tat …`, `... 3 more`) and `Caused by:`/`Suppressed:` continue.
        case java
        /// A `Traceback (most recent call last):` block, its indented lines and the exception line
        /// that ends it (with chained tracebacks) continue the line before it.
        case python
        /// `panic:`/`fatal error:` starts an entry that takes the goroutine dump after it.
        case go
    }

    let kind: Kind
    private var inTraceback = false
    private var inPanic = false

    public init(_ kind: Kind) {
        self.kind = kind
    }

    /// The rule for a preset name or a first-line pattern.
    public init(preset: String?, firstLine: String?) throws {
        switch preset {
        case "java": self.init(.java)
        case "python": self.init(.python)
        case "go": self.init(.go)
        default: self.init(.firstLine(try LinearRegex(firstLine ?? "^")))
        }
    }

    private static func isIndented(_ line: String) -> Bool {
        line.utf8.first == 0x20 || line.utf8.first == 0x09
    }

    /// Whether `line` continues the pending entry (there is one when `hasPending`).
    public mutating func continues(_ line: String, hasPending: Bool) -> Bool {
        guard hasPending else {
            if case .go = kind { inPanic = line.hasPrefix("panic: ") || line.hasPrefix("fatal error: ") }
            if case .python = kind { inTraceback = line.hasPrefix("Traceback (most recent call last):") }
            return false
        }
        switch kind {
        case let .firstLine(regex):
            return !regex.occurs(in: line)
        case .java:
            return Self.isIndented(line) || line.hasPrefix("Caused by:") || line.hasPrefix("Suppressed:")
        case .python:
            if line.hasPrefix("Traceback (most recent call last):") {
                inTraceback = true
                return true
            }
            guard inTraceback else { return false }
            if Self.isIndented(line) || line.isEmpty { return true }
            if line.hasPrefix("During handling of the above exception") || line.hasPrefix("The above exception was") {
                return true
            }
            // The exception line closes the traceback and belongs to it.
            inTraceback = false
            return true
        case .go:
            if line.hasPrefix("panic: ") || line.hasPrefix("fatal error: ") {
                // `panic: … [recovered]` chains continue an open panic; otherwise one starts.
                let continuing = inPanic
                inPanic = true
                return continuing
            }
            guard inPanic else { return false }
            if line.isEmpty || Self.isIndented(line) { return true }
            for prefix in ["goroutine ", "created by ", "[signal ", "exit status ", "panic(", "runtime."] where line.hasPrefix(prefix) {
                return true
            }
            if line.hasSuffix(")") && line.contains("(") { return true }
            inPanic = false
            return false
        }
    }
}
