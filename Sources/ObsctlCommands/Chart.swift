import ObsCore

/// A plain-text line chart of range-query results: one symbol per series, a y axis with the value
/// range, a time axis, and a legend.
enum Chart {
    static let symbols: [Character] = ["*", "+", "o", "x", "#", "@", "%", "="]
    static let height = 12
    static let width = 72

    static func draw(_ series: [(String, [(Double, Double)])]) -> String {
        let finite = series.flatMap { $0.1 }.filter { $0.1.isFinite }
        guard let firstT = finite.map(\.0).min(), let lastT = finite.map(\.0).max(),
              let low = finite.map(\.1).min(), let high = finite.map(\.1).max() else { return "(no data)" }
        let span = max(lastT - firstT, 1e-9)
        let valueSpan = high - low
        var grid = Array(repeating: Array(repeating: Character(" "), count: width), count: height)
        for (index, (_, points)) in series.enumerated() {
            let symbol = symbols[index % symbols.count]
            for (t, v) in points where v.isFinite {
                let column = Int(((t - firstT) / span * Double(width - 1)).rounded())
                let row = valueSpan == 0 ? height / 2 : Int(((v - low) / valueSpan * Double(height - 1)).rounded())
                grid[height - 1 - row][column] = symbol
            }
        }
        let top = Render.text(high), bottom = Render.text(low)
        let axisWidth = max(top.count, bottom.count)
        var lines: [String] = []
        for (index, row) in grid.enumerated() {
            let label = index == 0 ? top : index == height - 1 ? bottom : ""
            lines.append(label.leftPadded(to: axisWidth) + " |" + String(row))
        }
        lines.append(String(repeating: " ", count: axisWidth) + " +" + String(repeating: "-", count: width))
        let (startText, endText) = axisTimes(firstT, lastT)
        let gap = max(1, width - startText.count - endText.count)
        lines.append(String(repeating: " ", count: axisWidth + 2) + startText + String(repeating: " ", count: gap) + endText)
        for (index, (labels, _)) in series.enumerated() {
            lines.append("  \(symbols[index % symbols.count])  \(labels)")
        }
        return lines.joined(separator: "\n")
    }

    /// The time axis's ends, readable: `2026-12-07 01:05:00 UTC`, the end as time of day only when it
    /// falls on the same date.
    static func axisTimes(_ first: Double, _ last: Double) -> (String, String) {
        func parts(_ seconds: Double) -> (date: String, time: String) {
            let text = TimeParsing.rfc3339String(seconds: seconds.rounded(.down))
            let date = String(text.prefix(10))
            let time = String(text.dropFirst(11).prefix(8))
            return (date, time)
        }
        let start = parts(first), end = parts(last)
        return ("\(start.date) \(start.time) UTC", start.date == end.date ? "\(end.time) UTC" : "\(end.date) \(end.time) UTC")
    }
}

private extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
