#!/usr/bin/env bash
# Replays the fuzz seed corpora and saved regressions (Tests/Fuzz) through every target of the plain
# debug build of obs-fuzz: each input must be handled without a crash. Fast; runs with the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product obs-fuzz 2>&1 | grep -E "error|Build complete" || true
binary=.build/debug/obs-fuzz
failed=0
for target in $(ls Tests/Fuzz/corpus); do
  inputs=(Tests/Fuzz/corpus/"$target")
  [[ -d Tests/Fuzz/regressions/$target ]] && inputs+=(Tests/Fuzz/regressions/"$target")
  if ! SWIFT_BACKTRACE=enable=no OBS_FUZZ_TARGET="$target" "$binary" "${inputs[@]}" > /dev/null; then
    echo "fuzz replay: $target crashed on a saved input"
    failed=1
  fi
done
echo "fuzz replay: $(ls Tests/Fuzz/corpus | wc -l) targets, $(find Tests/Fuzz -type f | wc -l) inputs"
exit $failed
