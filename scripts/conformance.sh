#!/usr/bin/env bash
# Runs Prometheus's own PromQL test files (../shared/conformance/promql) against the built obs-agent
# and the project's own Tests/PromQL scripts, and promtool's rule unit-test fixtures with `obsctl test rules`,
# and fails when fewer cases pass than the floor recorded in Tests/Conformance/promql-floor.txt.
# The v2.42 files run in Prometheus 2 compatibility mode; the current files in the default mode.
# Blocks are 24h, as in Prometheus's own test storage, because later `load`s go back in time.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${OBS_SHARED:-../shared}
if [[ ! -d "$shared" ]]; then
  echo "conformance: skipped: no shared kit at $shared (Prometheus's PromQL test files and the rule unit-test fixtures live there; set OBS_SHARED to its folder)"
  exit 0
fi
runner=$shared/conformance/promql/run.py
python3 -c 'import cramjam' 2>/dev/null || python3 -c 'import snappy' 2>/dev/null \
  || { echo "conformance: no snappy binding for python3; run scripts/install-deps.sh" >&2; exit 1; }

bin=$(swift build --show-bin-path)/obs-agent
[[ -x "$bin" ]] || { echo "conformance: $bin is not built" >&2; exit 1; }
server="$bin --web.listen-address=127.0.0.1:{port} --storage.path={datadir} --config.file={config}"
server+=" --storage.tsdb.retention.time=100y --storage.tsdb.min-block-duration=24h"
status=0
while read -r suite floor flags; do
  [[ -z "$suite" || "$suite" == \#* ]] && continue
  out=$(mktemp)
  # Suites under Tests/ are the project's own; the others are the shared Prometheus files.
  if [[ "$suite" == Tests/* ]]; then dir=$suite; else dir=$shared/conformance/promql/$suite; fi
  python3 "$runner" --testdata "$dir" --server-cmd "$server $flags" -j 2 \
    --json "${CONFORMANCE_JSON_DIR:-/tmp}/promql-${suite//\//-}.json" >"$out" 2>&1 || true
  summary=$(tail -n 1 "$out")
  passed=${summary%% passed*}
  if ! [[ "$passed" =~ ^[0-9]+$ ]]; then
    cat "$out"
    echo "conformance $suite: no result line" >&2
    status=1
  elif ((passed < floor)); then
    grep -E '^\S+\.test ' "$out" || true
    echo "conformance $suite: $summary — below the floor of $floor passed" >&2
    status=1
  else
    echo "conformance $suite: $summary (floor $floor)"
  fi
  rm -f "$out"
done <Tests/Conformance/promql-floor.txt

# promtool's rule unit-test fixtures: `obsctl test rules` must reach promtool's verdict on every one.
obsctl=$(swift build --show-bin-path)/obsctl
[[ -x "$obsctl" ]] || { echo "conformance: $obsctl is not built" >&2; exit 1; }
out=$(mktemp)
if python3 "$shared/conformance/rules/run.py" --cmd "$obsctl test rules {file}" --variants >"$out" 2>&1; then
  echo "conformance rules: $(tail -n 1 "$out")"
else
  cat "$out"
  echo "conformance rules: below 100%" >&2
  status=1
fi
rm -f "$out"
exit $status
