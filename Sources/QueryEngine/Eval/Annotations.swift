/// Warnings and infos collected while a query runs, each once, in the order they first happened.
/// Texts follow Prometheus's so that clients and alert descriptions read the same.
struct Annotations {
    private(set) var warnings: [String] = []
    private(set) var infos: [String] = []
    private var seen: Set<String> = []

    mutating func warn(_ message: String, at location: String) {
        let text = "PromQL warning: \(message) (\(location))"
        if seen.insert(text).inserted { warnings.append(text) }
    }

    mutating func info(_ message: String, at location: String) {
        let text = "PromQL info: \(message) (\(location))"
        if seen.insert(text).inserted { infos.append(text) }
    }
}
