#!/usr/bin/env bash
# Installs what is missing, builds obs-agent in release mode and runs it. With no arguments it uses
# the embedded default configuration: data in ./data, listening on 127.0.0.1:9090, scraping itself.
# Extra arguments are passed to obs-agent (see `obs-agent --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# A statically linked runtime starts faster and keeps idle memory lower (see BENCHMARKS.md),
# and the binary runs in a container image without the Swift runtime.
swift build -c release --static-swift-stdlib --product obs-agent
swift build -c release --static-swift-stdlib --product obsctl
exec .build/release/obs-agent "$@"
