# Sourced by the hack/ scripts that build Kubernetes commands from source (no binary download site is
# reachable from the build machines). Defines build_kube_command.
#
# build_kube_command NAME OUTDIR WORKROOT: builds k8s.io/kubernetes/cmd/NAME at ${KUBE_VERSION} into OUTDIR/NAME,
# in a throwaway module under WORKROOT that requires k8s.io/kubernetes and replaces every staging module
# (k8s.io/kubernetes requires them at v0.0.0 with replace lines into ./staging, which a consumer must replace
# with the released v0.x.y tags). The version ldflags make the binary report the real version.
# Needs KUBE_VERSION and GO set by the caller.

build_kube_command() {
  local name="$1" outdir="$2" dir="$3/${1}-${KUBE_VERSION}"
  local staging="v0.${KUBE_VERSION#v1.}"
  mkdir -p "${dir}" "${outdir}"
  echo "building ${name} ${KUBE_VERSION} from source in ${dir}" >&2
  (
    cd "${dir}"
    rm -f go.mod go.sum
    cat > go.mod <<MOD
module socketfleet.local/build-${name}

go 1.26

require k8s.io/kubernetes ${KUBE_VERSION}
MOD
    cat > tools.go <<SRC
//go:build tools

// Package tools pins the ${name} command so \`go build\` can resolve it in this throwaway module.
package tools

import _ "k8s.io/kubernetes/cmd/${name}"
SRC
    GOFLAGS=-mod=mod "${GO}" mod download "k8s.io/kubernetes@${KUBE_VERSION}" >&2
    local modfile mod
    modfile="$("${GO}" env GOMODCACHE)/k8s.io/kubernetes@${KUBE_VERSION}/go.mod"
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
      -o "${outdir}/${name}.tmp" "k8s.io/kubernetes/cmd/${name}" >&2
    mv "${outdir}/${name}.tmp" "${outdir}/${name}"
  )
}
