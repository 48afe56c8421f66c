import Alerting
import Hummingbird
import ObsCore

/// `/api/v1/rules` and `/api/v1/alerts` in Prometheus's JSON, and the same under Loki's ruler
/// paths (`/prometheus/api/v1/…`) for the LogQL groups.
struct RuleRoutes {
    let manager: RuleManager
    let notifier: Notifier

    func register(on router: Router<some RequestContext>) {
        for method in [HTTPRequest.Method.get, .post] {
            router.on("/api/v1/rules", method: method) { request, _ in
                try await rules(request, languages: [.promql, .logql])
            }
            router.on("/prometheus/api/v1/rules", method: method) { request, _ in
                try await rules(request, languages: [.logql])
            }
            router.on("/api/v1/alerts", method: method) { _, _ in
                alerts(languages: [.promql, .logql])
            }
            router.on("/prometheus/api/v1/alerts", method: method) { _, _ in
                alerts(languages: [.logql])
            }
        }
        router.get("/api/v1/alertmanagers") { _, _ in
            let active = notifier.targets.map { "{\"url\":" + JSONText.quote($0.url) + "}" }.joined(separator: ",")
            return Response.json(APIEnvelope.success("{\"activeAlertmanagers\":[" + active + "],\"droppedAlertmanagers\":[]}"))
        }
    }

    private func rules(_ request: Request, languages: Set<RuleLanguage>) async throws -> Response {
        let parameters = try await APIParameters.read(request)
        let type = parameters.first("type")?.lowercased()
        guard type == nil || type == "alert" || type == "record" else {
            throw APIError(.badData, "unsupported type \(JSONText.quote(type!)): want alert or record")
        }
        let excludeAlerts: Bool
        switch parameters.first("exclude_alerts")?.lowercased() {
        case nil, "", "false", "0": excludeAlerts = false
        case "true", "1": excludeAlerts = true
        case let other?: throw APIError(.badData, "invalid exclude_alerts \(JSONText.quote(other)): want true or false")
        }
        let names = Set(parameters.all("rule_name[]")), groupNames = Set(parameters.all("rule_group[]"))
        let files = Set(parameters.all("file[]"))
        let filtered = !names.isEmpty || !groupNames.isEmpty || !files.isEmpty || type != nil
        var groups: [String] = []
        for group in manager.groups where languages.contains(group.spec.language) {
            guard groupNames.isEmpty || groupNames.contains(group.name), files.isEmpty || files.contains(group.file) else { continue }
            let rules = group.rules.filter { rule in
                guard names.isEmpty || names.contains(rule.name) else { return false }
                switch rule {
                case .alerting: return type != "record"
                case .recording: return type != "alert"
                }
            }
            if filtered && rules.isEmpty { continue }
            let status = group.status
            var out = "{\"name\":" + JSONText.quote(group.name) + ",\"file\":" + JSONText.quote(group.file)
            out += ",\"rules\":[" + rules.map { Self.json($0, excludeAlerts: excludeAlerts) }.joined(separator: ",") + "]"
            out += ",\"interval\":" + GoFloat.format(Double(group.interval) / 1000)
            out += ",\"limit\":" + String(group.spec.limit)
            out += ",\"evaluationTime\":" + GoFloat.format(status.duration)
            out += ",\"lastEvaluation\":" + Self.time(status.lastEvaluation) + "}"
            groups.append(out)
        }
        return Response.json(APIEnvelope.success("{\"groups\":[" + groups.joined(separator: ",") + "]}"))
    }

    private func alerts(languages: Set<RuleLanguage>) -> Response {
        var alerts: [String] = []
        for group in manager.groups where languages.contains(group.spec.language) {
            for rule in group.alertingRules {
                for alert in rule.alerts where alert.state != .inactive { alerts.append(Self.json(alert)) }
            }
        }
        return Response.json(APIEnvelope.success("{\"alerts\":[" + alerts.joined(separator: ",") + "]}"))
    }

    static func json(_ rule: Rule, excludeAlerts: Bool) -> String {
        let status = rule.status
        var out = "{\"name\":" + JSONText.quote(rule.name) + ",\"query\":" + JSONText.quote(rule.spec.expr)
        switch rule {
        case let .alerting(alerting):
            let alerts = alerting.alerts.filter { $0.state != .inactive }
            let state = alerts.contains { $0.state == .firing } ? "firing" : (alerts.isEmpty ? "inactive" : "pending")
            out += ",\"state\":\"\(state)\""
            out += ",\"duration\":" + GoFloat.format(Double(rule.spec.holdDuration) / 1000)
            out += ",\"keepFiringFor\":" + GoFloat.format(Double(rule.spec.keepFiringFor) / 1000)
            out += ",\"labels\":" + object(rule.spec.labels.map { Label($0.name, $0.value) })
            out += ",\"annotations\":" + object(rule.spec.annotations.map { Label($0.name, $0.value) })
            if !excludeAlerts { out += ",\"alerts\":[" + alerts.map(json).joined(separator: ",") + "]" }
            out += ",\"type\":\"alerting\""
        case .recording:
            out += ",\"labels\":" + object(rule.spec.labels.map { Label($0.name, $0.value) })
            out += ",\"type\":\"recording\""
        }
        out += ",\"health\":\"\(status.health.rawValue)\""
        if let error = status.lastError { out += ",\"lastError\":" + JSONText.quote(error) }
        out += ",\"evaluationTime\":" + GoFloat.format(status.duration)
        out += ",\"lastEvaluation\":" + time(status.lastEvaluation)
        return out + "}"
    }

    static func json(_ alert: Alert) -> String {
        var out = "{\"labels\":" + object(alert.labels.pairs) + ",\"annotations\":" + object(alert.annotations)
        out += ",\"state\":\"\(alert.state.rawValue)\",\"activeAt\":" + time(alert.activeAt)
        if let since = alert.keepFiringSince { out += ",\"keepFiringSince\":" + time(since) }
        return out + ",\"value\":" + JSONText.quote(GoFloat.exponent(alert.value)) + "}"
    }

    /// Label pairs as a JSON object, sorted by name.
    static func object(_ labels: [Label]) -> String {
        JSONText.object(labels.sorted { $0.name < $1.name })
    }

    /// RFC 3339 with Go's zero time for "never", as Prometheus prints an unset `time.Time`.
    static func time(_ milliseconds: Int64?) -> String {
        guard let milliseconds else { return "\"0001-01-01T00:00:00Z\"" }
        return "\"" + TimeParsing.rfc3339String(nanoseconds: milliseconds * 1_000_000) + "\""
    }
}
