import Synchronization

/// The daemon's own metrics, rendered in the Prometheus text format at `/metrics`.
///
/// Families are registered once (usually at component start) and hand out children per label
/// values; children are cheap to update from any thread. Collectors add values computed at scrape
/// time (process CPU, open files). Thread-safe; shared by reference.
public final class MetricsRegistry: Sendable {
    private let state = Mutex(State())

    private struct State {
        var families: [String: any RenderableFamily] = [:]
        var collectors: [@Sendable (inout ExpositionWriter) -> Void] = []
    }

    public init() {}

    public func counter(_ name: String, help: String, labelNames: [String] = []) -> CounterFamily {
        register(name) { CounterFamily(name: name, help: help, labelNames: labelNames) }
    }

    public func gauge(_ name: String, help: String, labelNames: [String] = []) -> GaugeFamily {
        register(name) { GaugeFamily(name: name, help: help, labelNames: labelNames) }
    }

    public func histogram(
        _ name: String, help: String, labelNames: [String] = [], buckets: [Double] = Histogram.defaultBuckets
    ) -> HistogramFamily {
        register(name) { HistogramFamily(name: name, help: help, labelNames: labelNames, buckets: buckets) }
    }

    /// Adds a function run on every render, for values read from the system at scrape time.
    public func addCollector(_ collect: @escaping @Sendable (inout ExpositionWriter) -> Void) {
        state.withLock { $0.collectors.append(collect) }
    }

    /// The text exposition (format 0.0.4) of every family, sorted by name.
    public func render() -> String {
        let (families, collectors) = state.withLock { state in
            (state.families.sorted { $0.key < $1.key }.map(\.value), state.collectors)
        }
        var writer = ExpositionWriter()
        for collect in collectors { collect(&writer) }
        for family in families { family.render(into: &writer) }
        return writer.output
    }

    /// Registering the same name twice returns the existing family, so components can be rebuilt
    /// on reload without losing counts; a different metric type under that name is a programming error.
    private func register<Family: RenderableFamily>(_ name: String, make: () -> Family) -> Family {
        state.withLock { state in
            if let existing = state.families[name] {
                guard let family = existing as? Family else {
                    preconditionFailure("metric \(name) registered twice with different types")
                }
                return family
            }
            let family = make()
            state.families[name] = family
            return family
        }
    }
}

protocol RenderableFamily: Sendable {
    func render(into writer: inout ExpositionWriter)
}

/// Children of a family keyed by their label values.
final class ChildTable<Child: Sendable>: Sendable {
    let labelNames: [String]
    private let children = Mutex<[[String]: Child]>([:])

    init(labelNames: [String]) { self.labelNames = labelNames }

    func child(_ values: [String], make: () -> Child) -> Child {
        precondition(values.count == labelNames.count, "expected \(labelNames.count) label values, got \(values.count)")
        return children.withLock { table in
            if let child = table[values] { return child }
            let child = make()
            table[values] = child
            return child
        }
    }

    /// Children sorted by label values, so output is stable between scrapes.
    func sorted() -> [([String], Child)] {
        children.withLock { $0.map { ($0.key, $0.value) } }.sorted { $0.0.lexicographicallyPrecedes($1.0) }
    }
}

/// A metric with one value per child: counters and gauges.
public protocol ScalarMetric: Sendable {
    init()
    var value: Double { get }
    /// The `# TYPE` of the family.
    static var typeName: String { get }
}

/// A family of counters or gauges, one child per combination of label values.
public final class ScalarFamily<Child: ScalarMetric>: RenderableFamily {
    let name: String
    let help: String
    let table: ChildTable<Child>

    init(name: String, help: String, labelNames: [String]) {
        self.name = name
        self.help = help
        table = ChildTable(labelNames: labelNames)
    }

    public func labels(_ values: String...) -> Child { table.child(values) { Child() } }

    func render(into writer: inout ExpositionWriter) {
        writer.header(name: name, help: help, type: Child.typeName)
        for (values, child) in table.sorted() {
            writer.sample(name: name, labelNames: table.labelNames, labelValues: values, value: child.value)
        }
    }
}

public typealias CounterFamily = ScalarFamily<Counter>
public typealias GaugeFamily = ScalarFamily<Gauge>

public final class HistogramFamily: RenderableFamily {
    let name: String
    let help: String
    let buckets: [Double]
    let table: ChildTable<Histogram>

    init(name: String, help: String, labelNames: [String], buckets: [Double]) {
        precondition(buckets == buckets.sorted() && !buckets.isEmpty, "histogram buckets must be sorted")
        self.name = name
        self.help = help
        self.buckets = buckets
        table = ChildTable(labelNames: labelNames)
    }

    public func labels(_ values: String...) -> Histogram { table.child(values) { Histogram(buckets: buckets) } }

    func render(into writer: inout ExpositionWriter) {
        writer.header(name: name, help: help, type: "histogram")
        let bucketLabelNames = table.labelNames + ["le"]
        for (values, child) in table.sorted() {
            let snapshot = child.snapshot()
            var cumulative: UInt64 = 0
            for (index, bound) in buckets.enumerated() {
                cumulative += snapshot.counts[index]
                writer.sample(name: name + "_bucket", labelNames: bucketLabelNames,
                              labelValues: values + [ExpositionWriter.format(bound)], value: Double(cumulative))
            }
            writer.sample(name: name + "_bucket", labelNames: bucketLabelNames, labelValues: values + ["+Inf"],
                          value: Double(snapshot.count))
            writer.sample(name: name + "_sum", labelNames: table.labelNames, labelValues: values, value: snapshot.sum)
            writer.sample(name: name + "_count", labelNames: table.labelNames, labelValues: values,
                          value: Double(snapshot.count))
        }
    }
}

/// A monotonically increasing value. Thread-safe.
public final class Counter: ScalarMetric {
    public static let typeName = "counter"
    private let storage = Mutex<Double>(0)
    public init() {}
    public func inc(_ by: Double = 1) {
        guard by >= 0 else { return }
        storage.withLock { $0 += by }
    }
    public var value: Double { storage.withLock { $0 } }
}

/// A value that goes up and down. Thread-safe.
public final class Gauge: ScalarMetric {
    public static let typeName = "gauge"
    private let storage = Mutex<Double>(0)
    public init() {}
    public func set(_ value: Double) { storage.withLock { $0 = value } }
    public func add(_ delta: Double) { storage.withLock { $0 += delta } }
    public var value: Double { storage.withLock { $0 } }
}

/// Counts observations into fixed buckets. Thread-safe.
public final class Histogram: Sendable {
    /// Prometheus client libraries' default buckets, in seconds.
    public static let defaultBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct Snapshot {
        var counts: [UInt64]
        var sum: Double = 0
        var count: UInt64 = 0
    }

    private let buckets: [Double]
    private let state: Mutex<Snapshot>

    init(buckets: [Double]) {
        self.buckets = buckets
        state = Mutex(Snapshot(counts: Array(repeating: 0, count: buckets.count)))
    }

    public func observe(_ value: Double) {
        // Upper bounds are inclusive (`le`); values above the last bound only count toward +Inf.
        let index = buckets.firstIndex { value <= $0 }
        state.withLock { snapshot in
            if let index { snapshot.counts[index] += 1 }
            snapshot.sum += value
            snapshot.count += 1
        }
    }

    func snapshot() -> Snapshot { state.withLock { $0 } }
}
