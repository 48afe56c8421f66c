import ObsCore

/// The webhook body, Alertmanager's payload version 4: `receiver`, `status`, `alerts` (each with
/// `status`, `labels`, `annotations`, `startsAt`, `endsAt`, `generatorURL`, `fingerprint`),
/// `groupLabels`, `commonLabels`, `commonAnnotations`, `externalURL`, `version`, `groupKey`,
/// `truncatedAlerts`, in Alertmanager's field order.
public enum WebhookMessage {
    /// `alerts` are as flushed (firing ones with `endsAt` cleared), sorted, and already cut to
    /// `max_alerts`; `truncated` is how many were cut.
    public static func body(receiver: String, alerts: [ManagedAlert], groupLabels: Labels, externalURL: String,
                            groupKey: String, truncated: Int, now: Int64) -> [UInt8] {
        let firing = alerts.contains { !$0.resolved(at: now) }
        var out = "{\"receiver\":" + JSONText.quote(quoteMeta(receiver))
        out += ",\"status\":\"" + (firing ? "firing" : "resolved") + "\",\"alerts\":["
        for (index, alert) in alerts.enumerated() {
            if index > 0 { out += "," }
            let resolved = alert.resolved(at: now)
            out += "{\"status\":\"" + (resolved ? "resolved" : "firing") + "\""
            out += ",\"labels\":" + JSONText.object(alert.labels)
            out += ",\"annotations\":" + JSONText.object(alert.annotations)
            out += ",\"startsAt\":\"" + AlertTime.format(alert.startsAt) + "\""
            out += ",\"endsAt\":\"" + AlertTime.format(resolved ? alert.endsAt : 0) + "\""
            out += ",\"generatorURL\":" + JSONText.quote(alert.generatorURL)
            out += ",\"fingerprint\":\"" + alert.fingerprintText + "\"}"
        }
        out += "],\"groupLabels\":" + JSONText.object(groupLabels)
        out += ",\"commonLabels\":" + JSONText.object(common(alerts.map(\.labels.pairs)))
        out += ",\"commonAnnotations\":" + JSONText.object(common(alerts.map(\.annotations)))
        out += ",\"externalURL\":" + JSONText.quote(externalURL)
        out += ",\"version\":\"4\",\"groupKey\":" + JSONText.quote(groupKey)
        out += ",\"truncatedAlerts\":\(truncated)}\n"
        return Array(out.utf8)
    }

    /// The pairs every list has with the same value.
    static func common(_ lists: [[Label]]) -> [Label] {
        guard var result = lists.first else { return [] }
        for list in lists.dropFirst() {
            result.removeAll { pair in !list.contains(pair) }
        }
        return result
    }

    /// Go's `regexp.QuoteMeta`, which Alertmanager applies to the receiver name in payloads.
    static func quoteMeta(_ text: String) -> String {
        var out = ""
        for character in text {
            if "\\.+*?()|[]{}^$".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }
}
