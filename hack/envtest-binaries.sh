#!/usr/bin/env bash
# Builds the envtest control-plane binaries (kube-apiserver and etcd) from source with the Go toolchain,
# because no binary download site is reachable from the build machines. The binaries are cached under
# bin/envtest/k8s-<version>-etcd-<version>/ so only the first run pays for the build (~5 min on 2 cores).
#
# Usage: hack/envtest-binaries.sh            # builds if needed, prints the asset directory on stdout
#        KUBEBUILDER_ASSETS=$(hack/envtest-binaries.sh) go test ./test/envtest/...
#
# Environment:
#   KUBE_VERSION   Kubernetes release to build kube-apiserver from (default v1.37.2; staging modules use v0.x.y)
#   ETCD_VERSION   etcd release to build (default v3.6.5)
#   ENVTEST_BIN    root of the cache (default <repo>/bin/envtest)
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.5}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENVTEST_BIN="${ENVTEST_BIN:-${REPO_ROOT}/bin/envtest}"
ASSETS="${ENVTEST_BIN}/k8s-${KUBE_VERSION}-etcd-${ETCD_VERSION}"
WORK="${ENVTEST_BIN}/.build"
GO="${GO:-go}"

log() { echo "envtest-binaries: $*" >&2; }

# shellcheck source=lib/kube-from-source.sh
source "${REPO_ROOT}/hack/lib/kube-from-source.sh"

build_etcd() {
  local dir="${WORK}/etcd-${ETCD_VERSION}"
  mkdir -p "${dir}"
  log "building etcd ${ETCD_VERSION} from source in ${dir}"
  (
    cd "${dir}"
    rm -f go.mod go.sum
    cat > go.mod <<MOD
module socketfleet.local/envtest-etcd

go 1.26

require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}
MOD
    cat > tools.go <<'SRC'
//go:build tools

// Package tools pins the etcd server command so `go build` can resolve it in this throwaway module.
package tools

import _ "go.etcd.io/etcd/server/v3"
SRC
    GOFLAGS=-mod=mod CGO_ENABLED=0 "${GO}" build -trimpath -ldflags "-s -w" \
      -o "${ASSETS}/etcd.tmp" go.etcd.io/etcd/server/v3
    mv "${ASSETS}/etcd.tmp" "${ASSETS}/etcd"
  )
}

mkdir -p "${ASSETS}" "${WORK}"
start=$(date +%s)
[[ -x "${ASSETS}/etcd" ]] || build_etcd
[[ -x "${ASSETS}/kube-apiserver" ]] || build_kube_command kube-apiserver "${ASSETS}" "${WORK}"
elapsed=$(( $(date +%s) - start ))
if (( elapsed > 1 )); then log "built in ${elapsed}s; cached in ${ASSETS}"; fi
echo "${ASSETS}"
