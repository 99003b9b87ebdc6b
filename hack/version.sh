#!/usr/bin/env bash
# The release version has one source: the VERSION file at the repository root (semver, no "v"). Every other file
# that repeats it is derived from it by this script:
#   - charts/socketfleet/Chart.yaml: version X, appVersion "vX" (the operator image tag defaults to appVersion);
#   - the image tags vX of ghcr.io/socketfleet/socketfleet-{operator,runtime} in the chart values, the kustomize
#     manifests (config/manager), the samples, the operator's default runtime image (cmd/operator) and the README;
#   - test/chart, which asserts what the chart renders.
#
#   hack/version.sh          check: exit 1 and show the difference if a file disagrees with VERSION (make verify)
#   hack/version.sh --write  rewrite the files from VERSION (make set-version VERSION=X.Y.Z)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
v="$(tr -d ' \n' < VERSION)"
[[ "$v" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] || { echo "VERSION: not a semantic version: '$v'" >&2; exit 1; }
semver='[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?'
images="s#(ghcr\.io/socketfleet/socketfleet-(operator|runtime)):v${semver}#\1:v${v}#g"

# file -> sed script (extended regular expressions)
declare -A rules=(
  [charts/socketfleet/Chart.yaml]="s#^version: .*#version: ${v}#; s#^appVersion: .*#appVersion: \"v${v}\"#"
  [charts/socketfleet/values.yaml]="$images"
  [config/manager/kustomization.yaml]="s#^(  newTag: ).*#\1v${v}#"
  [config/manager/manager.yaml]="$images"
  [config/samples/realtime_v1alpha1_realtimecluster_full.yaml]="$images"
  [cmd/operator/main.go]="$images"
  [README.md]="$images"
  [test/chart/chart_test.go]="$images"
)

write=false
[[ "${1:-}" == "--write" ]] && write=true
status=0
for f in "${!rules[@]}"; do
  want="$(sed -E "${rules[$f]}" "$f")"
  if [[ "$want" != "$(cat "$f")" ]]; then
    if $write; then
      printf '%s\n' "$want" > "$f"
      echo "version: $f set to $v" >&2
    else
      echo "version: $f disagrees with VERSION ($v); run make set-version VERSION=$v:" >&2
      diff <(cat "$f") <(printf '%s\n' "$want") >&2 || true
      status=1
    fi
  fi
done
exit $status
