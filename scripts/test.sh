#!/usr/bin/env bash
# Installs what the tests need and runs the whole test suite. The integration tests start the real
# obs-agent and obsctl binaries, so everything is built before the tests run. Each phase prints how
# long it took.
set -euo pipefail
cd "$(dirname "$0")/.."

phase() {
  local name="$1"
  shift
  local start
  start=$(date +%s)
  "$@"
  echo "phase $name: $(( $(date +%s) - start ))s"
}

phase dependencies scripts/install-deps.sh
phase build swift build --build-tests
phase tests swift test --skip-build
# Every fuzz seed and every input that once crashed a target, replayed through the plain build.
phase fuzz-replay scripts/fuzz-replay.sh
# Each fuzz target for 20,000 inputs from a fixed seed under libFuzzer with AddressSanitizer, from the
# seed corpora (FUZZING.md has the long campaigns).
phase fuzz env FUZZ_RUNS=20000 FUZZ_TIMEOUT=10 FUZZ_WORK=.build-fuzz/ci scripts/fuzz.sh
# Prometheus's PromQL test files against the built daemon; fails below the recorded pass floor.
phase conformance scripts/conformance.sh
# What Grafana's data sources send, replayed against the daemon.
phase grafana scripts/grafana.sh
# The Kubernetes manifests: strict schemas and checkov.
phase deploy scripts/validate-deploy.sh
