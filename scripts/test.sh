#!/usr/bin/env bash
# Installs what the tests need and runs the whole test suite. The integration tests start the real
# obs-agent and obsctl binaries, so everything is built before the tests run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build
# Every fuzz seed and every input that once crashed a target, replayed through the plain build.
scripts/fuzz-replay.sh
# Prometheus's PromQL test files against the built daemon; fails below the recorded pass floor.
scripts/conformance.sh
# What Grafana's data sources send, replayed against the daemon.
scripts/grafana.sh
