import ObsCore
import ObsYAML

/// An alert as API v2 receives it (`PostableAlert`): times are 0 when not given.
public struct PostedAlert: Sendable, Equatable {
    public var labels: Labels
    public var annotations: [Label]
    public var startsAt: Int64
    public var endsAt: Int64
    public var generatorURL: String
    /// Names as posted, before empty values were dropped, for validation.
    var rawLabelNames: [String]

    public init(labels: [Label], annotations: [Label] = [], startsAt: Int64 = 0, endsAt: Int64 = 0, generatorURL: String = "") {
        self.labels = Labels(labels)
        self.annotations = annotations
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.generatorURL = generatorURL
        rawLabelNames = labels.map(\.name)
    }

    /// Alertmanager's validation messages.
    func problem(startsAt: Int64, endsAt: Int64) -> String? {
        if endsAt != 0 && endsAt < startsAt { return "start time must be before end time" }
        if let bad = labels.pairs.first(where: { !LabelMap.isValidName($0.name) }) {
            return "invalid label set: invalid name \(JSONText.quote(bad.name))"
        }
        if labels.isEmpty { return "at least one label pair required" }
        if let bad = annotations.first(where: { !LabelMap.isValidName($0.name) }) {
            return "invalid annotations: invalid name \(JSONText.quote(bad.name))"
        }
        return nil
    }
}

/// API v2's JSON: reading posted alerts and silences, writing alerts, groups and silences.
public enum AlertmanagerJSON {
    public struct BadRequest: Error, CustomStringConvertible {
        public var description: String
        /// go-swagger answers a missing required field with 422, a malformed body with 400.
        public var unprocessable: Bool
    }

    /// A value of the wrong type; reported as a malformed body.
    struct Mismatch: Error, CustomStringConvertible {
        var description: String
    }

    /// A `PostableAlerts` body.
    public static func alerts(_ body: [UInt8]) throws(BadRequest) -> [PostedAlert] {
        var result: [PostedAlert] = []
        do {
            try body.withUnsafeBytes { bytes in
                var reader = JSONReader(bytes)
                var index = 0
                try reader.array { reader in
                    var labels: [Label]?
                    var annotations: [Label] = []
                    var startsAt: Int64 = 0, endsAt: Int64 = 0
                    var generatorURL = ""
                    try reader.object { reader, key in
                        switch key {
                        case "labels": labels = try stringMap(&reader, "\(index).labels")
                        case "annotations": annotations = try stringMap(&reader, "\(index).annotations")
                        case "startsAt": startsAt = try time(&reader, "\(index).startsAt")
                        case "endsAt": endsAt = try time(&reader, "\(index).endsAt")
                        case "generatorURL": generatorURL = try string(&reader, "\(index).generatorURL")
                        default: try reader.skip()
                        }
                    }
                    guard let labels else { throw BadRequest(description: "\(index).labels in body is required", unprocessable: true) }
                    result.append(PostedAlert(labels: labels, annotations: annotations, startsAt: startsAt, endsAt: endsAt,
                                              generatorURL: generatorURL))
                    index += 1
                }
                guard reader.isAtEnd() else { throw JSONReader.Failure(offset: reader.offset, message: "trailing data") }
            }
        } catch let error as BadRequest {
            throw error
        } catch {
            throw BadRequest(description: "parsing alerts body from \"\" failed, because \(error)", unprocessable: false)
        }
        return result
    }

    /// A `PostableSilence` body.
    public static func silence(_ body: [UInt8]) throws(BadRequest) -> Silence {
        var silence = Silence(matchers: [], startsAt: 0, endsAt: 0, createdBy: "", comment: "")
        var seen = Set<String>()
        do {
            try body.withUnsafeBytes { bytes in
                var reader = JSONReader(bytes)
                try reader.object { reader, key in
                    seen.insert(key)
                    switch key {
                    case "id": silence.id = try string(&reader, "id")
                    case "startsAt": silence.startsAt = try time(&reader, "startsAt")
                    case "endsAt": silence.endsAt = try time(&reader, "endsAt")
                    case "createdBy": silence.createdBy = try string(&reader, "createdBy")
                    case "comment": silence.comment = try string(&reader, "comment")
                    case "matchers":
                        var index = 0
                        try reader.array { reader in
                            var name: String?, value: String?, isRegex: Bool?, isEqual = true
                            try reader.object { reader, key in
                                switch key {
                                case "name": name = try string(&reader, "matchers.\(index).name")
                                case "value": value = try string(&reader, "matchers.\(index).value")
                                case "isRegex": isRegex = try bool(&reader, "matchers.\(index).isRegex")
                                case "isEqual": isEqual = try bool(&reader, "matchers.\(index).isEqual")
                                default: try reader.skip()
                                }
                            }
                            for (field, present) in [("name", name != nil), ("value", value != nil), ("isRegex", isRegex != nil)] where !present {
                                throw BadRequest(description: "matchers.\(index).\(field) in body is required", unprocessable: true)
                            }
                            silence.matchers.append(Silence.Matcher(name: name!, value: value!, isRegex: isRegex!, isEqual: isEqual))
                            index += 1
                        }
                    default: try reader.skip()
                    }
                }
                guard reader.isAtEnd() else { throw JSONReader.Failure(offset: reader.offset, message: "trailing data") }
            }
        } catch let error as BadRequest {
            throw error
        } catch {
            throw BadRequest(description: "parsing silence body from \"\" failed, because \(error)", unprocessable: false)
        }
        for field in ["comment", "createdBy", "endsAt", "matchers", "startsAt"] where !seen.contains(field) {
            throw BadRequest(description: "silence.\(field) in body is required", unprocessable: true)
        }
        guard !silence.matchers.isEmpty else {
            throw BadRequest(description: "silence.matchers in body should have at least 1 items", unprocessable: true)
        }
        return silence
    }

