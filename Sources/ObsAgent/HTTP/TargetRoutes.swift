import Hummingbird
import ObsCore
import QueryEngine
import Scrape

/// `/api/v1/targets`, `/api/v1/targets/metadata` and `/api/v1/metadata`, answered from the scrape
/// manager in Prometheus's JSON shapes.
struct TargetRoutes {
    let scrapes: ScrapeManager

    func register(on router: Router<some RequestContext>) {
        router.get("/api/v1/targets") { request, _ in
            let parameters = try await APIParameters.read(request)
            let state = parameters.first("state")?.lowercased() ?? "any"
            guard ["any", "active", "dropped"].contains(state) else {
                throw APIError(.badData, "invalid state \(JSONText.quote(state)): want active, dropped or any")
            }
            let pool = parameters.first("scrapePool")
            let active = state == "dropped" ? [] : scrapes.activeTargets().filter { pool == nil || $0.pool == pool }
            let dropped = state == "active" ? [] : scrapes.droppedTargets().filter { pool == nil || $0.pool == pool }
            var out = "{\"activeTargets\":[" + active.map(Self.json).joined(separator: ",") + "]"
            out += ",\"droppedTargets\":[" + dropped.map { target in
                "{\"discoveredLabels\":" + Self.labels(target.discoveredLabels) + ",\"scrapePool\":" + JSONText.quote(target.pool) + "}"
            }.joined(separator: ",") + "]"
            out += ",\"droppedTargetCounts\":{" + Set(dropped.map(\.pool)).sorted().map { pool in
                JSONText.quote(pool) + ":" + String(dropped.filter { $0.pool == pool }.count)
            }.joined(separator: ",") + "}}"
            return Response.json(APIEnvelope.success(out))
        }
        router.get("/api/v1/targets/metadata") { request, _ in
            let parameters = try await APIParameters.read(request)
            let metric = parameters.first("metric")
            var matchers: [LabelMatcher] = []
            if let selector = parameters.first("match_target") {
                do {
                    matchers = try SelectorParser.parse(selector)
                } catch {
                    throw APIError(.badData, "invalid parameter \"match_target\": \(error)")
                }
            }
            let limit = try parameters.limit()
            var entries: [String] = []
            for (target, families) in scrapes.metadata() where matchers.allSatisfy({ $0.matches(target.labels[$0.name] ?? "") }) {
                for (name, family) in families.sorted(by: { $0.key < $1.key }) where metric == nil || metric == name {
                    entries.append("{\"target\":" + Self.labels(target.labels) + ",\"metric\":" + JSONText.quote(name)
                        + ",\"type\":" + JSONText.quote(family.type) + ",\"help\":" + JSONText.quote(family.help)
                        + ",\"unit\":" + JSONText.quote(family.unit) + "}")
                }
            }
            if let limit { entries = Array(entries.prefix(limit)) }
            return Response.json(APIEnvelope.success("[" + entries.joined(separator: ",") + "]"))
        }
        router.get("/api/v1/metadata") { request, _ in
            let parameters = try await APIParameters.read(request)
            let metric = parameters.first("metric")
            let limit = try parameters.limit()
            let perMetric = try parameters.first("limit_per_metric").map { text -> Int in
                guard let value = Int(text) else { throw APIError(.badData, "invalid limit_per_metric \(JSONText.quote(text))") }
                return value
            }
            // Each family once per distinct (type, help, unit), as Prometheus lists them.
            var byMetric: [String: [MetricMetadata]] = [:]
            for (_, families) in scrapes.metadata() {
                for (name, family) in families where metric == nil || metric == name {
                    if !(byMetric[name] ?? []).contains(where: { $0 == family }) { byMetric[name, default: []].append(family) }
                }
            }
            var names = byMetric.keys.sorted()
            if let limit, limit > 0 { names = Array(names.prefix(limit)) }
            let body = names.map { name in
                var list = byMetric[name]!
                if let perMetric, perMetric > 0 { list = Array(list.prefix(perMetric)) }
                return JSONText.quote(name) + ":[" + list.map { family in
                    "{\"type\":" + JSONText.quote(family.type) + ",\"help\":" + JSONText.quote(family.help)
                        + ",\"unit\":" + JSONText.quote(family.unit) + "}"
                }.joined(separator: ",") + "]"
            }.joined(separator: ",")
            return Response.json(APIEnvelope.success("{" + body + "}"))
        }
    }

    static func json(_ target: TargetStatus) -> String {
        var out = "{\"discoveredLabels\":" + labels(target.discoveredLabels)
        out += ",\"labels\":" + labels(target.labels)
        out += ",\"scrapePool\":" + JSONText.quote(target.pool)
        out += ",\"scrapeUrl\":" + JSONText.quote(target.url)
        out += ",\"globalUrl\":" + JSONText.quote(target.url)
        out += ",\"lastError\":" + JSONText.quote(target.lastError)
        out += ",\"lastScrape\":" + JSONText.quote(target.lastScrape.map { TimeParsing.rfc3339String(seconds: Double($0) / 1000) } ?? "0001-01-01T00:00:00Z")
        out += ",\"lastScrapeDuration\":" + String(target.lastDuration)
        out += ",\"health\":" + JSONText.quote(target.health)
        out += ",\"scrapeInterval\":" + JSONText.quote(PrometheusDuration(milliseconds: target.interval).description)
        out += ",\"scrapeTimeout\":" + JSONText.quote(PrometheusDuration(milliseconds: target.timeout).description)
        return out + "}"
    }

    static func labels(_ labels: Labels) -> String { JSONText.object(labels) }
}
