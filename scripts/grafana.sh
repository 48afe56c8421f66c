#!/usr/bin/env bash
# Replays what Grafana's Prometheus, Loki, Tempo, Jaeger, Zipkin and Alertmanager data sources send
# (../shared/grafana/replay.py) against the built obs-agent on a fresh data folder, seeding data
# first; fails on any failed check. The agent scrapes itself and evaluates a recording and an
# alerting rule, which the embedded Alertmanager receives, so the rules, alerts and alert-group
# views have something to read.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${OBS_SHARED:-../shared}
if [[ ! -d "$shared" ]]; then
  echo "grafana replay: skipped: no shared kit at $shared (replay.py lives there; set OBS_SHARED to its folder)"
  exit 0
fi
bin=$(swift build --show-bin-path)/obs-agent
[[ -x "$bin" ]] || { echo "grafana: $bin is not built" >&2; exit 1; }
data=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
cat >"$data/agent.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: obs-agent
    static_configs: [{targets: ["127.0.0.1:$port"]}]
alertmanager:
  route:
    receiver: default
    group_by: [alertname]
    group_wait: 1s
  receivers:
    - name: default
EOF
cat >"$data/rules.yml" <<'EOF'
groups:
  - name: agent
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: AgentUp
        expr: up == 1
        labels: {severity: info}
        annotations: {summary: "{{ $labels.instance }} is up"}
EOF
"$bin" --config.file "$data/agent.yml" --storage.path "$data/data" --web.listen-address "127.0.0.1:$port" >"$data/agent.log" 2>&1 &
agent=$!
trap 'kill $agent 2>/dev/null; wait $agent 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
# Until the first evaluations have run.
sleep 3
out=$data/replay.txt
base="http://127.0.0.1:$port"
python3 "$shared/grafana/replay.py" --base-url "$base" --jaeger-url "$base/jaeger" --zipkin-url "$base/zipkin" --otlp-url "$base" \
  --kinds prometheus,loki,tempo,jaeger,zipkin,alertmanager --seed >"$out" 2>&1 || true
grep -E "^(FAIL|SKIP)|alerting:" "$out" || true
summary=$(tail -n 1 "$out")
echo "grafana replay: $summary"
[[ "$summary" =~ ^[0-9]+\ passed,\ 0\ failed ]] || { cat "$out"; exit 1; }
