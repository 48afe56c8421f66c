#!/usr/bin/env bash
# Restart-to-ready time of one or more obs-agent binaries on the same data directory, alternating
# between them so that disk caches and machine noise fall on each alike.
#   bench/restart_time.sh DATADIR CONFIG RUNS BINARY [BINARY ...]
# Prints one line per start: the binary and the seconds from exec to the first 200 of /-/ready.
set -euo pipefail
data=$1 config=$2 runs=$3
shift 3
port=19778
for ((run = 1; run <= runs; run++)); do
  for binary in "$@"; do
    "$binary" --config.file="$config" --storage.path="$data" --web.listen-address=127.0.0.1:$port >/dev/null 2>&1 &
    pid=$!
    start=$(date +%s%N)
    until curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null; do sleep 0.02; done
    end=$(date +%s%N)
    echo "$binary $(( (end - start) / 1000000 )) ms"
    kill -TERM $pid
    wait $pid || true
  done
done
