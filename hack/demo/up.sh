#!/usr/bin/env bash
# `make demo`: the whole mission on one machine. Builds what is needed, starts the local control plane
# (hack/cluster/up.sh) with Traefik in front, installs the CRD, runs the operator, applies the demo
# RealtimeCluster and prints the URL of the chat served through the ingress. `make demo-down` stops it all.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLUSTER_DIR="${CLUSTER_DIR:-${REPO_ROOT}/bin/cluster}"
TRAEFIK_PORT="${TRAEFIK_PORT:-8080}"
export CLUSTER_DIR TRAEFIK_PORT
cd "${REPO_ROOT}"
log() { echo "demo: $*" >&2; }

hack/install-deps.sh demo
log "building the operator and the runtime (the chat page and its socket.io-client bundle are built in)"
make --no-print-directory build build-operator >&2

eval "$(hack/cluster/up.sh)"
KUBECTL="$(hack/cluster/k8s-binaries.sh)/kubectl"
log "starting Traefik on 127.0.0.1:${TRAEFIK_PORT}"
echo "$(hack/traefik/run.sh "${CLUSTER_DIR}") traefik" >> "${CLUSTER_DIR}/pids"

log "installing the CRD and the IngressClass, starting the operator"
"${KUBECTL}" apply --server-side -f config/crd/bases/ >/dev/null
"${KUBECTL}" apply -f hack/demo/ingressclass.yaml >/dev/null
"${KUBECTL}" wait --for condition=Established crd/realtimeclusters.realtime.socketfleet.io --timeout=60s >/dev/null
# The operator runs as a host process with the cluster's kubeconfig (as `make run` does in kubebuilder projects);
# in a real cluster it is the Deployment of config/manager or the Helm chart.
bin/socketfleet-operator --leader-elect=false --metrics-bind-address 0 --health-probe-bind-address 127.0.0.1:18081 \
  --runtime-image socketfleet/runtime:dev --fleet-poll-interval 3s > "${CLUSTER_DIR}/logs/operator.log" 2>&1 &
echo "$! socketfleet-operator" >> "${CLUSTER_DIR}/pids"

log "applying the demo RealtimeCluster"
"${KUBECTL}" create namespace demo --dry-run=client -o yaml | "${KUBECTL}" apply -f - >/dev/null
"${KUBECTL}" apply -f hack/demo/realtimecluster.yaml >/dev/null
"${KUBECTL}" wait --for condition=Ready realtimecluster/chat -n demo --timeout=180s >/dev/null
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://localhost:${TRAEFIK_PORT}/socket.io/?EIO=4&transport=polling" && break
  sleep 0.3
done

cat <<MSG

Socketfleet demo is running: a local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler built from source), pods run as processes by test/process-node, Traefik in front.

  Chat (open it in two browser windows):  http://localhost:${TRAEFIK_PORT}/

  export KUBECONFIG=${KUBECONFIG}
  alias kubectl=${KUBECTL}
  kubectl get rtc -n demo                                  # replicas, connections, endpoint
  kubectl get pods -n demo -o wide                         # runtime pods + managed Redis, pod IPs
  kubectl scale rtc chat -n demo --replicas 4              # scale up: new pods, then rebalancing
  kubectl scale rtc chat -n demo --replicas 1              # scale down: least-loaded pods drain first
  kubectl patch rtc chat -n demo --type merge -p '{"spec":{"image":"socketfleet/runtime:v2"}}'  # rolling upgrade
  kubectl get events -n demo --sort-by=.lastTimestamp      # what the operator did

Logs: ${CLUSTER_DIR}/logs   Stop everything: make demo-down
MSG
