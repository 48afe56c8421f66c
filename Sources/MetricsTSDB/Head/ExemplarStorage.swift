import ObsCore
import Synchronization

/// The newest exemplars across all series in one fixed-size ring, as Prometheus keeps them
/// (`storage.exemplars.max_exemplars`): memory is bounded by the ring whatever the senders do.
/// Each series' exemplars are linked through the ring in time order; the slot overwritten next
/// always holds the oldest exemplar of its series, so eviction only moves that series' head.
final class ExemplarStorage: Sendable {
    enum Outcome: Equatable {
        case added, duplicate, outOfOrder, disabled
    }

    private struct Slot {
        var series: Labels
        var exemplar: Exemplar
        /// The next (newer) slot of the same series, −1 for its newest.
        var next: Int32
    }

    private struct Chain {
        var oldest: Int32
        var newest: Int32
    }

    private struct State {
        var slots: [Slot?]
        var cursor = 0
        var chains: [Labels: Chain] = [:]
        var count = 0
    }

    private let state: Mutex<State>
    let counters: Counters

    struct Counters: Sendable {
        let appended: Counter
        let outOfOrder: Counter

        init(_ metrics: MetricsRegistry) {
            appended = metrics.counter("obs_tsdb_exemplar_exemplars_appended_total", help: "Exemplars added to the exemplar storage.").labels()
            outOfOrder = metrics.counter("obs_tsdb_exemplar_out_of_order_exemplars_total",
                                         help: "Exemplars dropped for being older than their series' newest one.").labels()
        }
    }

    init(capacity: Int, metrics: MetricsRegistry) {
        state = Mutex(State(slots: Array(repeating: nil, count: max(0, capacity))))
        counters = Counters(metrics)
        metrics.addCollector { [weak self] writer in
            guard let self else { return }
            let (capacity, count, series) = self.state.withLock { ($0.slots.count, $0.count, $0.chains.count) }
            writer.header(name: "obs_tsdb_exemplar_max_exemplars", help: "Size of the exemplar ring.", type: "gauge")
            writer.sample(name: "obs_tsdb_exemplar_max_exemplars", labelNames: [], labelValues: [], value: Double(capacity))
            writer.header(name: "obs_tsdb_exemplar_exemplars_in_storage", help: "Exemplars held.", type: "gauge")
            writer.sample(name: "obs_tsdb_exemplar_exemplars_in_storage", labelNames: [], labelValues: [], value: Double(count))
            writer.header(name: "obs_tsdb_exemplar_series_with_exemplars_in_storage", help: "Series with exemplars held.", type: "gauge")
            writer.sample(name: "obs_tsdb_exemplar_series_with_exemplars_in_storage", labelNames: [], labelValues: [], value: Double(series))
        }
    }

    var capacity: Int { state.withLock { $0.slots.count } }

    /// Adds `exemplar` to `series` unless it repeats or predates the series' newest one.
    @discardableResult
    func add(_ series: Labels, _ exemplar: Exemplar) -> Outcome {
        let outcome = state.withLock { Self.add(series, exemplar, to: &$0) }
        switch outcome {
        case .added: counters.appended.inc()
        case .outOfOrder: counters.outOfOrder.inc()
        case .duplicate, .disabled: break
        }
        return outcome
    }

    private static func add(_ series: Labels, _ exemplar: Exemplar, to state: inout State) -> Outcome {
        guard !state.slots.isEmpty else { return .disabled }
        if let chain = state.chains[series], let newest = state.slots[Int(chain.newest)]?.exemplar {
            if newest == exemplar { return .duplicate }
            if exemplar.timestamp <= newest.timestamp { return .outOfOrder }
        }
        let slot = state.cursor
        if let evicted = state.slots[slot] {
            // The ring's oldest entry is its series' oldest: that series now starts one later.
            if evicted.next < 0 {
                state.chains[evicted.series] = nil
            } else {
                state.chains[evicted.series]?.oldest = evicted.next
            }
            state.count -= 1
        }
        state.slots[slot] = Slot(series: series, exemplar: exemplar, next: -1)
        if let chain = state.chains[series] {
            state.slots[Int(chain.newest)]?.next = Int32(slot)
            state.chains[series]?.newest = Int32(slot)
        } else {
            state.chains[series] = Chain(oldest: Int32(slot), newest: Int32(slot))
        }
        state.count += 1
        state.cursor = (slot + 1) % state.slots.count
        return .added
    }

    /// Changes the ring's size, keeping the newest exemplars that fit.
    func resize(to capacity: Int) {
        state.withLock { state in
            guard capacity != state.slots.count else { return }
            var kept: [Slot] = []
            let size = state.slots.count
            for step in 0..<size {
                if let slot = state.slots[(state.cursor + step) % size] { kept.append(slot) }
            }
            var resized = State(slots: Array(repeating: nil, count: max(0, capacity)))
            for slot in kept.suffix(max(0, capacity)) { _ = Self.add(slot.series, slot.exemplar, to: &resized) }
            state = resized
        }
    }

    /// The exemplars in `[start, end]` of the series any matcher set selects, oldest first, by series.
    func select(_ matcherSets: [[LabelMatcher]], start: Int64, end: Int64) -> [(series: Labels, exemplars: [Exemplar])] {
        state.withLock { state in
            var result: [(series: Labels, exemplars: [Exemplar])] = []
            for (series, chain) in state.chains
            where matcherSets.contains(where: { set in set.allSatisfy { $0.matches(series[$0.name] ?? "") } }) {
                var exemplars: [Exemplar] = []
                var index = chain.oldest
                while index >= 0, let slot = state.slots[Int(index)] {
                    if slot.exemplar.timestamp > end { break }
                    if slot.exemplar.timestamp >= start { exemplars.append(slot.exemplar) }
                    index = slot.next
                }
                if !exemplars.isEmpty { result.append((series, exemplars)) }
            }
            return result.sorted { $0.series < $1.series }
        }
    }
}
