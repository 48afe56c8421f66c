@testable import QueryEngine
import Testing

/// `quantile_over_time` picks ranks by selection; it must agree with interpolating over a sorted copy.
@Suite struct QuantileSelectionTests {
    static func sortedQuantile(_ phi: Double, _ values: [Double]) -> Double {
        let sorted = values.sorted()
        let rank = phi * Double(sorted.count - 1)
        let lower = Int(rank.rounded(.down)), upper = min(sorted.count - 1, lower + 1)
        let weight = rank - Double(lower)
        return sorted[lower] * (1 - weight) + sorted[upper] * weight
    }

    @Test func agreesWithSorting() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<500 {
            let count = 1 + round % 97
            // Few distinct values half of the time, so equal keys are exercised.
            let values = (0..<count).map { _ in round % 2 == 0 ? Double(Int.random(in: 0..<5, using: &generator))
                : Double.random(in: -1000...1000, using: &generator) }
            for phi in [0, 0.01, 0.25, 0.5, 0.9, 0.99, 1] {
                #expect(LogQLEngine.quantile(phi, values[...]) == Self.sortedQuantile(phi, values), "\(values) \(phi)")
            }
        }
    }

    @Test func outOfRangeQuantiles() {
        #expect(LogQLEngine.quantile(-0.5, [1, 2][...]) == -.infinity)
        #expect(LogQLEngine.quantile(1.5, [1, 2][...]) == .infinity)
        #expect(LogQLEngine.quantile(.nan, [1, 2][...]).isNaN)
    }
}
