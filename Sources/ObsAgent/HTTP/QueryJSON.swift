import ObsCore
import QueryEngine

/// Query results in the Prometheus API's JSON: timestamps as float seconds, values as strings,
/// annotations in top-level `warnings` and `infos`.
enum QueryJSON {
    static func envelope(_ result: QueryResult) -> String {
        var out = "{\"status\":\"success\",\"data\":"
        data(result.value, into: &out)
        if !result.warnings.isEmpty {
            out += ",\"warnings\":[" + result.warnings.map(JSONText.quote).joined(separator: ",") + "]"
        }
        if !result.infos.isEmpty {
            out += ",\"infos\":[" + result.infos.map(JSONText.quote).joined(separator: ",") + "]"
        }
        out += "}"
        return out
    }

    static func data(_ value: QueryValue, into out: inout String) {
        switch value {
        case let .scalar(point):
            out += "{\"resultType\":\"scalar\",\"result\":"
            pair(point, into: &out)
            out += "}"
        case let .string(text, t):
            out += "{\"resultType\":\"string\",\"result\":[\(timestamp(t)),\(JSONText.quote(text))]}"
        case let .vector(samples):
            out += "{\"resultType\":\"vector\",\"result\":["
            for (i, sample) in samples.enumerated() {
                if i > 0 { out += "," }
                out += "{\"metric\":"
                labels(sample.labels, into: &out)
                if let h = sample.histogram {
                    out += ",\"histogram\":"
                    histogram(HistogramPoint(t: sample.point.t, h: h), into: &out)
                } else {
                    out += ",\"value\":"
                    pair(sample.point, into: &out)
                }
                out += "}"
            }
            out += "]}"
        case let .matrix(series):
            out += "{\"resultType\":\"matrix\",\"result\":["
            for (i, s) in series.enumerated() {
                if i > 0 { out += "," }
                out += "{\"metric\":"
                labels(s.labels, into: &out)
                // As Prometheus: each list only when the series has points of that kind.
                if !s.points.isEmpty || s.histograms.isEmpty {
                    out += ",\"values\":["
                    for (j, point) in s.points.enumerated() {
                        if j > 0 { out += "," }
                        pair(point, into: &out)
                    }
                    out += "]"
                }
                if !s.histograms.isEmpty {
                    out += ",\"histograms\":["
                    for (j, point) in s.histograms.enumerated() {
                        if j > 0 { out += "," }
                        histogram(point, into: &out)
                    }
                    out += "]"
                }
                out += "}"
            }
            out += "]}"
        }
    }

    static func labels(_ labels: Labels, into out: inout String) {
        out += JSONText.object(labels)
    }

    static func pair(_ point: Point, into out: inout String) {
        out += "["
        out += timestamp(point.t)
        out += ",\""
        out += formatValue(point.f)
        out += "\"]"
    }

    /// `[t, {"count","sum","buckets":[[rule,"lower","upper","count"],…]}]`, buckets from the most
    /// negative up, empty ones left out. Rules: 0 `(l,u]`, 1 `[l,u)`, 3 `[l,u]`.
    static func histogram(_ point: HistogramPoint, into out: inout String) {
        let h = point.h
        out += "[" + timestamp(point.t) + ",{\"count\":\"" + formatValue(h.count) + "\",\"sum\":\""
        out += formatValue(h.sum) + "\""
        var buckets: [String] = []
        func add(_ rule: Int, _ lower: Double, _ upper: Double, _ count: Double) {
            guard count != 0 else { return }
            buckets.append("[\(rule),\"\(formatValue(lower))\",\"\(formatValue(upper))\",\"\(formatValue(count))\"]")
        }
        // Buckets reaching into the zero bucket are shown clipped at its edge; the zero bucket
        // itself only when populated.
        let custom = h.usesCustomBuckets
        for bucket in h.negative.reversed() {
            var (lower, upper) = h.bounds(ofPositive: bucket.index)
            if !custom, lower > 0, lower < h.zeroThreshold { lower = h.zeroThreshold }
            add(1, -upper, -lower, bucket.count)
        }
        if h.zeroCount > 0 { add(3, -h.zeroThreshold, h.zeroThreshold, h.zeroCount) }
        for bucket in h.positive {
            var (lower, upper) = h.bounds(ofPositive: bucket.index)
            if !custom, lower > 0, lower < h.zeroThreshold { lower = h.zeroThreshold }
            add(0, lower, upper, bucket.count)
        }
        if !buckets.isEmpty { out += ",\"buckets\":[" + buckets.joined(separator: ",") + "]" }
        out += "}]"
    }

    /// Milliseconds as decimal seconds without trailing zeros: 1500 → 1.5, -500 → -0.5.
    static func timestamp(_ ms: Int64) -> String {
        let negative = ms < 0
        let magnitude = ms.magnitude
        let seconds = magnitude / 1000, fraction = magnitude % 1000
        var text = negative ? "-\(seconds)" : "\(seconds)"
        if fraction != 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: 3 - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return text
    }
}
