#!/usr/bin/env bash
# Checks, without a container engine, that deploy/Containerfile's runtime stage installs every shared
# library the binaries link: each library ldd lists is owned (dpkg -S) by a package the stage
# installs, or by libc6, which debian:bookworm-slim has. The Swift runtime libraries are left out:
# the image's release build links them statically. Uses the built binaries (debug by default).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-$(swift build --show-bin-path)}
packages=$(awk '/^# runtime-packages:/ {on=1} on && /apt-get install/ {grab=1} grab {print} grab && !/\\$/ {exit}' deploy/Containerfile \
  | tr ' \\' '\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vE '^(apt-get|install|rm|update)$' | sort -u)
missing=0
# The image ships obs-agent alone (obsctl is a link to it).
for binary in obs-agent; do
  while read -r library path; do
    case "$library" in linux-vdso.so.*|ld-linux-*|libswift*|libFoundation*|lib_Foundation*|libdispatch.so|libBlocksRuntime.so) continue ;; esac
    owner=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1 || true)
    if [[ -z "$owner" ]]; then
      real=$(readlink -f "$path")
      owner=$(dpkg -S "$real" 2>/dev/null | head -1 | cut -d: -f1 || true)
    fi
    if [[ "$owner" != libc6 ]] && ! grep -qx "$owner" <<<"$packages"; then
      echo "check-image-libraries: $binary links $library ($path, package ${owner:-unknown}), which the runtime stage does not install"
      missing=1
    fi
  done < <(ldd "$bin/$binary" | awk '/=>/ {print $1, $3}')
done
[[ $missing == 0 ]] && echo "check-image-libraries: every library the binaries link is installed by the runtime stage"
exit $missing
