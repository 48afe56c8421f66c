#!/usr/bin/env python3
"""Checks deploy/grafana/ against a live agent: each provisioned data source, with OBS_AGENT_URL set
to the agent, answers the request Grafana's "Save & test" makes for its kind (as
../shared/grafana/CONTRACT.md describes them); every data source a correlation names is provisioned;
the dashboard provider reads files from one folder.

Usage: check-grafana-provisioning.py AGENT_URL DATASOURCES.yaml DASHBOARDS.yaml
"""
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

import yaml


def interpolate(text, environment):
    # Grafana's provisioning: $NAME or ${NAME} from the environment, $$ for a literal dollar.
    return re.sub(r"\$\$|\$\{(\w+)\}|\$(\w+)",
                  lambda m: "$" if m.group(0) == "$$" else environment.get(m.group(1) or m.group(2), ""), text)


def get(url, data=None):
    request = urllib.request.Request(url, data=data.encode() if data else None)
    if data:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def save_and_test(source):
    url = source["url"].rstrip("/")
    kind = source["type"]
    if kind == "prometheus":
        status, body = get(url + "/api/v1/query", "query=1%2B1&time=4")
        return status == 200 and json.loads(body)["data"]["result"][1] == "2", "%d %s" % (status, body[:200])
    if kind == "loki":
        status, body = get(url + "/loki/api/v1/query?" + urllib.parse.urlencode(
            {"query": "vector(1)+vector(1)", "time": "4000000000", "direction": "backward"}))
        result = json.loads(body).get("data", {}).get("result", []) if status == 200 else []
        ok = status == 200 and (len(result) == 1 and result[0]["value"][1] == "2" or (isinstance(result, list) and result[1:2] == ["2"]))
        return ok, "%d %s" % (status, body[:200])
    if kind == "tempo":
        status, body = get(url + "/api/echo")
        return status == 200, "%d %s" % (status, body[:200])
    if kind == "jaeger":
        status, body = get(url + "/api/services")
        return status == 200 and isinstance(json.loads(body).get("data"), list), "%d %s" % (status, body[:200])
    if kind == "zipkin":
        status, body = get(url + "/api/v2/services")
        return status == 200, "%d %s" % (status, body[:200])
    if kind == "alertmanager":
        mimir, _ = get(url + "/alertmanager/api/v2/status")
        status, body = get(url + "/api/v2/status")
        return mimir != 200 and status == 200, "%d %d %s" % (mimir, status, body[:200])
    return False, "no check for type %r" % kind


def referenced_uids(value):
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "datasourceUid":
                yield item
            else:
                yield from referenced_uids(item)
    elif isinstance(value, list):
        for item in value:
            yield from referenced_uids(item)


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    agent, datasources_path, dashboards_path = sys.argv[1:]
    failures = 0
    with open(datasources_path) as f:
        config = yaml.safe_load(interpolate(f.read(), {"OBS_AGENT_URL": agent.rstrip("/")}))
    sources = config["datasources"]
    uids = {source["uid"] for source in sources}
    if len(uids) != len(sources) or len({s["name"] for s in sources}) != len(sources):
        failures += 1
        print("FAIL data source names or uids repeat")
    if sum(1 for s in sources if s.get("isDefault")) != 1:
        failures += 1
        print("FAIL exactly one data source must be the default")
    kinds = sorted(s["type"] for s in sources)
    if kinds != sorted(["prometheus", "loki", "tempo", "jaeger", "zipkin", "alertmanager"]):
        failures += 1
        print("FAIL kinds provisioned: %s" % kinds)
    for source in sources:
        ok, detail = save_and_test(source)
        print("%s %s (%s at %s): %s" % ("ok  " if ok else "FAIL", source["name"], source["type"], source["url"], detail if not ok else "save & test passes"))
        failures += 0 if ok else 1
        for uid in referenced_uids(source.get("jsonData", {})):
            if uid not in uids:
                failures += 1
                print("FAIL %s refers to data source %r, which is not provisioned" % (source["name"], uid))
    with open(dashboards_path) as f:
        providers = yaml.safe_load(f)["providers"]
    for provider in providers:
        if provider.get("type") != "file" or not provider.get("options", {}).get("path"):
            failures += 1
            print("FAIL dashboard provider %r must read files from a path" % provider.get("name"))
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
