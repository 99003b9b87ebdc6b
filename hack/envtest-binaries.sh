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

# staging_version maps v1.37.2 to v0.37.2, the version the k8s.io staging modules are tagged with.
staging_version() { echo "v0.${1#v1.}"; }

build_kube_apiserver() {
  local dir="${WORK}/kube-apiserver-${KUBE_VERSION}"
  local staging
  staging="$(staging_version "${KUBE_VERSION}")"
  mkdir -p "${dir}"
  log "building kube-apiserver ${KUBE_VERSION} from source in ${dir} (several minutes when cold)"
  (
    cd "${dir}"
    rm -f go.mod go.sum
    cat > go.mod <<MOD
module socketfleet.local/envtest-kube-apiserver

go 1.26

require k8s.io/kubernetes ${KUBE_VERSION}
MOD
    cat > tools.go <<'SRC'
//go:build tools

// Package tools pins the kube-apiserver command so `go build` can resolve it in this throwaway module.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
SRC
    GOFLAGS=-mod=mod "${GO}" mod download "k8s.io/kubernetes@${KUBE_VERSION}"
    local modfile
    modfile="$("${GO}" env GOMODCACHE)/k8s.io/kubernetes@${KUBE_VERSION}/go.mod"
    # k8s.io/kubernetes requires its staging modules at v0.0.0 with replace lines pointing into ./staging;
    # a consumer must replace each one with the released tag.
    local mod
    for mod in $(grep -E '=> \./staging' "${modfile}" | awk '{print $1}' | sort -u); do
      echo "replace ${mod} => ${mod} ${staging}" >> go.mod
    done
    local ldflags="-s -w"
    ldflags+=" -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION}"
    ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
    ldflags+=" -X k8s.io/component-base/version.gitMinor=$(echo "${KUBE_VERSION}" | cut -d. -f2)"
    ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
    ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=${KUBE_VERSION}"
    GOFLAGS=-mod=mod CGO_ENABLED=0 "${GO}" build -trimpath -ldflags "${ldflags}" \
      -o "${ASSETS}/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
    mv "${ASSETS}/kube-apiserver.tmp" "${ASSETS}/kube-apiserver"
  )
}

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
[[ -x "${ASSETS}/kube-apiserver" ]] || build_kube_apiserver
elapsed=$(( $(date +%s) - start ))
if (( elapsed > 1 )); then log "built in ${elapsed}s; cached in ${ASSETS}"; fi
echo "${ASSETS}"
