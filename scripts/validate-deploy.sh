#!/usr/bin/env bash
# Checks deploy/: every manifest in deploy/kubernetes against the Kubernetes schemas, strictly
# (unknown fields are errors), offline with kubernetes-validate; checkov, which must report no failed
# check (the few a node agent needs are skipped in the manifests, each with its reason); hadolint on
# the Containerfile; and that the image copies every library the binary links (scripts/check-image-libraries.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
failed=0
for manifest in deploy/kubernetes/*.yaml; do
  [[ $(basename "$manifest") == kustomization.yaml ]] && continue
  if ! python3 -m kubernetes_validate --strict --quiet "$manifest"; then
    echo "validate-deploy: $manifest does not validate"
    failed=1
  fi
done
report=$(python3 -m checkov.main -d deploy/kubernetes --framework kubernetes --skip-download --compact --quiet 2>&1) || true
summary=$(grep -E "Passed checks: [0-9]+, Failed checks: [0-9]+" <<<"$report" || true)
echo "validate-deploy: kubernetes-validate done; checkov: ${summary:-no summary}"
if [[ -z "$summary" || ! "$summary" =~ "Failed checks: 0," ]]; then
  echo "$report"
  failed=1
fi
# pip puts hadolint in the interpreter's (or the user's) scripts folder, which may not be on PATH.
hadolint=$(command -v hadolint || true)
for dir in "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')" "$(python3 -m site --user-base)/bin"; do
  [[ -z "$hadolint" && -x "$dir/hadolint" ]] && hadolint=$dir/hadolint
done
if [[ -z "$hadolint" ]]; then
  echo "validate-deploy: hadolint not found"
  failed=1
elif ! "$hadolint" --no-color deploy/Containerfile; then
  failed=1
else
  echo "validate-deploy: hadolint: no findings"
fi
scripts/check-image-libraries.sh || failed=1
exit $failed
