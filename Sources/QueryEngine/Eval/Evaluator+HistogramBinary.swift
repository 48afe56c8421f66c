import ObsCore

/// Binary operators where a histogram is involved: `+` and `-` between histograms, `*` by a float on
/// either side, `/` by a float, `==` and `!=` between histograms. Anything else gives no sample and
/// an info, as in Prometheus.
extension Evaluator {
    enum Operand {
        case float(Double)
        case histogram(FloatHistogram)

        var typeName: String {
            if case .histogram = self { return "histogram" }
            return "float"
        }
    }

    /// The result of `left op right`, or nil when there is none.
    func applyWithHistograms(_ op: BinaryOperator, _ left: Operand, _ right: Operand, returnBool: Bool,
                             metric: String, at location: String) -> Operand? {
        func incompatible() -> Operand? {
            context.annotations.info("incompatible sample types encountered for binary operator \"\(op.rawValue)\": \(left.typeName) \(op.rawValue) \(right.typeName)",
                                     at: location)
            return nil
        }
        switch (left, right) {
        case let (.float(a), .float(b)):
            guard let value = op.applyScalars(a, b) else { return nil }
            if op.isComparison && !returnBool { return value == 0 ? nil : left }
            return .float(value)
        case let (.histogram(a), .histogram(b)):
            switch op {
            case .add, .sub:
                var result = a
                let operation = op == .add ? "addition" : "subtraction"
                guard addHistogram(&result, b, negate: op == .sub, metric: metric, at: location, operation: operation) else { return nil }
                if op == .sub { result.resetHint = .gauge }
                return .histogram(result)
            case .equal, .notEqual:
                let same = a.sameValue(as: b)
                let holds = op == .equal ? same : !same
                if returnBool { return .float(holds ? 1 : 0) }
                return holds ? left : nil
            default:
                return incompatible()
            }
        case let (.histogram(h), .float(f)):
            switch op {
            case .mul:
                var result = h
                result.scale(by: f)
                return .histogram(result)
            case .div:
                var result = h
                result.divide(by: f)
                return .histogram(result)
            default:
                return incompatible()
            }
        case let (.float(f), .histogram(h)):
            guard op == .mul else { return incompatible() }
            var result = h
            result.scale(by: f)
            return .histogram(result)
        }
    }

    func operand(_ series: StepSeries, _ step: Int) -> Operand {
        if let h = series.histogram(step) { return .histogram(h) }
        return .float(series.values[step])
    }
}

extension StepSeries {
    mutating func set(_ step: Int, _ operand: Evaluator.Operand) {
        switch operand {
        case let .float(v): set(step, v)
        case let .histogram(h): set(step, histogram: h)
        }
    }
}

extension Evaluator {
    /// `v </ s` and `v >/ s`: each histogram keeps only its observations below (above) `s`; float
    /// samples have no result. The metric name stays.
    func trim(_ op: BinaryOperator, _ vector: [StepSeries], _ cutoff: [Double], location: String) -> [StepSeries] {
        var result: [StepSeries] = []
        for series in vector {
            var out = StepSeries(labels: series.labels, steps: steps, dropName: series.dropName)
            for step in 0..<steps where series.present[step] {
                guard let h = series.histogram(step) else {
                    context.annotations.info("incompatible sample types encountered for binary operator \"\(op.rawValue)\": float \(op.rawValue) float",
                                             at: location)
                    continue
                }
                out.set(step, histogram: NativeHistogramMath.trimmed(h, at: cutoff[step], keepBelow: op == .trimUpper))
            }
            if !out.isEmpty { result.append(out) }
        }
        return result
    }
}
