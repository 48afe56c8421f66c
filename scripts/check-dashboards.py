#!/usr/bin/env python3
"""Runs every query of the Grafana dashboards against a live agent, as Grafana would send it.

For each dashboard: the template variables' queries (`label_values(...)`) and every panel target
(PromQL to the Prometheus API, LogQL to the Loki API), with Grafana's built-in variables replaced
(`$__rate_interval` 1m, `$__interval` 15s, `$__range` 10m) and the dashboard's own variables set to
"All" (`.*`, which is why dashboards match them with `=~`). A query fails when the agent answers
with an error; a panel fails when none of its queries returns data. Queries that return nothing
in a panel that has data are listed.

Usage: check-dashboards.py AGENT_URL DASHBOARD.json...
Exit status 1 when any query or panel failed.
"""
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "10m", "__auto": "15s"}
WINDOW = 600  # seconds of data the range queries look at


def fetch(base, path, params):
    url = base + path + "?" + urllib.parse.urlencode(params, doseq=True)
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            return json.load(reply)
    except urllib.error.HTTPError as error:
        body = error.read().decode(errors="replace")
        return {"status": "error", "error": "HTTP %d: %s" % (error.code, body.strip()[:300])}


def substitute(text, variables):
    def replace(match):
        name = match.group(1) or match.group(2)
        if name in BUILTINS:
            return BUILTINS[name]
        if name in variables:
            return variables[name]
        raise KeyError("unknown variable $" + name)
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", replace, text)


def kind_of(datasource, variables_kind):
    if isinstance(datasource, dict):
        kind = datasource.get("type")
        uid = datasource.get("uid", "")
        if uid.startswith("${") or uid.startswith("$"):
            return variables_kind.get(uid.strip("${}"), kind)
        return kind
    return None


def run_query(base, kind, expr, instant):
    now = time.time()
    if kind == "prometheus":
        if instant:
            answer = fetch(base, "/api/v1/query", {"query": expr, "time": now})
        else:
            answer = fetch(base, "/api/v1/query_range", {"query": expr, "start": now - WINDOW, "end": now, "step": 15})
        if answer.get("status") != "success":
            return None, answer.get("error", "no status")
        return len(answer["data"]["result"]), None
    if kind == "loki":
        params = {"query": expr, "start": int((now - WINDOW) * 1e9), "end": int(now * 1e9), "limit": 100}
        if instant:
            answer = fetch(base, "/loki/api/v1/query", {"query": expr, "time": int(now * 1e9)})
        else:
            answer = fetch(base, "/loki/api/v1/query_range", dict(params, step=15))
        if answer.get("status") != "success":
            return None, answer.get("error") or answer.get("message") or json.dumps(answer)[:300]
        return len(answer["data"]["result"]), None
    return None, "unsupported data source type %r" % kind


def check_variable(base, variable, kind, variables):
    query = variable.get("query")
    if isinstance(query, dict):
        query = query.get("query")
    query = substitute(query or "", variables)
    match = re.fullmatch(r"label_values\((?:(.+),\s*)?(\w+)\)", (query or "").strip())
    if not match:
        return None, "variable query %r is not label_values(...)" % query
    selector, label = match.group(1), match.group(2)
    now = time.time()
    if kind == "loki":
        params = {"start": int((now - WINDOW) * 1e9), "end": int(now * 1e9)}
        if selector:
            params["query"] = selector
        answer = fetch(base, "/loki/api/v1/label/%s/values" % label, params)
    else:
        params = {"start": now - WINDOW, "end": now}
        if selector:
            params["match[]"] = selector
        answer = fetch(base, "/api/v1/label/%s/values" % label, params)
    if answer.get("status") != "success":
        return None, answer.get("error", "no status")
    return len(answer.get("data") or []), None


def panels(items):
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def check(base, path):
    with open(path) as f:
        dashboard = json.load(f)
    failures = 0
    variables, variables_kind = {}, {}
    for variable in dashboard.get("templating", {}).get("list", []):
        name = variable["name"]
        if variable.get("type") == "datasource":
            variables_kind[name] = variable.get("query")
            variables[name] = variable.get("query")
            continue
        variables[name] = ".*"
        kind = kind_of(variable.get("datasource"), variables_kind)
        count, error = check_variable(base, variable, kind, variables)
        if error or not count:
            failures += 1
            print("FAIL %s: variable %s: %s" % (path, name, error or "no values"))
        else:
            print("ok   %s: variable %s: %d values" % (path, name, count))
    for panel in panels(dashboard.get("panels", [])):
        targets = [t for t in panel.get("targets", []) if t.get("expr")]
        if not targets:
            continue
        title = panel.get("title", "?")
        results = []
        for target in targets:
            kind = kind_of(target.get("datasource") or panel.get("datasource"), variables_kind)
            expr = substitute(target["expr"], variables)
            instant = target.get("instant", False) or target.get("queryType") == "instant" or target.get("format") == "table"
            count, error = run_query(base, kind, expr, instant)
            if error:
                failures += 1
                print("FAIL %s: %s: %s\n     %s" % (path, title, error, expr))
            results.append((expr, count or 0))
        if all(count == 0 for _, count in results):
            failures += 1
            print("FAIL %s: %s: no data from %s" % (path, title, [expr for expr, _ in results]))
        else:
            print("ok   %s: %s: %s series" % (path, title, "+".join(str(count) for _, count in results)))
            for expr, count in results:
                if count == 0:
                    print("     (empty here: %s)" % expr)
    return failures


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    failures = sum(check(sys.argv[1].rstrip("/"), path) for path in sys.argv[2:])
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
