#!/usr/bin/env bash
# Builds the rest of a local control plane from source: kube-controller-manager, kube-scheduler and kubectl
# (kube-apiserver and etcd come from hack/envtest-binaries.sh). Cached in bin/k8s-<version>/; the first run
# takes about 4 minutes on 2 cores.
#
# Usage: hack/cluster/k8s-binaries.sh     # builds what is missing, prints the directory on stdout
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${REPO_ROOT}/bin/k8s-${KUBE_VERSION}"
GO="${GO:-go}"

# shellcheck source=../lib/kube-from-source.sh
source "${REPO_ROOT}/hack/lib/kube-from-source.sh"

for cmd in kube-controller-manager kube-scheduler kubectl; do
  [[ -x "${OUT}/${cmd}" ]] || build_kube_command "${cmd}" "${OUT}" "${REPO_ROOT}/bin/.build"
done
echo "${OUT}"
