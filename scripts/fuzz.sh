#!/usr/bin/env bash
# Fuzzes every target (or those named) with libFuzzer for SECONDS each, two at a time, starting from
# the seed corpora in Tests/Fuzz/corpus. A crash, a leak, an input taking over a second, or memory
# past 2 GB fails the run; the input that did it is copied to Tests/Fuzz/regressions/<target>/, which
# the plain replay (scripts/test.sh) then runs on every test run.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# With FUZZ_RUNS=N each target instead runs N inputs from a fixed seed, the same on every machine
# (what the test command does, so a run's verdict does not depend on the machine's speed).
# FUZZ_TIMEOUT is the seconds one input may take before it counts as a hang (default 1).
# FUZZ_WORK names the folder for the growing corpora (default .build-fuzz/runs).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
scratch=.build-fuzz
work="${FUZZ_WORK:-$scratch/runs}"
if [[ -n "${FUZZ_RUNS:-}" ]]; then
  limit=(-runs="$FUZZ_RUNS" -seed=1)
else
  limit=(-max_total_time="$seconds")
fi
export FUZZ_LIMIT="${limit[*]}"

start=$(date +%s)
swift build --product obs-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library --scratch-path "$scratch" 2>&1 \
  | grep -E "error|warning: unre|Compiling ObsFuzz|Build complete" || true
binary="$scratch/debug/obs-fuzz"
[[ -x "$binary" ]] || { echo "fuzzer build failed"; exit 1; }
echo "fuzzer build: $(( $(date +%s) - start ))s"

targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(ls Tests/Fuzz/corpus)
fi

run_one() {
  local target="$1" seconds="$2" binary="$3" work="$4"
  local corpus="$work/$target/corpus" artifacts="$work/$target/artifacts/"
  mkdir -p "$corpus" "$artifacts"
  cp -n Tests/Fuzz/corpus/"$target"/* "$corpus"/ 2>/dev/null || true
  [[ -d Tests/Fuzz/regressions/$target ]] && cp -n Tests/Fuzz/regressions/"$target"/* "$corpus"/ 2>/dev/null || true
  local status=0
  # shellcheck disable=SC2086
  SWIFT_BACKTRACE=enable=no OBS_FUZZ_TARGET="$target" "$binary" "$corpus" \
    $FUZZ_LIMIT -timeout="${FUZZ_TIMEOUT:-1}" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$artifacts" > "$work/$target/log" 2>&1 || status=$?
  local execs
  execs=$(grep -m1 'stat::number_of_executed_units' "$work/$target/log" | awk '{print $2}')
  local peak
  peak=$(grep -m1 'stat::peak_rss_mb' "$work/$target/log" | awk '{print $2}')
  if ((status != 0)); then
    mkdir -p Tests/Fuzz/regressions/"$target"
    cp "$artifacts"* Tests/Fuzz/regressions/"$target"/ 2>/dev/null || true
    echo "FAIL $target (exit $status) execs=${execs:-?}: see $work/$target/log"
    grep -m3 -E "ERROR|SUMMARY|Test unit written" "$work/$target/log" || true
    return 1
  fi
  echo "ok   $target execs=${execs:-?} peak_rss_mb=${peak:-?}"
}
export -f run_one

failed=0
printf '%s\n' "${targets[@]}" | xargs -P 2 -I{} bash -c 'run_one "$@"' _ {} "$seconds" "$binary" "$work" || failed=1
echo "fuzzing: $(( $(date +%s) - start ))s in all"
exit $failed
