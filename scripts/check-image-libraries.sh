#!/usr/bin/env bash
# Checks deploy/Containerfile's runtime without a container engine:
#  - the daemon's modules never import Foundation (FoundationEssentials only, through ObsCore):
#    Foundation links ICU's 34 MB of data into the binary;
#  - RUNTIME_LIBRARIES, the libraries the image copies, holds every library the binary links (by
#    ldd; Swift's own libraries are left out, as the image's release build links them statically);
#  - given a release binary (statically linked Swift runtime) and root, the binary starts in a root
#    holding only it, those libraries and the loader, and answers `--help` as obs-agent and as obsctl.
#   scripts/check-image-libraries.sh [BIN_DIR]   (default: the debug build's)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-$(swift build --show-bin-path)}
failed=0

if grep -rnE '^\s*(@_exported\s+)?import\s+Foundation(Networking|Internationalization|XML)?\s*$' Sources --include='*.swift' \
    | grep -vE '^Sources/(ObsFuzz|obs-bench)/|^Sources/ObsCore/Platform\.swift:'; then
  echo "check-image-libraries: the lines above import Foundation into the daemon; import ObsCore (FoundationEssentials) instead"
  failed=1
fi

libraries=$(sed -n 's/^ARG RUNTIME_LIBRARIES="\(.*\)"$/\1/p' deploy/Containerfile)
[[ -n "$libraries" ]] || { echo "check-image-libraries: no RUNTIME_LIBRARIES in deploy/Containerfile"; exit 1; }
while read -r library; do
  case "$library" in linux-vdso.so.*|*ld-linux-*|libswift*|libFoundation*|lib_Foundation*|libdispatch.so|libBlocksRuntime.so) continue ;; esac
  if ! tr ' ' '\n' <<<"$libraries" | grep -qxF "$library"; then
    echo "check-image-libraries: obs-agent links $library, which RUNTIME_LIBRARIES does not copy"
    failed=1
  fi
done < <(ldd "$bin/obs-agent" | awk '{print $1}')

if ! ldd "$bin/obs-agent" | grep -q libswiftCore && [[ $(id -u) == 0 ]]; then
  root=$(mktemp -d)
  trap 'umount "$root/proc" 2>/dev/null || true; rm -rf "$root"' EXIT
  mkdir -p "$root/lib/x86_64-linux-gnu" "$root/lib64" "$root/usr/local/bin" "$root/tmp" "$root/proc"
  for library in $libraries; do cp -L "/lib/x86_64-linux-gnu/$library" "$root/lib/x86_64-linux-gnu/"; done
  cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
  install -s "$bin/obs-agent" "$root/usr/local/bin/obs-agent"  # stripped, as the image installs it
  ln -s obs-agent "$root/usr/local/bin/obsctl"
  # A container runtime mounts /proc; Swift reads the command line from it.
  if mount -t proc proc "$root/proc" 2>/dev/null; then
    for name in obs-agent obsctl; do
      if ! timeout 20 chroot "$root" "/usr/local/bin/$name" --help >"$root/tmp/out" 2>&1 || ! grep -q "^USAGE: $name" "$root/tmp/out"; then
        echo "check-image-libraries: $name does not start with only the image's libraries:"
        cat "$root/tmp/out"
        failed=1
      fi
    done
    [[ $failed == 0 ]] && echo "check-image-libraries: the release binary starts as obs-agent and as obsctl with only RUNTIME_LIBRARIES ($(du -sk --exclude=proc "$root" | cut -f1) KiB in all)"
  else
    echo "check-image-libraries: cannot mount /proc here; the release binary was not started"
  fi
fi
[[ $failed == 0 ]] && echo "check-image-libraries: no Foundation import in the daemon; RUNTIME_LIBRARIES covers every library obs-agent links"
exit $failed