    static func string(_ reader: inout JSONReader, _ field: String) throws -> String {
        guard try reader.peek() == .string else {
            throw Mismatch(description: "\(field) must be a string")
        }
        return try reader.string()
    }

    static func bool(_ reader: inout JSONReader, _ field: String) throws -> Bool {
        guard try reader.peek() == .bool else {
            throw Mismatch(description: "\(field) must be true or false")
        }
        return try reader.bool()
    }

    static func time(_ reader: inout JSONReader, _ field: String) throws -> Int64 {
        let text = try string(&reader, field)
        guard let value = AlertTime.parse(text) else {
            throw Mismatch(description: "\(field): cannot parse \(JSONText.quote(text)) as an RFC 3339 time")
        }
        return value
    }

    static func stringMap(_ reader: inout JSONReader, _ field: String) throws -> [Label] {
        guard try reader.peek() == .object else {
            throw Mismatch(description: "\(field) must be an object")
        }
        var pairs: [Label] = []
        try reader.object { reader, key in pairs.append(Label(key, try string(&reader, "\(field).\(key)"))) }
        return pairs
    }

    // MARK: Writing

    public static func alert(_ view: EmbeddedAlertmanager.AlertView) -> String {
        let alert = view.alert
        var out = "{\"annotations\":" + JSONText.object(alert.annotations)
        out += ",\"endsAt\":\"" + AlertTime.format(alert.endsAt) + "\""
        out += ",\"fingerprint\":\"" + alert.fingerprintText + "\""
        out += ",\"receivers\":[" + view.receivers.map { "{\"name\":" + JSONText.quote($0) + "}" }.joined(separator: ",") + "]"
        out += ",\"startsAt\":\"" + AlertTime.format(alert.startsAt) + "\""
        out += ",\"status\":{\"inhibitedBy\":[" + view.status.inhibitedBy.map(JSONText.quote).joined(separator: ",") + "]"
        out += ",\"silencedBy\":[" + view.status.silencedBy.map(JSONText.quote).joined(separator: ",") + "]"
        out += ",\"state\":\"" + view.status.state + "\"}"
        out += ",\"updatedAt\":\"" + AlertTime.format(alert.updatedAt) + "\""
        if !alert.generatorURL.isEmpty { out += ",\"generatorURL\":" + JSONText.quote(alert.generatorURL) }
        return out + ",\"labels\":" + JSONText.object(alert.labels) + "}"
    }

    public static func alerts(_ views: [EmbeddedAlertmanager.AlertView]) -> String {
        "[" + views.map(alert).joined(separator: ",") + "]"
    }

    public static func groups(_ groups: [EmbeddedAlertmanager.GroupView]) -> String {
        "[" + groups.map { group in
            "{\"alerts\":" + alerts(group.alerts) + ",\"labels\":" + JSONText.object(group.labels)
                + ",\"receiver\":{\"name\":" + JSONText.quote(group.receiver) + "}}"
        }.joined(separator: ",") + "]"
    }

    public static func silence(_ silence: Silence, state: Silence.State) -> String {
        var out = "{\"id\":" + JSONText.quote(silence.id) + ",\"status\":{\"state\":\"" + state.rawValue + "\"}"
        out += ",\"updatedAt\":\"" + AlertTime.format(silence.updatedAt) + "\""
        out += ",\"comment\":" + JSONText.quote(silence.comment) + ",\"createdBy\":" + JSONText.quote(silence.createdBy)
        out += ",\"endsAt\":\"" + AlertTime.format(silence.endsAt) + "\",\"matchers\":["
        out += silence.matchers.map { m in
            "{\"isEqual\":\(m.isEqual),\"isRegex\":\(m.isRegex),\"name\":" + JSONText.quote(m.name) + ",\"value\":" + JSONText.quote(m.value) + "}"
        }.joined(separator: ",")
        return out + "],\"startsAt\":\"" + AlertTime.format(silence.startsAt) + "\"}"
    }
}
